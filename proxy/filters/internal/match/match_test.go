package match_test

import (
	"strings"
	"testing"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filters/internal/match"
)

func md(kv ...string) *protocol.Metadata {
	var m protocol.Metadata
	for i := 0; i < len(kv); i += 2 {
		m.Set(kv[i], kv[i+1])
	}
	return &m
}

func TestMatchesLikeARoute(t *testing.T) {
	m, err := match.Compile("match", &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{
		{Name: "interface", MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: "org.example.Greeter"}},
		{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_Prefix{Prefix: "say"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		md   *protocol.Metadata
		want bool
	}{
		{md("interface", "org.example.Greeter", "method", "sayHello"), true},
		{md("interface", "org.example.Greeter", "method", "bye"), false},
		{md("method", "sayHello"), false},
	} {
		if got := m.Matches(tc.md); got != tc.want {
			t.Errorf("Matches(%v) = %v, want %v", tc.md.All(), got, tc.want)
		}
	}
	all, err := match.Compile("match", nil)
	if err != nil || !all.Matches(md()) {
		t.Fatalf("nil match: %v, matches empty metadata: %v", err, err == nil && all.Matches(md()))
	}
}

func TestCompileErrorNamesTheField(t *testing.T) {
	_, err := match.Compile("conditions[2].match", &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{
		{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_SafeRegex{SafeRegex: "("}},
	}})
	if err == nil || !strings.HasPrefix(err.Error(), "conditions[2].match.metadata[0].safe_regex: ") {
		t.Fatalf("err = %v", err)
	}
}
