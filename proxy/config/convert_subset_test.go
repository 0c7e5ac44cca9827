package config

import (
	"reflect"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/structpb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
)

type lbSubset = clusterv3.Cluster_LbSubsetConfig
type lbSelector = clusterv3.Cluster_LbSubsetConfig_LbSubsetSelector

func TestFromClusterSubsetConfig(t *testing.T) {
	c := staticCluster()
	c.LbSubsetConfig = &lbSubset{
		FallbackPolicy: clusterv3.Cluster_LbSubsetConfig_DEFAULT_SUBSET,
		DefaultSubset:  mustStruct(t, map[string]any{"version": "v1", "canary": false}),
		SubsetSelectors: []*lbSelector{
			{Keys: []string{"version"}},
			{Keys: []string{"zone", "version"}},
			{Keys: []string{"version", "zone"}}, // the same set: kept once
		},
	}
	got, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	want := &SubsetConfig{
		Selectors:     [][]string{{"version"}, {"version", "zone"}},
		Fallback:      FallbackDefaultSubset,
		DefaultSubset: map[string]string{"version": "v1", "canary": "false"},
	}
	if !reflect.DeepEqual(got.Subsets, want) {
		t.Fatalf("got %+v, want %+v", got.Subsets, want)
	}

	c.LbSubsetConfig = &lbSubset{FallbackPolicy: clusterv3.Cluster_LbSubsetConfig_ANY_ENDPOINT, SubsetSelectors: []*lbSelector{{Keys: []string{"version"}}}}
	if got, err = FromCluster(c); err != nil || got.Subsets.Fallback != FallbackAnyEndpoint {
		t.Fatalf("ANY_ENDPOINT: %+v, %v", got.Subsets, err)
	}
	c.LbSubsetConfig = nil
	if got, err = FromCluster(c); err != nil || got.Subsets != nil {
		t.Fatalf("no lb_subset_config: %+v, %v", got.Subsets, err)
	}
}

func TestFromClusterSubsetConfigErrors(t *testing.T) {
	sel := []*lbSelector{{Keys: []string{"version"}}}
	for _, tc := range []struct {
		lsc  *lbSubset
		want string
	}{
		{&lbSubset{}, `lb_subset_config.subset_selectors: at least one selector is required`},
		{&lbSubset{SubsetSelectors: []*lbSelector{{}}}, `lb_subset_config.subset_selectors[0].keys: at least one key is required`},
		{&lbSubset{SubsetSelectors: []*lbSelector{{Keys: []string{"a", ""}}}}, `lb_subset_config.subset_selectors[0].keys: keys must not be empty`},
		{&lbSubset{SubsetSelectors: []*lbSelector{{Keys: []string{"a", "a"}}}}, `lb_subset_config.subset_selectors[0].keys: key "a" is listed twice`},
		{&lbSubset{SubsetSelectors: []*lbSelector{{Keys: []string{"a"}, SingleHostPerSubset: true}}}, `lb_subset_config.subset_selectors[0].single_host_per_subset: not supported by Breeze`},
		{&lbSubset{SubsetSelectors: []*lbSelector{{Keys: []string{"a"}, FallbackPolicy: clusterv3.Cluster_LbSubsetConfig_LbSubsetSelector_ANY_ENDPOINT}}},
			`lb_subset_config.subset_selectors[0].fallback_policy: ANY_ENDPOINT is not supported by Breeze (only NOT_DEFINED: the cluster's fallback_policy applies)`},
		{&lbSubset{SubsetSelectors: []*lbSelector{{Keys: []string{"a"}, FallbackKeysSubset: []string{"a"}}}}, `lb_subset_config.subset_selectors[0].fallback_keys_subset: not supported by Breeze`},
		{&lbSubset{SubsetSelectors: sel, LocalityWeightAware: true}, `lb_subset_config.locality_weight_aware: not supported by Breeze`},
		{&lbSubset{SubsetSelectors: sel, PanicModeAny: true}, `lb_subset_config.panic_mode_any: not supported by Breeze`},
		{&lbSubset{SubsetSelectors: sel, ListAsAny: true}, `lb_subset_config.list_as_any: not supported by Breeze`},
		{&lbSubset{SubsetSelectors: sel, MetadataFallbackPolicy: clusterv3.Cluster_LbSubsetConfig_FALLBACK_LIST},
			`lb_subset_config.metadata_fallback_policy: FALLBACK_LIST is not supported by Breeze (only METADATA_NO_FALLBACK)`},
		{&lbSubset{SubsetSelectors: sel, DefaultSubset: &structpb.Struct{}},
			`lb_subset_config.default_subset: applies to fallback_policy DEFAULT_SUBSET, but the cluster's is NO_FALLBACK`},
		{&lbSubset{SubsetSelectors: sel, FallbackPolicy: clusterv3.Cluster_LbSubsetConfig_DEFAULT_SUBSET,
			DefaultSubset: &structpb.Struct{Fields: map[string]*structpb.Value{"v": structpb.NewListValue(&structpb.ListValue{})}}},
			`lb_subset_config.default_subset.v: label values must be strings, numbers or booleans`},
	} {
		c := staticCluster()
		c.LbSubsetConfig = tc.lsc
		_, err := FromCluster(c)
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("got %v, want ...%s", err, tc.want)
		}
	}
}

