package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// meshSetup is the Greeter service (servers v1 and v2) described in a control plane's
// directory, the control plane, and one proxy for a client workload.
type meshSetup struct {
	mesh    *meshDir
	control *controlProcess
	proxy   *proxyProcess
	v1, v2  *greeterServer
	// port is the service's port; listener the client proxy's outbound listener for it.
	port     int
	listener string
}

// clientNode is the client workload's proxy: no inbound ports, outbound listeners on
// bind:<service port>.
func clientNode(id, namespace, bind string) xdsNode {
	return xdsNode{id: id, metadata: map[string]any{
		"namespace":     namespace,
		"workload":      id,
		"labels":        map[string]any{"app": "client"},
		"outbound_bind": bind,
	}}
}

// startMesh starts the servers, writes the service with routes of generation gen to
// subset, and starts the control plane (with flags controlArgs) and the client proxy.
func startMesh(t *testing.T, gen, subset string, controlArgs ...string) *meshSetup {
	t.Helper()
	s := &meshSetup{mesh: newMeshDir(t), port: freePort(t)}
	s.v1 = startGreeter(t, "v1", freePort(t))
	s.v2 = startGreeter(t, "v2", freePort(t))
	s.mesh.greeterService(s.port, s.v1.port, s.v2.port)
	s.mesh.greeterRoutes(gen, subset)
	s.control = startControl(t, s.mesh.dir, loopback(freePort(t)), controlArgs...)
	s.listener = outboundListener(greeterHost, s.port)
	s.proxy = startXDSProxy(t, s.control.xds, clientNode("client-1", meshNamespace, "127.0.0.1"), s.listener)
	s.proxy.addr = s.proxy.dump(t).listenerAddr(t, s.listener)
	waitGen(t, s.proxy.addr, gen)
	return s
}

// waitGen waits until calls through addr are routed by generation gen.
func waitGen(t *testing.T, addr, gen string) {
	t.Helper()
	c := dialGreeter(t, addr, greeter.Interface, "1.0.0", 5*time.Second)
	waitFor(t, "routes of generation "+gen+" in use", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := c.Attachment(ctx, genKey)
		if err != nil {
			return err
		}
		if got != gen {
			return fmt.Errorf("call routed by generation %q", got)
		}
		return nil
	})
}

// TestXDSRouteChangesUnderLoad: the MetaRouter changes every 100 ms for 30 s (each change a
// new generation, alternating the subset) while clients call steadily through the proxy.
// No call fails; every route table the proxy received routes calls (the Greeter echoes the
// generation's attachment), the last one included; and the changes reach the proxy one by
// one.
//
// A change can only be observed if the control plane publishes it before the next one:
// the control plane rebuilds once the directory has been quiet for --debounce (100 ms by
// default, which would merge edits made exactly 100 ms apart), so the test runs it with
// 20 ms. Even then, a machine stalled for 100 ms merges two edits in the debounce, or two
// snapshots in the state-of-the-world stream (the second replaces the first before the
// proxy asks again); that loss is upstream of the proxy and allowed for a few changes.
func TestXDSRouteChangesUnderLoad(t *testing.T) {
	requireE2E(t)
	s := startMesh(t, "0", "v1", "--debounce=20ms")
	l := startLoad(t, s.proxy.addr)

	const (
		changes  = 300
		interval = 100 * time.Millisecond
		// mergedAllowed bounds the changes the control plane may merge on a loaded machine
		// (see above); an idle one merges none.
		mergedAllowed = changes / 10
	)
	// Each change comes interval after the one before (not on a fixed tick, which after a
	// late tick would write two changes back to back).
	last := time.Now()
	for gen := 1; gen <= changes; gen++ {
		time.Sleep(interval - time.Since(last))
		last = time.Now()
		subset := "v1"
		if gen%2 == 1 {
			subset = "v2"
		}
		s.mesh.greeterRoutes(strconv.Itoa(gen), subset)
	}
	waitFor(t, "the last generation in use", func() error {
		if !l.seenGen(strconv.Itoa(changes)) {
			return fmt.Errorf("generation %d not seen yet", changes)
		}
		return nil
	})
	l.stop()

	l.checkNoFailures(t)
	var missing []int
	for gen := 1; gen <= changes; gen++ {
		if !l.seenGen(strconv.Itoa(gen)) {
			missing = append(missing, gen)
		}
	}
	// Each route update the proxy applied, after the first (generation 0), carried one
	// generation: all of them must have routed calls.
	applied := int(s.proxy.counter(t, "breeze_xds_updates_total", map[string]string{"type": "routes", "result": "accepted"})) - 1
	rebuilds := strings.Count(s.control.output.String(), "configuration loaded") - 1
	if observed := changes - len(missing); observed < applied {
		t.Errorf("the proxy applied %d route changes but only %d routed calls; never seen: %v", applied, observed, missing)
	}
	if applied < changes-mergedAllowed {
		t.Errorf("only %d of %d route changes reached the proxy (the control plane rebuilt %d times); never seen: %v",
			applied, changes, rebuilds, missing)
	}
	// The subsets alternated: both servers were sent calls.
	servers := map[string]float64{}
	for _, subset := range []string{"v1", "v2"} {
		cluster := "outbound|" + strconv.Itoa(s.port) + "|" + subset + "|" + greeterHost
		servers[subset] = s.proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": cluster})
		if servers[subset] == 0 {
			t.Errorf("no call reached subset %s (cluster %s)", subset, cluster)
		}
	}
	if n := s.proxy.counter(t, "breeze_xds_updates_total", map[string]string{"type": "routes", "result": "rejected"}); n != 0 {
		t.Errorf("the proxy rejected %v route updates", n)
	}
	t.Logf("%d calls, by subset %v; of %d route changes, %d applied by the proxy, %d routed calls (the control plane rebuilt %d times)",
		l.calls.Load(), servers, changes, applied, changes-len(missing), rebuilds)
}

