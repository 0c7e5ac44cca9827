package config

import (
	"maps"
	"slices"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/structpb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
)

// Subset load balancing: a cluster's lb_subset_config and a route's metadata_match, read
// the way Envoy reads them. Endpoint labels are Endpoint.Labels (convert.go).

// subsetConfig converts lb_subset_config. What Breeze does not implement is refused, not
// ignored: a setting that would silently balance differently from Envoy is worse than an
// error.
func (c converter) subsetConfig(path string, lsc *clusterv3.Cluster_LbSubsetConfig) (*SubsetConfig, error) {
	if lsc == nil {
		return nil, nil
	}
	refuse := func(field string, set bool) error {
		if set {
			return c.errorf(join(path, field), "not supported by Breeze")
		}
		return nil
	}
	for _, err := range []error{
		refuse("locality_weight_aware", lsc.GetLocalityWeightAware()),
		refuse("scale_locality_weight", lsc.GetScaleLocalityWeight()),
		refuse("panic_mode_any", lsc.GetPanicModeAny()),
		refuse("list_as_any", lsc.GetListAsAny()),
	} {
		if err != nil {
			return nil, err
		}
	}
	if p := lsc.GetMetadataFallbackPolicy(); p != clusterv3.Cluster_LbSubsetConfig_METADATA_NO_FALLBACK {
		return nil, c.errorf(join(path, "metadata_fallback_policy"), "%s is not supported by Breeze (only METADATA_NO_FALLBACK)", p)
	}
	out := &SubsetConfig{}
	switch p := lsc.GetFallbackPolicy(); p {
	case clusterv3.Cluster_LbSubsetConfig_NO_FALLBACK:
		out.Fallback = FallbackNone
	case clusterv3.Cluster_LbSubsetConfig_ANY_ENDPOINT:
		out.Fallback = FallbackAnyEndpoint
	case clusterv3.Cluster_LbSubsetConfig_DEFAULT_SUBSET:
		out.Fallback = FallbackDefaultSubset
	default:
		return nil, c.errorf(join(path, "fallback_policy"), "%s is not supported by Breeze (supported: NO_FALLBACK, ANY_ENDPOINT, DEFAULT_SUBSET)", p)
	}
	if ds := lsc.GetDefaultSubset(); ds != nil {
		if out.Fallback != FallbackDefaultSubset {
			return nil, c.errorf(join(path, "default_subset"), "applies to fallback_policy DEFAULT_SUBSET, but the cluster's is %s", out.Fallback)
		}
		var err error
		if out.DefaultSubset, err = c.labelStruct(join(path, "default_subset"), ds); err != nil {
			return nil, err
		}
	}

	sels := lsc.GetSubsetSelectors()
	if len(sels) == 0 {
		// Envoy turns subset balancing off without selectors; a config that sets
		// lb_subset_config surely meant something else.
		return nil, c.errorf(join(path, "subset_selectors"), "at least one selector is required")
	}
	seen := map[string]int{}
	for i, sel := range sels {
		sp := index(join(path, "subset_selectors"), i)
		if sel.GetSingleHostPerSubset() {
			return nil, c.errorf(join(sp, "single_host_per_subset"), "not supported by Breeze")
		}
		if p := sel.GetFallbackPolicy(); p != clusterv3.Cluster_LbSubsetConfig_LbSubsetSelector_NOT_DEFINED {
			return nil, c.errorf(join(sp, "fallback_policy"), "%s is not supported by Breeze (only NOT_DEFINED: the cluster's fallback_policy applies)", p)
		}
		if len(sel.GetFallbackKeysSubset()) > 0 {
			return nil, c.errorf(join(sp, "fallback_keys_subset"), "not supported by Breeze")
		}
		if len(sel.GetKeys()) == 0 {
			return nil, c.errorf(join(sp, "keys"), "at least one key is required")
		}
		keys := slices.Clone(sel.GetKeys())
		slices.Sort(keys)
		for j, k := range keys {
			if k == "" {
				return nil, c.errorf(join(sp, "keys"), "keys must not be empty")
			}
			if j > 0 && keys[j-1] == k {
				return nil, c.errorf(join(sp, "keys"), "key %q is listed twice", k)
			}
		}
		// The same key set twice makes the same subsets: keep one.
		id := SubsetKey(keys, nil)
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = i
		out.Selectors = append(out.Selectors, keys)
	}
	return out, nil
}