func lbMetadata(t *testing.T, labels map[string]any) *mpv1.Metadata {
	return &mpv1.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.lb": mustStruct(t, labels)}}
}

func TestFromRouteMetadataMatch(t *testing.T) {
	r := clusterRoute("r", "backend")
	r.Route.MetadataMatch = lbMetadata(t, map[string]any{"version": "v1"})
	split := &mpv1.Route{Name: "split", Route: &mpv1.RouteAction{
		MetadataMatch: lbMetadata(t, map[string]any{"version": "v1", "zone": "a"}),
		ClusterSpecifier: &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{Clusters: []*mpv1.ClusterWeight{
			{Name: "a", Weight: 20},
			{Name: "b", Weight: 80, MetadataMatch: lbMetadata(t, map[string]any{"version": 2})},
		}}},
	}}
	table, err := FromRouteConfiguration(&mpv1.RouteConfiguration{Routes: []*mpv1.Route{r, split}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := table.Routes[0].MetadataMatch, NewMetadataMatch(map[string]string{"version": "v1"}); !reflect.DeepEqual(got, want) {
		t.Errorf("route: got %+v, want %+v", got, want)
	}
	ws := table.Routes[1].WeightedClusters
	if got, want := ws[0].MetadataMatch, NewMetadataMatch(map[string]string{"version": "v1", "zone": "a"}); !reflect.DeepEqual(got, want) {
		t.Errorf("weighted a (the route's): got %+v, want %+v", got, want)
	}
	if got, want := ws[1].MetadataMatch, NewMetadataMatch(map[string]string{"version": "2", "zone": "a"}); !reflect.DeepEqual(got, want) {
		t.Errorf("weighted b (merged): got %+v, want %+v", got, want)
	}

	for _, tc := range []struct {
		md   *mpv1.Metadata
		want string
	}{
		{&mpv1.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio": mustStruct(t, map[string]any{"a": "b"})}},
			`route.metadata_match.filter_metadata.istio: only the "envoy.lb" namespace selects endpoints`},
		{lbMetadata(t, map[string]any{"v": map[string]any{}}), `route.metadata_match.filter_metadata["envoy.lb"].v: label values must be strings, numbers or booleans`},
	} {
		r := clusterRoute("r", "backend")
		r.Route.MetadataMatch = tc.md
		_, err := FromRouteConfiguration(&mpv1.RouteConfiguration{Routes: []*mpv1.Route{r}})
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("got %v, want ...%s", err, tc.want)
		}
	}

	// One cluster, listed once per subset: allowed; twice with the same subset: refused.
	weighted := func(a, b *mpv1.Metadata) *mpv1.RouteConfiguration {
		return &mpv1.RouteConfiguration{Routes: []*mpv1.Route{{Route: &mpv1.RouteAction{
			ClusterSpecifier: &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{Clusters: []*mpv1.ClusterWeight{
				{Name: "g", Weight: 20, MetadataMatch: a}, {Name: "g", Weight: 80, MetadataMatch: b},
			}}}}}}}
	}
	if _, err := FromRouteConfiguration(weighted(lbMetadata(t, map[string]any{"version": "v1"}), lbMetadata(t, map[string]any{"version": "v2"}))); err != nil {
		t.Errorf("one cluster, two subsets: %v", err)
	}
	_, err = FromRouteConfiguration(weighted(lbMetadata(t, map[string]any{"version": "v1"}), lbMetadata(t, map[string]any{"version": "v1"})))
	if want := `routes[0].route.weighted_clusters.clusters[1].name: cluster "g" with the same metadata_match is already listed at clusters[0]`; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("same subset twice: %v, want ...%s", err, want)
	}
	if _, err = FromRouteConfiguration(weighted(nil, nil)); err == nil || !strings.Contains(err.Error(), "already listed") {
		t.Errorf("same cluster twice without subsets: %v", err)
	}
}

// TestSubsetKeyIsUnambiguous: label sets that concatenate to the same text have different
// keys.
func TestSubsetKeyIsUnambiguous(t *testing.T) {
	a := NewMetadataMatch(map[string]string{"ab": "c"})
	b := NewMetadataMatch(map[string]string{"a": "bc"})
	c := NewMetadataMatch(map[string]string{"a": "b", "c": ""})
	if a.Key == b.Key || b.Key == c.Key || a.Key == c.Key {
		t.Fatalf("keys clash: %q %q %q", a.Key, b.Key, c.Key)
	}
	if NewMetadataMatch(nil) != nil {
		t.Fatal("an empty match is not nil")
	}
}
