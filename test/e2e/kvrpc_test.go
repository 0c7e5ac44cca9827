package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/kvrpc/kvwire"
)

// kvrpc scenarios: the tutorial's in-house protocol (docs/codec-tutorial.md), with its
// example server processes (examples/kvrpc/server) and kvwire clients, a breeze proxy
// process between them.

// exampleBinaries builds example commands on first use, next to the binaries TestMain
// built (and removes).
var exampleBinaries struct {
	mu    sync.Mutex
	built map[string]string
}

// exampleBinary returns the path of the command pkg, building it on first use.
func exampleBinary(t *testing.T, pkg string) string {
	t.Helper()
	exampleBinaries.mu.Lock()
	defer exampleBinaries.mu.Unlock()
	if path, ok := exampleBinaries.built[pkg]; ok {
		return path
	}
	path := filepath.Join(filepath.Dir(binaries.breeze), "kvrpc-"+filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	if exampleBinaries.built == nil {
		exampleBinaries.built = map[string]string{}
	}
	exampleBinaries.built[pkg] = path
	return path
}

// startKVServer starts an examples/kvrpc/server process called name on a free port and
// returns the port.
func startKVServer(t *testing.T, name string) int {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(exampleBinary(t, "github.com/breeze-mesh/breeze/examples/kvrpc/server"), "-name", name, "-addr", loopback(port))
	startChild(t, "kvrpc server "+name, cmd, "ready on")
	return port
}

// dialKV connects a kvwire client to addr, closed at the end of the test.
func dialKV(t *testing.T, addr string) *kvwire.Client {
	t.Helper()
	c, err := kvwire.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kvTimeout bounds every call: a failure deadline only.
const kvTimeout = 30 * time.Second

// TestKVRPCRouting: kvwire clients call through the proxy, which routes on the cmd header;
// the replies name the server that answered, the users route's header reaches the server
// (which echoes its request headers), an unrouted command gets the proxy's error reply, and
// the counters agree.
func TestKVRPCRouting(t *testing.T) {
	requireE2E(t)
	proxy := startProxy(t, "kvrpc.yaml", bootstrapPorts{V1: startKVServer(t, "users"), V2: startKVServer(t, "orders")})
	c := dialKV(t, proxy.addr)
	const calls = 5
	for i := range calls {
		body := "b" + strconv.Itoa(i)
		resp, err := c.Call("user.get", []kvwire.Header{{Key: "x-user", Value: "ann"}}, []byte(body), kvTimeout)
		wantHeaders := []kvwire.Header{{Key: "server", Value: "users"}, {Key: "cmd", Value: "user.get"}, {Key: "x-user", Value: "ann"}, {Key: "x-routed-by", Value: "breeze"}}
		if err != nil || string(resp.Body) != "users handled user.get("+body+")" || !reflect.DeepEqual(resp.Headers, wantHeaders) {
			t.Fatalf("user.get: %v, %+v; want users' reply with headers %v", err, resp, wantHeaders)
		}
		resp, err = c.Call("order.create", nil, []byte(body), kvTimeout)
		if err != nil || string(resp.Body) != "orders handled order.create("+body+")" || resp.Get("x-routed-by") != "" {
			t.Fatalf("order.create: %v, %+v; want orders' reply without x-routed-by", err, resp)
		}
	}
	_, err := c.Call("audit.read", nil, nil, kvTimeout)
	var remote *kvwire.RemoteError
	if !errors.As(err, &remote) || remote.Kind != "route_not_found" || remote.Text != "breeze: no route for request (cmd=audit.read)" {
		t.Errorf("unrouted call: %v; want the proxy's route_not_found reply", err)
	}
	for route, want := range map[string]float64{"users": calls, "orders": calls} {
		if got := proxy.counter(t, "breeze_route_requests_total", map[string]string{"listener": "kvrpc", "route": route}); got != want {
			t.Errorf("route %s counted %v requests, want %v", route, got, want)
		}
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"listener": "kvrpc", "kind": "route_not_found"}); got != 1 {
		t.Errorf("route_not_found replies = %v, want 1", got)
	}
}

// TestKVRPCClientsShareOneUpstreamConnection: clients keep many calls in flight each, with
// the same request ids; the proxy rewrites the ids to share one upstream connection, and
// every caller gets the answer to its own call.
func TestKVRPCClientsShareOneUpstreamConnection(t *testing.T) {
	requireE2E(t)
	relay := startRelay(t, loopback(startKVServer(t, "users")))
	proxy := startProxy(t, "kvrpc.yaml", bootstrapPorts{V1: relay.port(), V2: startKVServer(t, "orders")})
	const clients, calls = 16, 50
	var wg sync.WaitGroup
	errc := make(chan error, clients*calls)
	for i := range clients {
		c := dialKV(t, proxy.addr)
		for j := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf("c%d-%d", i, j)
				resp, err := c.Call("user.get", nil, []byte(body), kvTimeout)
				if err == nil && string(resp.Body) != "users handled user.get("+body+")" {
					err = fmt.Errorf("got %q", resp.Body)
				}
				if err != nil {
					errc <- fmt.Errorf("client %d call %d: %w", i, j, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errc)
	var failures []error
	for err := range errc {
		failures = append(failures, err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d calls failed: %v", len(failures), clients*calls, errors.Join(failures...))
	}
	if n := relay.connections(); n != 1 {
		t.Errorf("the server saw %d connections from the proxy, want 1", n)
	}
	if got := proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": "users"}); got != clients*calls {
		t.Errorf("upstream requests = %v, want %d", got, clients*calls)
	}
}
