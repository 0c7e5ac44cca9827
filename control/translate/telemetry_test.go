package translate_test

import (
	"slices"
	"strings"
	"testing"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/translate"
)

// TestTelemetrySwitch: with Telemetry on, every listener ends its filters with
// metadata_exchange and istio_stats, before the rate limits on inbound listeners (so that
// refused requests are counted); with it off, listeners carry only what the MetaRouters
// ask for.
func TestTelemetrySwitch(t *testing.T) {
	gc, m, _ := loadCase(t, "testdata/ratelimit")
	off := translate.ProxyFeatures
	off.Telemetry = false
	telemetry := []string{translate.MetadataExchangeFilter, translate.IstioStatsFilter}
	limits := []string{translate.LocalRateLimitFilter, translate.GlobalRateLimitFilter}
	seen := 0
	for _, p := range gc.Proxies {
		p.ApplyDefaults()
		on := filterNames(t, translate.ForProxy(m, &p, translate.ProxyFeatures))
		without := filterNames(t, translate.ForProxy(m, &p, off))
		for name, got := range on {
			want := telemetry
			if strings.HasPrefix(name, "inbound|") {
				want = append(slices.Clone(telemetry), without[name]...)
				if len(without[name]) == 0 {
					t.Errorf("proxy %s, listener %s: no rate-limit filters; the case is meant to have them", p.ID, name)
				}
				for _, f := range without[name] {
					if !slices.Contains(limits, f) {
						t.Errorf("proxy %s, listener %s: filter %s without telemetry, want only rate limits", p.ID, name, f)
					}
				}
			} else if len(without[name]) != 0 {
				t.Errorf("proxy %s, listener %s: filters %v with telemetry off, want none", p.ID, name, without[name])
			}
			if !slices.Equal(got, want) {
				t.Errorf("proxy %s, listener %s: filters %v, want %v", p.ID, name, got, want)
			}
			seen++
		}
	}
	if seen == 0 {
		t.Fatal("no listeners translated")
	}
}

// filterNames returns each listener's meta_protocol_filters names, in order.
func filterNames(t *testing.T, res *translate.Resources) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, l := range res.Listeners {
		mp := &mpv1.MetaProtocolProxy{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(mp); err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, f := range mp.GetMetaProtocolFilters() {
			names = append(names, f.GetName())
		}
		out[l.GetName()] = names
	}
	return out
}
