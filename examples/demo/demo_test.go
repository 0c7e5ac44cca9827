package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/hessiangreeter"
	"github.com/breeze-mesh/breeze/examples/mesh"
	"github.com/breeze-mesh/breeze/internal/proctest"
	"github.com/breeze-mesh/breeze/proxy/bootstrap"
	"sigs.k8s.io/yaml"
)

// TestRenderBootstrap: the rendered bootstrap loads in the proxy's own loader, names the
// control plane's port, and carries the node the control plane needs.
func TestRenderBootstrap(t *testing.T) {
	ports := Ports{Admin: 15001, XDS: 15010, Dubbo: 20001, DubboV1: 20002, DubboV2: 20003, Thrift: 9001, ThriftV1: 9002, ThriftV2: 9003}
	data, err := render(bootstrapTemplate, ports)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bootstrap.Parse(data, "bootstrap.yaml")
	if err != nil {
		t.Fatalf("the rendered bootstrap does not load: %v\n%s", err, data)
	}
	if b.Admin != "127.0.0.1:15001" || b.Dynamic == nil || b.Node.Metadata["namespace"] != "dubbo" {
		t.Fatalf("bootstrap %+v, dynamic %+v", b, b.Dynamic)
	}
	if len(b.Clusters) != 1 || b.Clusters[0].Name != b.Dynamic.ADSCluster || b.Clusters[0].Endpoints[0].Address != "127.0.0.1:15010" {
		t.Errorf("ADS cluster %+v, want the control plane at 127.0.0.1:15010", b.Clusters)
	}
}

// TestRenderService: the demo's service files have the picked ports, and the same objects
// as the examples/mesh files they replace.
func TestRenderService(t *testing.T) {
	ports := Ports{Dubbo: 20001, DubboV1: 20002, DubboV2: 20003, Thrift: 9001, ThriftV1: 9002, ThriftV2: 9003}
	type object struct {
		Kind     string
		Metadata struct{ Name, Namespace string }
		Spec     struct {
			Hosts []string
			Ports json.RawMessage
		}
	}
	objects := func(doc []byte) []object {
		var out []object
		for part := range bytes.SplitSeq(doc, []byte("\n---\n")) {
			var o object
			if err := yaml.Unmarshal(part, &o); err != nil {
				t.Fatalf("%v\n%s", err, part)
			}
			out = append(out, o)
		}
		return out
	}
	wantPorts := map[string][]string{
		meshServiceFile:               {"number: 20001", "tcp-metaprotocol-dubbo: 20002", "tcp-metaprotocol-dubbo: 20003"},
		"thrift-greeter-service.yaml": {"number: 9001", "tcp-metaprotocol-thrift: 9002", "tcp-metaprotocol-thrift: 9003"},
	}
	if len(serviceTemplates) != len(wantPorts) {
		t.Fatalf("%d service templates, the test knows %d", len(serviceTemplates), len(wantPorts))
	}
	hosts := map[string]bool{}
	for name, text := range serviceTemplates {
		data, err := render(text, ports)
		if err != nil {
			t.Fatal(err)
		}
		example, err := mesh.Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, want := objects(data), objects(example)
		if len(got) != len(want) {
			t.Fatalf("%s: %d objects, examples/mesh has %d", name, len(got), len(want))
		}
		for i := range got {
			if got[i].Kind != want[i].Kind || got[i].Metadata != want[i].Metadata || !slices.Equal(got[i].Spec.Hosts, want[i].Spec.Hosts) {
				t.Errorf("%s: object %d: %+v, examples/mesh has %+v", name, i, got[i], want[i])
			}
			for _, h := range got[i].Spec.Hosts {
				hosts[h] = true
			}
		}
		for _, port := range wantPorts[name] {
			if !bytes.Contains(data, []byte(port)) {
				t.Errorf("rendered %s lacks %q:\n%s", name, port, data)
			}
		}
	}
	// The metrics are told apart by these hosts.
	for h := range serviceHosts {
		if !hosts[h] {
			t.Errorf("serviceHosts names %s, which no service file has", h)
		}
	}
}

