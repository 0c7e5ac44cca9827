package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// The control-plane scenarios run `breeze control` on a directory of mesh objects (the
// Aeraki and Istio YAML a user writes), `breeze proxy` processes configured by it over xDS,
// and Greeter servers as the services.

// meshNamespace is where the tests' objects live, and the proxies' namespace.
const meshNamespace = "e2e"

// greeterHost is the Greeter service's host in the mesh.
const greeterHost = "greeter.e2e.svc"

// genKey is the attachment each test MetaRouter adds, naming its generation; the Greeter's
// Attachment method returns it, so a reply says which version of the routes carried it.
const genKey = "x-gen"

// meshDir is a control plane's configuration directory.
type meshDir struct {
	t   *testing.T
	dir string
}

func newMeshDir(t *testing.T) *meshDir {
	return &meshDir{t: t, dir: t.TempDir()}
}

// write replaces file name with content in one rename, so that the control plane never
// reads half a file (it skips hidden files, which the temporary one is).
func (m *meshDir) write(name, content string) {
	m.t.Helper()
	tmp := filepath.Join(m.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, name)); err != nil {
		m.t.Fatal(err)
	}
}

// greeterService writes the Greeter's ServiceEntry on port (the port clients call), its two
// instances (WorkloadEntries v1 and v2 at the given server ports) and a DestinationRule
// with subsets v1 and v2.
func (m *meshDir) greeterService(port, v1, v2 int) {
	m.write("greeter.yaml", greeterEntries(port, v1, v2)+fmt.Sprintf(`---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: %[1]s}
spec:
  host: %[2]s
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`, meshNamespace, greeterHost))
}

// sidecarGreeterService writes the Greeter's ServiceEntry on port and its one instance, v1,
// whose port is inbound: its sidecar's inbound listener, which passes calls on to the
// server's own port (the sidecar's inbound_app_ports).
func (m *meshDir) sidecarGreeterService(port, inbound int) {
	m.write("greeter.yaml", greeterEntries(port, inbound))
}

// greeterEntries is the Greeter's ServiceEntry on port and a WorkloadEntry for each of
// instances, the ports of versions v1, v2, ... in turn.
func greeterEntries(port int, instances ...int) string {
	entries := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  ports: [{number: %[3]d, name: tcp-metaprotocol-dubbo, protocol: TCP}]
  resolution: STATIC
  workloadSelector: {labels: {app: greeter}}
`, meshNamespace, greeterHost, port)
	for i, instance := range instances {
		entries += fmt.Sprintf(`---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: greeter-v%[2]d, namespace: %[1]s}
spec:
  address: 127.0.0.1
  ports: {tcp-metaprotocol-dubbo: %[3]d}
  labels: {app: greeter, version: v%[2]d}
`, meshNamespace, i+1, instance)
	}
	return entries
}

// greeterRoutes writes the Greeter's MetaRouter: every call goes to subset, tagged with
// generation gen.
func (m *meshDir) greeterRoutes(gen, subset string) {
	m.write("greeter-routes.yaml", fmt.Sprintf(`apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: greeter, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  routes:
  - name: gen
    route:
    - destination: {host: %[2]s, subset: %[3]s}
    requestMutation:
    - {key: %[4]s, value: %[5]q}
`, meshNamespace, greeterHost, subset, genKey, gen))
}

// controlProcess is a `breeze control` process.
type controlProcess struct {
	*child
	xds string
}

// startControl runs `breeze control` on dir, serving xDS on xdsAddr, with extra flags
// args, and waits until the xDS port accepts connections.
func startControl(t *testing.T, dir, xdsAddr string, args ...string) *controlProcess {
	t.Helper()
	cmd := exec.Command(binaries.breeze, append([]string{"control", "--config-dir", dir, "--xds-address", xdsAddr}, args...)...)
	c := &controlProcess{child: startChild(t, "breeze control", cmd, ""), xds: xdsAddr}
	waitFor(t, "breeze control serving xDS", func() error {
		c.alive(t)
		conn, err := net.DialTimeout("tcp", xdsAddr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
	return c
}

// xdsNode is how a test proxy describes itself to the control plane.
type xdsNode struct {
	id string
	// metadata is node.metadata (docs/xds.md): namespace, labels, inbound_ports, ...
	metadata map[string]any
}

// startXDSProxy starts `breeze proxy` with a bootstrap that names only the control plane at
// xdsAddr and the node, and waits until it is ready and runs the listeners named in want.
func startXDSProxy(t *testing.T, xdsAddr string, node xdsNode, want ...string) *proxyProcess {
	t.Helper()
	metadata, err := json.Marshal(node.metadata)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(xdsAddr)
	if err != nil {
		t.Fatal(err)
	}
	admin := loopback(freePort(t))
	adminHost, adminPort, _ := net.SplitHostPort(admin)
	config := fmt.Sprintf(`admin: {address: {socket_address: {address: %s, port_value: %s}}}
