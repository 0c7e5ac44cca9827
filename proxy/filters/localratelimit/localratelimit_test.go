package localratelimit_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	lrlv1 "github.com/breeze-mesh/breeze/api/filters/localratelimit/v1alpha1"
	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/istiostats"
	"github.com/breeze-mesh/breeze/proxy/filters/localratelimit"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const listener = "inbound|20880||"

// bucket is a bucket of n tokens that does not refill within a test.
func bucket(n uint32) *lrlv1.TokenBucket {
	return &lrlv1.TokenBucket{MaxTokens: n, TokensPerFill: wrapperspb.UInt32(1), FillInterval: durationpb.New(time.Hour)}
}

func methodIs(m string) *mpv1.RouteMatch {
	return &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: m}}}}
}

// start runs a proxy whose listener has the filter with cfg in front of a real server.
func start(t *testing.T, cfg *lrlv1.LocalRateLimit) (*proxytest.Proxy, *proxytest.Server) {
	t.Helper()
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: listener, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: localratelimit.Name, Config: cfg}},
			Routes:  &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "greeter"}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("greeter", server.Addr())},
	})
	return p, server
}

// burst sends n requests for method and counts the OK replies and the over-limit errors.
func burst(t *testing.T, c *proxytest.Client, method string, n int) (ok, limited int) {
	t.Helper()
	for range n {
		r := c.MustCall(t, map[string]string{"interface": "org.example.Greeter", "method": method})
		switch {
		case !r.Error:
			ok++
		case r.Metadata["error-kind"] == "over_limit":
			limited++
		default:
			t.Fatalf("unexpected error reply %+v", r)
		}
	}
	return ok, limited
}

// TestBurstGetsExactlyTheBucketPerCondition: with a default bucket of 3 and a bucket of 2 for
// sayHello, a burst of 5 of each lets exactly 3 and 2 through; the rest get the over-limit
// error and never reach the server; a method matching no condition uses the default bucket.
func TestBurstGetsExactlyTheBucketPerCondition(t *testing.T) {
	p, server := start(t, &lrlv1.LocalRateLimit{
		TokenBucket: bucket(3),
		Conditions:  []*lrlv1.LocalRateLimitCondition{{Match: methodIs("sayHello"), TokenBucket: bucket(2)}},
	})
	c := proxytest.Dial(t, p.Listener(t, listener))
	if ok, limited := burst(t, c, "sayHello", 5); ok != 2 || limited != 3 {
		t.Errorf("sayHello: %d ok, %d limited; want 2 and 3", ok, limited)
	}
	if ok, limited := burst(t, c, "bye", 5); ok != 3 || limited != 2 {
		t.Errorf("bye: %d ok, %d limited; want 3 and 2", ok, limited)
	}
	if got := len(server.Received()); got != 5 {
		t.Errorf("server received %d requests, want 5", got)
	}
	stats := p.Scrape(t)
	for decision, want := range map[string]float64{"ok": 5, "rate_limited": 5} {
		if got := stats.Counter("breeze_local_rate_limit_requests_total", map[string]string{"stat_prefix": listener, "decision": decision}); got != want {
			t.Errorf("%s = %v, want %v", decision, got, want)
		}
	}
}

// TestWithoutDefaultBucketUnmatchedRequestsPass limits only the condition's requests.
func TestWithoutDefaultBucketUnmatchedRequestsPass(t *testing.T) {
	p, _ := start(t, &lrlv1.LocalRateLimit{
		StatPrefix: "greeter",
		Conditions: []*lrlv1.LocalRateLimitCondition{{Match: methodIs("sayHello"), TokenBucket: bucket(1)}},
	})
	c := proxytest.Dial(t, p.Listener(t, listener))
	if ok, limited := burst(t, c, "bye", 4); ok != 4 || limited != 0 {
		t.Errorf("bye: %d ok, %d limited; want 4 and 0", ok, limited)
	}
	if ok, limited := burst(t, c, "sayHello", 3); ok != 1 || limited != 2 {
		t.Errorf("sayHello: %d ok, %d limited; want 1 and 2", ok, limited)
	}
	if got := p.Scrape(t).Counter("breeze_local_rate_limit_requests_total", map[string]string{"stat_prefix": "greeter", "decision": "rate_limited"}); got != 2 {
		t.Errorf("rate_limited = %v, want 2 (under the config's stat_prefix)", got)
	}
}