// TestMeshFiles: the control plane reads every file of the mesh directory but the service
// file, whose place the demo's takes.
func TestMeshFiles(t *testing.T) {
	dir, live, err := findMesh("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !live || filepath.Base(dir) != "mesh" {
		t.Errorf("findMesh from inside the repository: %s (live %v), want examples/mesh", dir, live)
	}
	files, err := meshFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range serviceTemplates {
		if slices.Contains(names, name) {
			t.Errorf("mesh files %v include the replaced %s", names, name)
		}
	}
	for _, name := range metaRouterFiles {
		if !slices.Contains(names, name) {
			t.Errorf("mesh files %v lack %s", names, name)
		}
	}
	args := controlArgs(files, []string{"/tmp/a.yaml", "/tmp/b.yaml"}, "127.0.0.1:1")
	if got := strings.Join(args, " "); !strings.Contains(got, "--config-dir /tmp/a.yaml --config-dir /tmp/b.yaml") || !strings.Contains(got, "--xds-address 127.0.0.1:1") {
		t.Errorf("control args %q", got)
	}
	// The MetaRouters have the routes the traffic mix expects, each protocol's its own.
	routerOf := map[string]string{Dubbo: "greeter-metarouter.yaml", Thrift: "thrift-greeter-metarouter.yaml"}
	for _, k := range trafficMix {
		router, err := os.ReadFile(filepath.Join(dir, routerOf[k.protocol]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(router, []byte("name: "+k.route+"\n")) {
			t.Errorf("route %q of the traffic mix is not in %s", k.route, routerOf[k.protocol])
		}
	}
}

// TestMeshOutsideTheRepository: run from elsewhere, the demo writes the embedded copy.
func TestMeshOutsideTheRepository(t *testing.T) {
	t.Chdir(t.TempDir())
	work := t.TempDir()
	dir, live, err := findMesh("", work)
	if err != nil {
		t.Fatal(err)
	}
	if live || dir != filepath.Join(work, "mesh") {
		t.Errorf("findMesh = %s (live %v), want a copy under %s", dir, live, work)
	}
	if _, err := meshFiles(dir); err != nil {
		t.Error(err)
	}
	if _, _, err := findMesh(filepath.Join(work, "missing"), work); err == nil {
		t.Error("a missing --mesh directory is accepted")
	}
}

func TestPickPorts(t *testing.T) {
	p, err := pickPorts(Ports{DubboV1: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if p.DubboV1 != 1234 {
		t.Fatalf("pickPorts = %+v", p)
	}
	for _, port := range p.all() {
		if *port == 0 {
			t.Fatalf("pickPorts = %+v", p)
		}
	}
	if _, err := pickPorts(Ports{Admin: 1, XDS: 1, Dubbo: 2, DubboV1: 3, DubboV2: 4, Thrift: 5, ThriftV1: 6, ThriftV2: 7}); err == nil {
		t.Fatal("duplicate ports accepted")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP breeze_route_requests_total Requests matched by a route.
# TYPE breeze_route_requests_total counter
breeze_route_requests_total{listener="dubbo",route="default"} 12
breeze_route_requests_total{listener="dubbo",route="to-v2"} 3
breeze_listener_local_replies_total{kind="route_not_found",listener="dubbo"} 2
breeze_listener_local_replies_total{kind="timeout",listener="dubbo"} 0
odd_metric{path="a \"quoted\", value",x="y"} 1.5 1700000000
no_labels 7
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.sum("breeze_route_requests_total", nil); got != 15 {
		t.Errorf("sum routes = %v, want 15", got)
	}
	if got := m.sum("breeze_route_requests_total", map[string]string{"route": "to-v2"}); got != 3 {
		t.Errorf("sum to-v2 = %v, want 3", got)
	}
	if got := m.byLabel("breeze_listener_local_replies_total", "kind"); got["route_not_found"] != 2 || got["timeout"] != 0 {
		t.Errorf("local replies by kind = %v", got)
	}
	if got := m.sum("odd_metric", map[string]string{"path": `a "quoted", value`, "x": "y"}); got != 1.5 {
		t.Errorf("escaped label value not parsed: %v", m)
	}
	if got := m.sum("no_labels", nil); got != 7 {
		t.Errorf("no_labels = %v", got)
	}
	for _, bad := range []string{`x{a="b" 1`, `x{a=b} 1`, `x{a="b"}`, `x notanumber`, `{a="b"} 1`} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMetrics(%q) accepted", bad)
		}
	}
}

func TestWeightedSchedule(t *testing.T) {
	got := weightedSchedule([]requestKind{{weight: 3}, {weight: 1}, {weight: 2}})
	want := []int{0, 1, 2, 0, 2, 0}
	if len(got) != len(want) {
		t.Fatalf("schedule %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("schedule %v, want %v", got, want)
		}
	}
}

func TestServerOf(t *testing.T) {
	for reply, want := range map[string]string{"hello demo from v1": "v1", "hi x from y from v2": "v2", "garbage": "?"} {
		if got := serverOf(reply); got != want {
			t.Errorf("serverOf(%q) = %q, want %q", reply, got, want)
		}
	}
}

func TestRender(t *testing.T) {
	v := view{
		elapsed: 3 * time.Second,
		rate:    199.6,
		servers: []string{"v1", "v2"},
		kinds:   trafficMix[:4],
		stats: []kindStats{
			{sent: 40, byServer: map[string]int64{"v1": 40}},
			{sent: 30, byServer: map[string]int64{"v2": 30}},
			{sent: 30, errors: 10, byServer: map[string]int64{"v2": 20}, lastErr: "breeze: no route\nfor request"},
			{sent: 10, byServer: map[string]int64{"v1": 9, "v2": 1}},
		},
		recent: []map[string]int64{{"v1": 4}, {}, {"v1": 1, "v2": 3}, {"v2": 2}},
		proxy: samples{
			{name: "breeze_route_requests_total", labels: map[string]string{"listener": "outbound|20880||org.apache.dubbo.sample.greeter", "route": "default"}, value: 40},
			{name: "breeze_route_requests_total", labels: map[string]string{"listener": "outbound|9090||thrift.sample.greeter", "route": "canary"}, value: 10},
			{name: "breeze_cluster_upstream_requests_total", labels: map[string]string{"cluster": "outbound|20880|v1|org.apache.dubbo.sample.greeter"}, value: 41},
			{name: "breeze_cluster_upstream_requests_total", labels: map[string]string{"cluster": "outbound|9090|v1|thrift.sample.greeter"}, value: 9},
			{name: "breeze_cluster_upstream_requests_total", labels: map[string]string{"cluster": "outbound|9090|v2|thrift.sample.greeter"}, value: 1},
			{name: "breeze_cluster_upstream_requests_total", labels: map[string]string{"cluster": "static-one"}, value: 5},
			{name: "breeze_cluster_upstream_requests_total", labels: map[string]string{"cluster": "xds"}, value: 0},
			{name: "breeze_listener_local_replies_total", labels: map[string]string{"kind": "route_not_found"}, value: 10},
		},
	}
	text := v.render()
	for _, want := range []string{"200 requests/s", "from v1", "from v2", "route_not_found 10", "breeze: no route for request", "v1 100%", "v1 25% · v2 75%",
		"dubbo    routes   default 40\n", "         subsets  v1 41\n", "thrift   routes   canary 10\n", "         subsets  v1 9 · v2 1\n",
		"static-one routes   -\n", "         subsets  (all) 5\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "xds") {
		t.Errorf("a cluster that carried no request is shown:\n%s", text)
	}
	totalLine := ""
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "total") {
			totalLine = line
		}
	}
	if f := strings.Fields(totalLine); len(f) != 5 || f[1] != "110" || f[2] != "49" || f[3] != "51" || f[4] != "10" {
		t.Errorf("total row %q, want sent 110, v1 49, v2 51, errors 10", totalLine)
	}
}

// TestChildArgs: the arguments the demo starts a child with name the hidden command and its
// flags, and a child that cannot be served is refused before anything starts.
func TestChildArgs(t *testing.T) {
	c := Child{Protocol: Thrift, Name: "v2", Port: 9092}
	if got := strings.Join(c.Args(), " "); got != "demo-child --protocol thrift --name v2 --port 9092" {
		t.Errorf("Args = %q", got)
	}
	if c.String() != "thrift greeter v2" {
		t.Errorf("String = %q", c)
	}
	for _, bad := range []Child{{Protocol: "smtp", Name: "v1", Port: 1}, {Protocol: Dubbo, Port: 1}, {Protocol: Thrift, Name: "v1"}, {Protocol: Thrift, Name: "v1", Port: 70000}} {
		err := RunChild(context.Background(), bad, io.Discard)
		if err == nil || !strings.Contains(err.Error(), ChildCommand) {
			t.Errorf("RunChild(%+v) = %v, want a demo-child error", bad, err)
		}
	}
	if got := children(Ports{DubboV1: 1, DubboV2: 2, ThriftV1: 3, ThriftV2: 4}); len(got) != 4 || got[2] != (Child{Protocol: Thrift, Name: "v1", Port: 3}) {
		t.Errorf("children = %+v", got)
	}
}

// TestRunChild serves each protocol's Greeter the way a `breeze demo-child` process does,
// calls it with the demo's own callers, and stops it by ending the context. (In process:
// the breeze binary that runs it as a child is tested end to end in test/e2e.)
func TestRunChild(t *testing.T) {
	for _, protocol := range []string{Dubbo, Thrift} {
		t.Run(protocol, func(t *testing.T) {
			port, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			out := &proctest.SyncBuffer{}
			done := make(chan error, 1)
			go func() { done <- RunChild(ctx, Child{Protocol: protocol, Name: "child", Port: port}, out) }()
			stopped := false
			stop := func() error {
				stopped = true
				cancel()
				return <-done
			}
			t.Cleanup(func() {
				if !stopped {
					stop()
				}
			})
			addr := "127.0.0.1:" + strconv.Itoa(port)
			want := protocol + " greeter child ready on " + addr + "\n"
			deadline := time.Now().Add(startTimeout)
			for out.String() != want {
				select {
				case err := <-done:
					t.Fatalf("RunChild returned %v before it was ready; printed %q", err, out)
				case <-time.After(10 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("not ready after %s; printed %q, want %q", startTimeout, out, want)
				}
			}

			kinds := []requestKind{{protocol: protocol, method: "sayHello", iface: hessiangreeter.Interface, version: "2.0.0"}}
			load, err := newTraffic(map[string]string{protocol: addr}, kinds)
			if err != nil {
				t.Fatal(err)
			}
			defer load.close()
			load.call(context.Background(), 0)
			if s := load.snapshot()[0]; s.sent != 1 || s.byServer["child"] != 1 {
				t.Fatalf("a call to the child: %+v", s)
			}
			if err := stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still accepts connections after the child stopped", addr)
			}
		})
	}
}

// TestStartProcessFailures: a child that exits before it is ready, or never gets ready, is
// reported with its log, and nothing is left running.
func TestStartProcessFailures(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// The test binary with a flag it does not know says so and exits 2.
	bad := exec.Command(self, "-test.no-such-flag")
	_, err = startProcess(context.Background(), "bad child", bad, filepath.Join(dir, "bad.log"), childReadyLine, startTimeout)
	if err == nil || !strings.Contains(err.Error(), "exited during start") {
		t.Fatalf("startProcess(bad flag) = %v, want an early-exit error", err)
	}
	logText, _ := os.ReadFile(filepath.Join(dir, "bad.log"))
	if !strings.Contains(string(logText), "no-such-flag") {
		t.Errorf("child log %q lacks the child's error", logText)
	}

	// The test binary run with a filter matching no test prints no ready line and exits 0.
	silent := exec.Command(self, "-test.run=^$")
	_, err = startProcess(context.Background(), "silent child", silent, filepath.Join(dir, "silent.log"), "never printed", startTimeout)
	if err == nil {
		t.Fatal("startProcess succeeded without the ready line")
	}
}

// TestStopReport: stopping a child says so, and a child that exits on SIGTERM is stopped
// cleanly.
func TestStopReport(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	p, err := startProcess(context.Background(), "sleeper", cmd, filepath.Join(t.TempDir(), "sleep.log"), "", startTimeout)
	if err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	var report bytes.Buffer
	err = p.stop(&report)
	if !strings.Contains(report.String(), "stopping sleeper (pid") {
		t.Errorf("stop report %q", report.String())
	}
	// sleep dies of SIGTERM rather than exiting: the report says so, with the log.
	if err == nil || !strings.Contains(report.String(), "signal: terminated") {
		t.Errorf("stop = %v, report %q", err, report.String())
	}
}