// metadataMatch converts a metadata_match: the labels of filter_metadata["envoy.lb"].
func (c converter) metadataMatch(path string, md *mpv1.Metadata) (map[string]string, error) {
	if md == nil {
		return nil, nil
	}
	fp := join(path, "filter_metadata")
	for _, ns := range slices.Sorted(maps.Keys(md.GetFilterMetadata())) {
		if ns != LabelsNamespace {
			return nil, c.errorf(mapKey(fp, ns), "only the %q namespace selects endpoints", LabelsNamespace)
		}
	}
	return c.labelStruct(mapKey(fp, LabelsNamespace), md.GetFilterMetadata()[LabelsNamespace])
}

// labelStruct reads labels from a Struct whose values are strings, numbers or booleans.
func (c converter) labelStruct(path string, st *structpb.Struct) (map[string]string, error) {
	var out map[string]string
	for _, key := range slices.Sorted(maps.Keys(st.GetFields())) {
		if key == "" {
			return nil, c.errorf(path, "label keys must not be empty")
		}
		s, ok := labelValue(st.GetFields()[key])
		if !ok {
			return nil, c.errorf(mapKey(path, key), "label values must be strings, numbers or booleans")
		}
		if out == nil {
			out = make(map[string]string, len(st.GetFields()))
		}
		out[key] = s
	}
	return out, nil
}

// labelValue is a label's text: endpoint labels and the labels that select them are
// compared as text.
func labelValue(v *structpb.Value) (string, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue, true
	case *structpb.Value_NumberValue:
		return strconv.FormatFloat(k.NumberValue, 'f', -1, 64), true
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue), true
	}
	return "", false
}

// routeMetadataMatch sets the route's metadata_match and merges it into each weighted
// cluster's: a key a weighted cluster sets wins, as in Envoy.
func (c converter) routeMetadataMatch(path string, action *mpv1.RouteAction, out *Route) error {
	routeLabels, err := c.metadataMatch(join(path, "metadata_match"), action.GetMetadataMatch())
	if err != nil {
		return err
	}
	out.MetadataMatch = NewMetadataMatch(routeLabels)
	cws := action.GetWeightedClusters().GetClusters()
	seen := map[string]int{}
	for i := range out.WeightedClusters {
		wp := index(join(path, "weighted_clusters.clusters"), i)
		own, err := c.metadataMatch(join(wp, "metadata_match"), cws[i].GetMetadataMatch())
		if err != nil {
			return err
		}
		w := &out.WeightedClusters[i]
		w.MetadataMatch = out.MetadataMatch
		if own != nil {
			merged := maps.Clone(routeLabels)
			if merged == nil {
				merged = make(map[string]string, len(own))
			}
			maps.Copy(merged, own)
			w.MetadataMatch = NewMetadataMatch(merged)
		}
		id := w.Name
		if w.MetadataMatch != nil {
			id += "\x00" + w.MetadataMatch.Key
		}
		if first, dup := seen[id]; dup {
			return c.errorf(join(wp, "name"), "cluster %q with the same metadata_match is already listed at clusters[%d]", w.Name, first)
		}
		seen[id] = i
	}
	return nil
}

// ownMetadataMatch reports whether a weighted cluster has a metadata_match of its own.
func ownMetadataMatch(cws []*mpv1.ClusterWeight) bool {
	for _, cw := range cws {
		if cw.GetMetadataMatch() != nil {
			return true
		}
	}
	return false
}