node:
  id: %s
  metadata: %s
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{envoy_grpc: {cluster_name: xds}}]
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}
`, adminHost, adminPort, node.id, metadata, host, port)
	p := startNamedProxy(t, "breeze proxy "+node.id, []byte(config), "", admin)
	waitFor(t, node.id+" runs its listeners", func() error {
		have := p.dump(t).listenerNames()
		for _, name := range want {
			if !have[name] {
				return fmt.Errorf("listeners %v, want %s", have, name)
			}
		}
		return nil
	})
	return p
}

// configDump is a proxy's /config_dump: the running configuration and the xDS state.
type configDump struct {
	Listeners []struct {
		Name    string
		Address string
		Routes  *struct {
			Name   string
			Routes []struct{ Name string }
		}
	}
	Clusters []struct{ Name string }
	XDS      struct {
		Connected bool
		Ready     bool
		Failed    []string
		Resources []struct {
			Type     string
			Version  string
			Count    int
			Rejected *struct{ Error string }
		}
	} `json:"xds"`
}

func (p *proxyProcess) dump(t *testing.T) *configDump {
	t.Helper()
	d := &configDump{}
	if err := json.Unmarshal(p.adminGet(t, "/config_dump"), d); err != nil {
		t.Fatalf("config_dump: %v", err)
	}
	return d
}

func (d *configDump) listenerNames() map[string]bool {
	out := map[string]bool{}
	for _, l := range d.Listeners {
		out[l.Name] = true
	}
	return out
}

// listenerAddr is the address of the listener called name.
func (d *configDump) listenerAddr(t *testing.T, name string) string {
	t.Helper()
	for _, l := range d.Listeners {
		if l.Name == name {
			return l.Address
		}
	}
	t.Fatalf("no listener %s in %v", name, d.listenerNames())
	return ""
}

// outboundListener is the name the control plane gives the outbound listener of host:port.
func outboundListener(host string, port int) string {
	return "outbound|" + strconv.Itoa(port) + "||" + host
}

// load keeps calling the Greeter's Attachment(genKey) through a proxy from several
// dubbo-go clients at a steady pace, and records every outcome: which generation of the
// routes carried each call, and every failure.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	calls    atomic.Int64
	failures atomic.Int64

	mu       sync.Mutex
	firstErr error
	gens     map[string]int // calls seen per generation
}

// Load shape: clients × one call per pace each.
const (
	loadClients = 4
	loadPace    = 10 * time.Millisecond
)

// startLoad starts the clients against addr; stop ends them.
func startLoad(t *testing.T, addr string) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, gens: map[string]int{}}
	for range loadClients {
		c := dialGreeter(t, addr, greeter.Interface, "1.0.0", 5*time.Second)
		l.wg.Add(1)
		go l.run(ctx, c)
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) run(ctx context.Context, c *greeter.Client) {
	defer l.wg.Done()
	tick := time.NewTicker(loadPace)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		callCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gen, err := c.Attachment(callCtx, genKey)
		cancel()
		l.record(gen, err)
	}
}

func (l *load) record(gen string, err error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failures.Add(1)
		if l.firstErr == nil {
			l.firstErr = err
		}
		return
	}
	l.gens[gen]++
}

// stop ends the clients and waits for them.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// seenGen reports whether a call was routed by generation gen.
func (l *load) seenGen(gen string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gens[gen] > 0
}

// checkNoFailures fails the test if any call failed.
func (l *load) checkNoFailures(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.failures.Load(); n > 0 {
		t.Errorf("%d of %d calls failed; the first: %v", n, l.calls.Load(), l.firstErr)
	}
}

// waitCalls waits until n more calls than now have completed.
func (l *load) waitCalls(t *testing.T, n int64) {
	t.Helper()
	target := l.calls.Load() + n
	waitFor(t, fmt.Sprintf("%d more calls", n), func() error {
		if got := l.calls.Load(); got < target {
			return fmt.Errorf("%d calls", got)
		}
		return nil
	})
}

// readyStatus returns the proxy's /ready status code.
func (p *proxyProcess) readyStatus(t *testing.T) int {
	t.Helper()
	code, _, err := p.get("/ready")
	if err != nil {
		t.Fatalf("/ready: %v", err)
	}
	return code
}
