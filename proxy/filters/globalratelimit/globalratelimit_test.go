package globalratelimit_test

import (
	"strings"
	"testing"
	"time"

	grlv1 "github.com/breeze-mesh/breeze/api/filters/globalratelimit/v1alpha1"
	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/globalratelimit"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The decisions of a working service are tested end to end against envoyproxy/ratelimit
// (test/e2e/policy_globalratelimit_test.go); here the service is down, which needs no peer.

const listener = "inbound|20880||"

// start runs a proxy with the filter in front of a real server; the service the filter
// calls is a closed port.
func start(t *testing.T, cfg *grlv1.GlobalRateLimit) (*proxytest.Proxy, *proxytest.Client) {
	t.Helper()
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: listener, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: globalratelimit.Name, Config: cfg}},
			Routes:  &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "greeter"}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("greeter", server.Addr())},
	})
	return p, proxytest.Dial(t, p.Listener(t, listener))
}

func downService(t *testing.T, deny bool) *grlv1.GlobalRateLimit {
	return &grlv1.GlobalRateLimit{
		Domain: "test", RateLimitService: proxytest.ClosedPort(t), DenyOnFail: deny,
		RequestTimeout: durationpb.New(5 * time.Second),
		Descriptors:    []*grlv1.Descriptor{{Property: "method", DescriptorKey: "method"}},
	}
}

// TestFailOpenAndDenyOnFail: with the service unreachable, requests pass by default and get
// the over-limit error with deny_on_fail; requests the descriptors cannot describe, or the
// match does not select, are not checked at all.
func TestFailOpenAndDenyOnFail(t *testing.T) {
	p, c := start(t, downService(t, false))
	if r := c.MustCall(t, map[string]string{"method": "sayHello"}); r.Error {
		t.Errorf("fail open: got %+v, want the server's answer", r)
	}
	if got := p.Scrape(t).Counter("breeze_global_rate_limit_requests_total", map[string]string{"decision": "error_allowed"}); got != 1 {
		t.Errorf("error_allowed = %v, want 1", got)
	}

	cfg := downService(t, true)
	cfg.Match = &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{Name: "interface", MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: "org.example.Greeter"}}}}
	p, c = start(t, cfg)
	if r := c.MustCall(t, map[string]string{"interface": "org.example.Greeter", "method": "sayHello"}); !r.Error || r.Metadata["error-kind"] != "over_limit" {
		t.Errorf("deny_on_fail: got %+v, want an over_limit error", r)
	}
	if r := c.MustCall(t, map[string]string{"interface": "org.example.Greeter"}); r.Error {
		t.Errorf("request without the descriptor's property: got %+v, want it unchecked", r)
	}
	if r := c.MustCall(t, map[string]string{"interface": "org.example.Other", "method": "sayHello"}); r.Error {
		t.Errorf("request outside the match: got %+v, want it unchecked", r)
	}
	if got := p.Scrape(t).Counter("breeze_global_rate_limit_requests_total", map[string]string{"decision": "error_denied"}); got != 1 {
		t.Errorf("error_denied = %v, want 1", got)
	}
}

// TestREADMEExampleLoads runs the README's example through the bootstrap loader.
func TestREADMEExampleLoads(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	proxytest.StartProxy(t, proxytest.LoadBootstrap(t, listener, proxytest.ExampleFilters(t, "README.md"), server.Addr()))
}

func TestConfigErrors(t *testing.T) {
	valid := func() *grlv1.GlobalRateLimit {
		return &grlv1.GlobalRateLimit{Domain: "d", RateLimitService: "127.0.0.1:8081",
			Descriptors: []*grlv1.Descriptor{{Property: "method", DescriptorKey: "method"}}}
	}
	for _, tc := range []struct {
		name   string
		change func(*grlv1.GlobalRateLimit)
		want   string
	}{
		{"domain", func(c *grlv1.GlobalRateLimit) { c.Domain = "" }, "domain: required"},
		{"service", func(c *grlv1.GlobalRateLimit) { c.RateLimitService = "" }, "rate_limit_service: required"},
		{"descriptors", func(c *grlv1.GlobalRateLimit) { c.Descriptors = nil }, "descriptors: at least one"},
		{"property", func(c *grlv1.GlobalRateLimit) { c.Descriptors[0].Property = "" }, "descriptors[0].property: required"},
		{"key", func(c *grlv1.GlobalRateLimit) { c.Descriptors[0].DescriptorKey = "" }, "descriptors[0].descriptor_key: required"},
		{"timeout", func(c *grlv1.GlobalRateLimit) { c.RequestTimeout = durationpb.New(0) }, "request_timeout: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.change(cfg)
			_, err := filter.Build(globalratelimit.Name, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := filter.Build(globalratelimit.Name, nil); err == nil {
		t.Fatal("a missing config was accepted")
	}
}
