package fault_test

import (
	"net"
	"strings"
	"testing"
	"time"

	faultv1 "github.com/breeze-mesh/breeze/api/filters/fault/v1alpha1"
	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/fault"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const listener = "inbound|20880||"

func methodIs(m string) *mpv1.RouteMatch {
	return &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: m}}}}
}

// start runs a proxy whose listener has a fault filter with cfg in front of a real server.
func start(t *testing.T, cfg *faultv1.Fault) (*proxytest.Proxy, *proxytest.Server) {
	t.Helper()
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: listener, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: fault.Name, Config: cfg}},
			Routes:  &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "greeter"}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("greeter", server.Addr())},
	})
	return p, server
}

// TestAbortAnswersWithTheCodecsError aborts every sayHello with an over-limit error; other
// methods pass, and no aborted request reaches the server.
func TestAbortAnswersWithTheCodecsError(t *testing.T) {
	p, server := start(t, &faultv1.Fault{
		Match: methodIs("sayHello"),
		Abort: &faultv1.Abort{ErrorKind: faultv1.ErrorKind_OVER_LIMIT, Message: "injected"},
	})
	c := proxytest.Dial(t, p.Listener(t, listener))
	for range 3 {
		r := c.MustCall(t, map[string]string{"method": "sayHello"})
		if !r.Error || r.Metadata["error-kind"] != "over_limit" || r.Payload != "injected" {
			t.Fatalf("sayHello got %+v, want an over_limit error saying injected", r)
		}
	}
	if r := c.MustCall(t, map[string]string{"method": "bye"}); r.Error {
		t.Fatalf("bye got %+v, want the server's answer", r)
	}
	if got := len(server.Received()); got != 1 {
		t.Errorf("server received %d requests, want only bye", got)
	}
	stats := p.Scrape(t)
	if got := stats.Counter("breeze_fault_injected_total", map[string]string{"stat_prefix": listener, "fault": "abort"}); got != 3 {
		t.Errorf("aborts counted %v, want 3", got)
	}
}

// TestPercentageInjectsAShare aborts half the requests: among 200, some are aborted and some
// pass (the chance of either being none is 2^-199). A percentage of 0 injects nothing.
func TestPercentageInjectsAShare(t *testing.T) {
	p, _ := start(t, &faultv1.Fault{Abort: &faultv1.Abort{Percentage: wrapperspb.Double(50)}})
	c := proxytest.Dial(t, p.Listener(t, listener))
	aborted := 0
	for range 200 {
		r := c.MustCall(t, map[string]string{"method": "sayHello"})
		if r.Error {
			if r.Metadata["error-kind"] != "internal" || r.Payload != fault.DefaultAbortMessage {
				t.Fatalf("abort reply %+v, want the default kind and message", r)
			}
			aborted++
		}
	}
	if aborted == 0 || aborted == 200 {
		t.Errorf("%d of 200 aborted at 50%%", aborted)
	}

	p, _ = start(t, &faultv1.Fault{Abort: &faultv1.Abort{Percentage: wrapperspb.Double(0)}})
	c = proxytest.Dial(t, p.Listener(t, listener))
	for range 20 {
		if r := c.MustCall(t, map[string]string{"method": "sayHello"}); r.Error {
			t.Fatalf("0%% abort injected %+v", r)
		}
	}
}

// TestDelayDoesNotHoldTheConnection delays "slow" requests; a "fast" request sent after a
// slow one on the same connection is answered first, and the slow one is then forwarded.
func TestDelayDoesNotHoldTheConnection(t *testing.T) {
	p, server := start(t, &faultv1.Fault{
		Match: methodIs("slow"),
		Delay: &faultv1.Delay{FixedDelay: durationpb.New(time.Second)},
	})
	conn, err := net.Dial("tcp", p.Listener(t, listener))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(append(testcodec.Frame('Q', 1, map[string]string{"method": "slow"}, "a"),
		testcodec.Frame('Q', 2, map[string]string{"method": "fast"}, "b")...)); err != nil {
		t.Fatal(err)
	}
	reg, err := protocol.Lookup(proxytest.Codec)
	if err != nil {
		t.Fatal(err)
	}
	fr := connio.NewFrameReader(conn, reg.New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20}), 1<<20)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for range 2 {
		var msg protocol.Message
		if err := fr.Next(&msg); err != nil {
			t.Fatal(err)
		}
		if msg.Type == protocol.Error {
			t.Fatalf("request %d got an error reply: %s", msg.RequestID, testcodec.Payload(&msg))
		}
		ids = append(ids, msg.RequestID)
	}
	if ids[0] != 2 || ids[1] != 1 {
		t.Errorf("replies in order %v, want the fast request (2) before the delayed one (1)", ids)
	}
	if got := len(server.Received()); got != 2 {
		t.Errorf("server received %d requests, want both", got)
	}
	if got := p.Scrape(t).Counter("breeze_fault_injected_total", map[string]string{"stat_prefix": listener, "fault": "delay"}); got != 1 {
		t.Errorf("delays counted %v, want 1", got)
	}
}

// TestREADMEExampleLoads runs the README's example through the bootstrap loader (allow-list
// included); requests the match does not select are untouched.
func TestREADMEExampleLoads(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, proxytest.LoadBootstrap(t, listener, proxytest.ExampleFilters(t, "README.md"), server.Addr()))
	c := proxytest.Dial(t, p.Listener(t, listener))
	if r := c.MustCall(t, map[string]string{"interface": "org.apache.dubbo.samples.basic.api.DemoService", "method": "bye"}); r.Error {
		t.Fatalf("unmatched request got %+v", r)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  any
		want string
	}{
		{"missing config", nil, "config is a <nil>"},
		{"no fault", &faultv1.Fault{}, "one of delay or abort is required"},
		{"no fixed delay", &faultv1.Fault{Delay: &faultv1.Delay{}}, "delay.fixed_delay: required"},
		{"negative delay", &faultv1.Fault{Delay: &faultv1.Delay{FixedDelay: durationpb.New(-time.Second)}}, "delay.fixed_delay: must be positive"},
		{"percentage", &faultv1.Fault{Abort: &faultv1.Abort{Percentage: wrapperspb.Double(101)}}, "abort.percentage: 101 is not between 0 and 100"},
		{"kind", &faultv1.Fault{Abort: &faultv1.Abort{ErrorKind: 42}}, "abort.error_kind: unknown kind 42"},
		{"match", &faultv1.Fault{Abort: &faultv1.Abort{}, Match: &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{Name: "method"}}}}, "match.metadata[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := filter.Build(fault.Name, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
