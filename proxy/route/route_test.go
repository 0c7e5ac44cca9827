package route

import (
	"regexp"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
)

func md(kv ...string) *protocol.Metadata {
	var m protocol.Metadata
	for i := 0; i < len(kv); i += 2 {
		m.Set(kv[i], kv[i+1])
	}
	return &m
}

func TestMatch(t *testing.T) {
	table := NewTable(&config.RouteTable{Name: "t", Routes: []*config.Route{
		{Name: "v2", Match: []config.Matcher{{Key: "version", Kind: config.MatchExact, Value: "2.0.0"}}, Cluster: "v2"},
		{Name: "hi", Match: []config.Matcher{{Key: "method", Kind: config.MatchPrefix, Value: "sayHi"}, {Key: "env", Kind: config.MatchExact, Value: "test", Invert: true}}, Cluster: "hi"},
		{Name: "re", Match: []config.Matcher{{Key: "method", Kind: config.MatchRegex, Value: "^get[A-Z]", Regex: regexp.MustCompile("^get[A-Z]")}}, Cluster: "re"},
		{Name: "suffix", Match: []config.Matcher{{Key: "interface", Kind: config.MatchSuffix, Value: ".Admin"}}, Cluster: "admin"},
		{Name: "contains", Match: []config.Matcher{{Key: "interface", Kind: config.MatchContains, Value: "legacy"}}, Cluster: "legacy"},
		{Name: "tagged", Match: []config.Matcher{{Key: "x-tag", Kind: config.MatchPresent}}, Cluster: "tagged"},
	}})
	tests := []struct {
		name string
		md   *protocol.Metadata
		want string
	}{
		{"exact", md("version", "2.0.0"), "v2"},
		{"exact is not prefix", md("version", "2.0.01"), ""},
		{"prefix", md("method", "sayHiThere"), "hi"},
		{"inverted condition fails", md("method", "sayHi", "env", "test"), ""},
		{"inverted condition holds when absent", md("method", "sayHi"), "hi"},
		{"regex", md("method", "getUser"), "re"},
		{"regex no match", md("method", "getuser"), ""},
		{"suffix", md("interface", "com.x.Admin"), "admin"},
		{"contains", md("interface", "com.legacy.Foo"), "legacy"},
		{"present, case-insensitive key", md("X-Tag", ""), "tagged"},
		{"first match wins", md("version", "2.0.0", "method", "sayHi"), "v2"},
		{"nothing", md("method", "other"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if r := table.Match(tt.md); r != nil {
				got = r.Cluster
			}
			if got != tt.want {
				t.Fatalf("Match = %q, want %q", got, tt.want)
			}
		})
	}
	if d := table.Describe(md("method", "x")); d != "version=<absent>, method=x, env=<absent>, interface=<absent>, x-tag=<absent>" {
		t.Fatalf("Describe = %q", d)
	}
}

func TestPickClusterWeights(t *testing.T) {
	r := NewTable(&config.RouteTable{Routes: []*config.Route{{
		WeightedClusters: []config.WeightedCluster{{Name: "a", Weight: 20}, {Name: "b", Weight: 80}, {Name: "never", Weight: 0}},
	}}}).Routes[0]
	counts := map[string]int{}
	const n = 20000
	for range n {
		counts[r.PickCluster()]++
	}
	// Binomial(20000, 0.2): sd ≈ 57; 6 sd either side fails by chance about once in 10^9 runs.
	if a := counts["a"]; a < 4000-340 || a > 4000+340 {
		t.Fatalf("a picked %d of %d times, want 4000±340", a, n)
	}
	if counts["never"] != 0 {
		t.Fatalf("zero-weight cluster picked %d times", counts["never"])
	}
}

// TestPickDestinationCarriesMetadataMatch: the destination comes with the route's
// metadata_match, or the weighted cluster's own.
func TestPickDestinationCarriesMetadataMatch(t *testing.T) {
	v1 := config.NewMetadataMatch(map[string]string{"version": "v1"})
	v2 := config.NewMetadataMatch(map[string]string{"version": "v2"})
	table := NewTable(&config.RouteTable{Routes: []*config.Route{
		{Cluster: "c", MetadataMatch: v1},
		{WeightedClusters: []config.WeightedCluster{{Name: "a", Weight: 1, MetadataMatch: v1}, {Name: "b", Weight: 1, MetadataMatch: v2}}},
		{Cluster: "plain"},
	}})
	if name, mm := table.Routes[0].PickDestination(); name != "c" || mm != v1 {
		t.Errorf("single cluster: %s %v", name, mm)
	}
	seen := map[string]bool{}
	for range 200 {
		name, mm := table.Routes[1].PickDestination()
		if (name == "a") != (mm == v1) || (name == "b") != (mm == v2) {
			t.Fatalf("weighted: %s got match %v", name, mm)
		}
		seen[name] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("weighted picks: %v", seen) // 2^-199 by chance
	}
	if name, mm := table.Routes[2].PickDestination(); name != "plain" || mm != nil {
		t.Errorf("no match: %s %v", name, mm)
	}
}

func BenchmarkMatch(b *testing.B) {
	table := NewTable(&config.RouteTable{Routes: []*config.Route{
		{Match: []config.Matcher{{Key: "version", Kind: config.MatchExact, Value: "2.0.0"}}, Cluster: "v2"},
		{Match: []config.Matcher{{Key: "method", Kind: config.MatchPrefix, Value: "sayHi"}}, Cluster: "hi"},
		{Match: []config.Matcher{{Key: "interface", Kind: config.MatchExact, Value: "org.apache.dubbo.sample.Greeter"}}, Cluster: "v1"},
	}})
	m := md("dubbo", "2.0.2", "interface", "org.apache.dubbo.sample.Greeter", "method", "sayHello", "version", "1.0.0", "timeout", "3000")
	b.ReportAllocs()
	for b.Loop() {
		if table.Match(m) == nil {
			b.Fatal("no match")
		}
	}
}
