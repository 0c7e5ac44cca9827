package suggest

import "testing"

func TestClosest(t *testing.T) {
	fields := []string{"stat_prefix", "route_config", "codec", "meta_protocol_filters"}
	for name, want := range map[string]string{
		"statPrefix":              "stat_prefix", // another spelling style
		"stat_prefx":              "stat_prefix", // a typo
		"codek":                   "codec",
		"metaProtocolFilter":      "meta_protocol_filters",
		"listeners":               "", // nothing close
		string(make([]byte, 200)): "", // too long to be a typo
	} {
		if got := Closest(name, fields); got != want {
			t.Errorf("Closest(%q) = %q, want %q", name, got, want)
		}
	}
	if got := Closest("x", nil); got != "" {
		t.Errorf("Closest with no candidates = %q", got)
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"greeter", "greeter", 0}, {"ab", "ba", 2}} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSameName(t *testing.T) {
	if !SameName("stat_prefix", "StatPrefix") || SameName("stat_prefix", "statprefixes") {
		t.Error("SameName ignores only case and underscores")
	}
}
