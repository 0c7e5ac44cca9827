package proxy_test

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

// TestApplyListenerErrors: a listener that cannot run makes Apply fail with a
// *proxy.ListenerError naming it (so that the xDS client can leave it out), and nothing
// changes.
func TestApplyListenerErrors(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	running := f.srv.Config()

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	routes := &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "b"}}}
	tests := []struct {
		name     string
		listener *config.Listener
		want     string
	}{
		{"port in use", &config.Listener{Name: "busy", Address: taken.Addr().String(), Codec: testcodec.Name, Routes: routes}, "address already in use"},
		{"address change", &config.Listener{Name: "test", Address: "127.0.0.2:0", Codec: testcodec.Name, Routes: routes}, "changing the address"},
		{"unknown codec", &config.Listener{Name: "odd", Address: "127.0.0.1:0", Codec: "nosuch", Routes: routes}, `unknown codec "nosuch"`},
		{"bad filter", &config.Listener{Name: "filtered", Address: "127.0.0.1:0", Codec: testcodec.Name, Routes: routes,
			Filters: []config.Filter{{Name: "no-such-filter"}}}, `filter "no-such-filter"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.srv.Apply(&config.Bootstrap{Listeners: []*config.Listener{tt.listener}, Clusters: running.Clusters})
			var le *proxy.ListenerError
			if !errors.As(err, &le) || le.Listener != tt.listener.Name || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply: %v; want a ListenerError for %q saying %q", err, tt.listener.Name, tt.want)
			}
			if f.srv.Config() != running || f.srv.ListenerAddr("test") == nil {
				t.Fatal("a failed Apply changed the running configuration")
			}
		})
	}
}

// TestApplyMovesRoutesBeforeRemovingClusters: routes move from cluster "old" to "new" and
// "old" is removed in the same Apply, over and over, while a client keeps requests in
// flight: no request may find its route's cluster gone.
func TestApplyMovesRoutesBeforeRemovingClusters(t *testing.T) {
	oldB, newB := testbackend.Start(t, "old"), testbackend.Start(t, "new")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "old"}}, cluster("old", oldB.Addr()))
	listener := f.srv.Config().Listeners[0]
	configFor := func(name, addr string) *config.Bootstrap {
		l := *listener
		l.Routes = &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: name}}}
		return &config.Bootstrap{Listeners: []*config.Listener{&l}, Clusters: []*config.Cluster{cluster(name, addr)}}
	}

	const clients, window, requests = 4, 32, 40_000
	var stop atomic.Bool
	var answered, lost atomic.Int64
	var firstLoss atomic.Value
	var wg sync.WaitGroup
	for range clients {
		c := testbackend.Dial(t, f.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Keep window requests in flight: send one more for each answer.
			for id := range uint64(window) {
				c.Send('Q', id, nil, "x")
			}
			for id := uint64(window); !stop.Load(); id++ {
				resp := c.Recv()
				answered.Add(1)
				if resp.Type != protocol.Response {
					lost.Add(1)
					firstLoss.CompareAndSwap(nil, testcodec.Payload(resp))
				}
				c.Send('Q', id, nil, "x")
			}
			for range window {
				c.Recv()
			}
		}()
	}
	deadline := time.Now().Add(time.Minute) // a failure deadline only
	// Apply until the clients have had their share of answers, letting a few requests
	// through between updates, so that many requests meet many updates.
	for i := 0; answered.Load() < requests; i++ {
		name, addr := "old", oldB.Addr()
		if i%2 == 0 {
			name, addr = "new", newB.Addr()
		}
		if err := f.srv.Apply(configFor(name, addr)); err != nil {
			t.Fatal(err)
		}
		for next := answered.Load() + clients; answered.Load() < next; {
			if time.Now().After(deadline) {
				t.Fatalf("clients stopped getting answers (%d so far)", answered.Load())
			}
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := lost.Load(); n > 0 {
		t.Fatalf("%d requests failed while clusters changed; the first: %v", n, firstLoss.Load())
	}
}

// TestRemovedClusterLeavesAfterAGrace: a cluster the configuration drops stays for the
// requests old listener chains are still routing, then goes.
func TestRemovedClusterLeavesAfterAGrace(t *testing.T) {
	oldB, newB := testbackend.Start(t, "old"), testbackend.Start(t, "new")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "old"}}, cluster("old", oldB.Addr()))
	l := *f.srv.Config().Listeners[0]
	l.Routes = &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "new"}}}
	if err := f.srv.Apply(&config.Bootstrap{Listeners: []*config.Listener{&l}, Clusters: []*config.Cluster{cluster("new", newB.Addr())}}); err != nil {
		t.Fatal(err)
	}
	if f.srv.Clusters().Get("old") == nil {
		t.Fatal("the dropped cluster is gone at once; requests routed by the previous chain would not find it")
	}
	deadline := time.Now().Add(30 * time.Second) // a failure deadline only
	for f.srv.Clusters().Get("old") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the dropped cluster is never removed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := f.srv.Config().Clusters; len(got) != 1 || got[0].Name != "new" {
		t.Errorf("running configuration lists clusters %v", got)
	}
}