// TestXDSControlPlaneKilledUnderLoad: with the control plane killed, the proxy keeps serving
// (and stays ready); a change made meanwhile reaches it once the control plane is back.
func TestXDSControlPlaneKilledUnderLoad(t *testing.T) {
	requireE2E(t)
	s := startMesh(t, "before", "v1")
	l := startLoad(t, s.proxy.addr)
	l.waitCalls(t, 200)

	s.control.kill(t)
	waitFor(t, "the proxy sees its control plane gone", func() error {
		if s.proxy.dump(t).XDS.Connected {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	l.waitCalls(t, 400)
	if code := s.proxy.readyStatus(t); code != 200 {
		t.Errorf("without a control plane, /ready answers %d, want 200", code)
	}

	s.mesh.greeterRoutes("after", "v2")
	startControl(t, s.mesh.dir, s.control.xds)
	waitFor(t, "routes from the restarted control plane in use", func() error {
		if !l.seenGen("after") {
			return fmt.Errorf("generation after not seen yet")
		}
		return nil
	})
	if !s.proxy.dump(t).XDS.Connected {
		t.Error("the proxy routes by the new generation but does not say it is connected")
	}
	l.waitCalls(t, 200)
	l.stop()
	l.checkNoFailures(t)
}

// TestXDSNackKeepsLastGoodConfig: the control plane sends a listener the proxy cannot build
// (a codec the proxy claimed but does not have): the proxy NACKs the listener update and
// keeps running its last good listeners, the control plane logs the proxy's reason, and
// later updates still apply.
func TestXDSNackKeepsLastGoodConfig(t *testing.T) {
	requireE2E(t)
	s := &meshSetup{mesh: newMeshDir(t), port: freePort(t)}
	s.v1 = startGreeter(t, "v1", freePort(t))
	s.v2 = startGreeter(t, "v2", freePort(t))
	s.mesh.greeterService(s.port, s.v1.port, s.v2.port)
	s.mesh.greeterRoutes("good", "v1")
	s.control = startControl(t, s.mesh.dir, loopback(freePort(t)))
	s.listener = outboundListener(greeterHost, s.port)
	node := clientNode("client-1", meshNamespace, "127.0.0.1")
	// The proxy claims a codec it does not have, so the control plane sends it a listener
	// it cannot run.
	node.metadata["codecs"] = []string{"dubbo", "madeup"}
	s.proxy = startXDSProxy(t, s.control.xds, node, s.listener)
	s.proxy.addr = s.proxy.dump(t).listenerAddr(t, s.listener)
	waitGen(t, s.proxy.addr, "good")

	badPort := freePort(t)
	s.mesh.write("madeup.yaml", fmt.Sprintf(`apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: ApplicationProtocol
metadata: {name: madeup}
spec: {protocol: madeup, codec: aeraki.meta_protocol.codec.madeup}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: madeup, namespace: %[1]s}
spec:
  hosts: [madeup.e2e.svc]
  ports: [{number: %[2]d, name: tcp-metaprotocol-madeup, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tcp-metaprotocol-madeup: %[2]d}}]
`, meshNamespace, badPort))

	const reason = `unknown codec "madeup"`
	waitFor(t, "the proxy's NACK, in the control plane's log", func() error {
		s.control.alive(t)
		// The log quotes the proxy's message, escaping its quotes.
		if !strings.Contains(s.control.output.String(), strings.Trim(strconv.Quote(reason), `"`)) {
			return fmt.Errorf("the control plane has not logged %q", reason)
		}
		return nil
	})
	d := s.proxy.dump(t)
	rejected := ""
	for _, r := range d.XDS.Resources {
		if r.Type == "listeners" && r.Rejected != nil {
			rejected = r.Rejected.Error
		}
	}
	if !strings.Contains(rejected, reason) || !strings.Contains(rejected, outboundListener("madeup.e2e.svc", badPort)) {
		t.Errorf("the proxy's config dump shows the listener rejection as %q, want the listener and %q", rejected, reason)
	}
	if have := d.listenerNames(); len(have) != 1 || !have[s.listener] {
		t.Errorf("listeners %v, want only %s", have, s.listener)
	}
	waitGen(t, s.proxy.addr, "good")

	// The rejected listener stays in the control plane's state; updates to the rest flow.
	s.mesh.greeterRoutes("after", "v2")
	waitGen(t, s.proxy.addr, "after")
}

// TestXDSListenerThatCannotBind: a service whose outbound port is taken on the proxy's
// host: the listener is left out and its update NACKed with the bind error, which the
// control plane logs; the other listeners keep serving and keep receiving updates.
func TestXDSListenerThatCannotBind(t *testing.T) {
	requireE2E(t)
	s := startMesh(t, "good", "v1")

	// The port is the v1 server's own: on 127.0.0.1 it is taken.
	s.mesh.write("clash.yaml", fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: clash, namespace: %[1]s}
spec:
  hosts: [clash.e2e.svc]
  ports: [{number: %[2]d, name: tcp-metaprotocol-dubbo, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tcp-metaprotocol-dubbo: %[2]d}}]
`, meshNamespace, s.v1.port))

	clash := outboundListener("clash.e2e.svc", s.v1.port)
	waitFor(t, "the bind failure, in the control plane's log", func() error {
		s.control.alive(t)
		out := s.control.output.String()
		if !strings.Contains(out, clash) || !strings.Contains(out, "address already in use") {
			return fmt.Errorf("the control plane has not logged the NACK for %s", clash)
		}
		return nil
	})
	d := s.proxy.dump(t)
	if len(d.XDS.Failed) != 1 || !strings.Contains(d.XDS.Failed[0], clash) {
		t.Errorf("failed listeners %q, want %s", d.XDS.Failed, clash)
	}
	if d.listenerNames()[clash] {
		t.Errorf("listener %s runs", clash)
	}
	waitGen(t, s.proxy.addr, "good")
	s.mesh.greeterRoutes("after", "v2")
	waitGen(t, s.proxy.addr, "after")
}

// TestXDSWorkloadsGetTheirListeners: two proxies fronting different workloads get
// different listeners: the client's has outbound listeners only; the v1 server's sidecar
// also has the inbound listener for its port, which reaches the v1 server. A service
// exported only to its own namespace is never sent to a proxy of another namespace.
func TestXDSWorkloadsGetTheirListeners(t *testing.T) {
	requireE2E(t)
	s := startMesh(t, "0", "v1")
	inbound := "inbound|" + strconv.Itoa(s.v1.port) + "||"
	sidecar := startXDSProxy(t, s.control.xds, xdsNode{id: "greeter-v1", metadata: map[string]any{
		"namespace":     meshNamespace,
		"workload":      "greeter-v1",
		"labels":        map[string]any{"app": "greeter", "version": "v1"},
		"inbound_ports": []int{s.v1.port},
		// The server itself listens on 127.0.0.1:<port>.
		"inbound_bind":  "127.0.0.2",
		"outbound_bind": "127.0.0.2",
	}}, inbound, s.listener)

	client := s.proxy.dump(t).listenerNames()
	for name := range client {
		if strings.HasPrefix(name, "inbound|") {
			t.Errorf("the client proxy has inbound listener %s", name)
		}
	}
	sidecarDump := sidecar.dump(t)
	if len(client) == len(sidecarDump.listenerNames()) {
		t.Errorf("client listeners %v, sidecar listeners %v: want the sidecar's inbound one more", client, sidecarDump.listenerNames())
	}
	reply, err := dialGreeter(t, sidecarDump.listenerAddr(t, inbound), greeter.Interface, "1.0.0", 5*time.Second).SayHello(context.Background(), "inbound")
	if err != nil || reply != "hello inbound from v1" {
		t.Errorf("call to the inbound listener: %q, %v; want the v1 server's reply", reply, err)
	}

	// A service exported to its own namespace only, with its own routes.
	privatePort := freePort(t)
	s.mesh.write("private.yaml", fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: other}
spec:
  hosts: [private.other.svc]
  exportTo: ["."]
  ports: [{number: %[1]d, name: tcp-metaprotocol-dubbo, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tcp-metaprotocol-dubbo: %[2]d}}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: private, namespace: other}
spec:
  hosts: [private.other.svc]
  routes:
  - name: private
    route: [{destination: {host: private.other.svc}}]
    requestMutation: [{key: %[3]s, value: private}]
`, privatePort, s.v2.port, genKey))
	private := outboundListener("private.other.svc", privatePort)
	// A proxy of namespace other gets it: the objects are valid and the control plane has
	// taken them in.
	insider := startXDSProxy(t, s.control.xds, clientNode("other-client", "other", "127.0.0.3"), private)
	waitGen(t, insider.dump(t).listenerAddr(t, private), "private")

	d := s.proxy.dump(t)
	if d.listenerNames()[private] {
		t.Errorf("the client proxy of namespace %s got %s, exported to namespace other only", meshNamespace, private)
	}
	for _, l := range d.Listeners {
		if l.Routes != nil && strings.Contains(l.Routes.Name, "private.other.svc") {
			t.Errorf("the client proxy runs route table %s", l.Routes.Name)
		}
	}
	for _, r := range d.XDS.Resources {
		if r.Type == "routes" && r.Count != len(d.Listeners) {
			t.Errorf("the client proxy holds %d route tables for its %d listeners", r.Count, len(d.Listeners))
		}
	}
}