// TestREADMEExampleLoads runs the README's example through the bootstrap loader (allow-list
// included) and checks its sayHello bucket holds 10.
func TestREADMEExampleLoads(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, proxytest.LoadBootstrap(t, listener, proxytest.ExampleFilters(t, "README.md"), server.Addr()))
	c := proxytest.Dial(t, p.Listener(t, listener))
	md := map[string]string{"interface": "org.apache.dubbo.samples.basic.api.DemoService", "method": "sayHello"}
	ok := 0
	for range 12 {
		if !c.MustCall(t, md).Error {
			ok++
		}
	}
	// The bucket refills one token a second: a slow machine may see one more.
	if ok < 10 || ok > 11 {
		t.Errorf("%d of 12 passed, want 10 (11 if a second went by)", ok)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  any
		want string
	}{
		{"missing config", nil, "config is a <nil>"},
		{"no bucket", &lrlv1.LocalRateLimit{}, "token_bucket or conditions is required"},
		{"zero tokens", &lrlv1.LocalRateLimit{TokenBucket: &lrlv1.TokenBucket{FillInterval: durationpb.New(time.Second)}}, "token_bucket.max_tokens: must be at least 1"},
		{"zero per fill", &lrlv1.LocalRateLimit{TokenBucket: &lrlv1.TokenBucket{MaxTokens: 1, TokensPerFill: wrapperspb.UInt32(0), FillInterval: durationpb.New(time.Second)}}, "token_bucket.tokens_per_fill: must be at least 1"},
		{"no interval", &lrlv1.LocalRateLimit{TokenBucket: &lrlv1.TokenBucket{MaxTokens: 1}}, "token_bucket.fill_interval: required"},
		{"short interval", &lrlv1.LocalRateLimit{Conditions: []*lrlv1.LocalRateLimitCondition{{Match: methodIs("a"), TokenBucket: &lrlv1.TokenBucket{MaxTokens: 1, FillInterval: durationpb.New(time.Millisecond)}}}}, "conditions[0].token_bucket.fill_interval: must be at least 50ms"},
		{"condition without match", &lrlv1.LocalRateLimit{Conditions: []*lrlv1.LocalRateLimitCondition{{TokenBucket: bucket(1)}}}, "conditions[0].match: required"},
		{"condition without bucket", &lrlv1.LocalRateLimit{Conditions: []*lrlv1.LocalRateLimitCondition{{Match: methodIs("a")}}}, "conditions[0].token_bucket: required"},
		{"bad regex", &lrlv1.LocalRateLimit{Conditions: []*lrlv1.LocalRateLimitCondition{{
			Match:       &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_SafeRegex{SafeRegex: "("}}}},
			TokenBucket: bucket(1),
		}}}, "conditions[0].match.metadata[0].safe_regex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := filter.Build(localratelimit.Name, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestRefusalsAreFlaggedRL: istio_stats in front of the limit counts each refused request
// with Envoy's rate-limit flag RL, not UO (which the same over_limit reply means when a
// circuit breaker sends it).
func TestRefusalsAreFlaggedRL(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: listener, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{
				{Name: istiostats.Name, Config: &istiostatsv1.IstioStats{}},
				{Name: localratelimit.Name, Config: &lrlv1.LocalRateLimit{TokenBucket: bucket(2)}},
			},
			Routes: &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "greeter"}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("greeter", server.Addr())},
	})
	c := proxytest.Dial(t, p.Listener(t, listener))
	if ok, limited := burst(t, c, "sayHello", 5); ok != 2 || limited != 3 {
		t.Fatalf("%d passed and %d were limited, want 2 and 3", ok, limited)
	}
	// The client may read a reply before the proxy has counted it: poll.
	var m proxytest.Families
	proxytest.WaitFor(t, "the refusals counted", func() error {
		m = p.Scrape(t)
		if got := m.Counter("istio_requests_total", map[string]string{"response_code": "1"}); got != 3 {
			return fmt.Errorf("%v refusals counted, want 3", got)
		}
		return nil
	})
	if got := m.Counter("istio_requests_total", map[string]string{"response_flags": "RL"}); got != 3 {
		t.Errorf("istio_requests_total{response_flags=RL} = %v, want 3", got)
	}
	if got := m.Counter("istio_requests_total", map[string]string{"response_flags": "UO"}); got != 0 {
		t.Errorf("istio_requests_total{response_flags=UO} = %v, want 0", got)
	}
}
