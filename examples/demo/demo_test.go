package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/examples/mesh"
	"github.com/breeze-mesh/breeze/proxy/bootstrap"
	"sigs.k8s.io/yaml"
)

// TestRenderBootstrap: the rendered bootstrap loads in the proxy's own loader, names the
// control plane's port, and carries the node the control plane needs.
func TestRenderBootstrap(t *testing.T) {
	ports := Ports{Admin: 15001, Proxy: 20001, V1: 20002, V2: 20003, XDS: 15010}
	data, err := render(bootstrapTemplate, ports)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bootstrap.Parse(data, "bootstrap.yaml")
	if err != nil {
		t.Fatalf("the rendered bootstrap does not load: %v\n%s", err, data)
	}
	if b.Admin != "127.0.0.1:15001" || b.Dynamic == nil || b.Dynamic.Node.Metadata["namespace"] != "dubbo" {
		t.Fatalf("bootstrap %+v, dynamic %+v", b, b.Dynamic)
	}
	if len(b.Clusters) != 1 || b.Clusters[0].Name != b.Dynamic.ADSCluster || b.Clusters[0].Endpoints[0].Address != "127.0.0.1:15010" {
		t.Errorf("ADS cluster %+v, want the control plane at 127.0.0.1:15010", b.Clusters)
	}
}

// TestRenderService: the demo's service file has the picked ports, and the same objects as
// the examples/mesh file it replaces.
func TestRenderService(t *testing.T) {
	ports := Ports{Proxy: 20001, V1: 20002, V2: 20003}
	data, err := render(serviceTemplate, ports)
	if err != nil {
		t.Fatal(err)
	}
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
	example, err := mesh.Files.ReadFile(meshServiceFile)
	if err != nil {
		t.Fatal(err)
	}
	got, want := objects(data), objects(example)
	if len(got) != len(want) {
		t.Fatalf("%d objects, examples/mesh has %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Kind != want[i].Kind || got[i].Metadata != want[i].Metadata || !slices.Equal(got[i].Spec.Hosts, want[i].Spec.Hosts) {
			t.Errorf("object %d: %+v, examples/mesh has %+v", i, got[i], want[i])
		}
	}
	for _, port := range []string{"number: 20001", "tcp-metaprotocol-dubbo: 20002", "tcp-metaprotocol-dubbo: 20003"} {
		if !bytes.Contains(data, []byte(port)) {
			t.Errorf("rendered service lacks %q:\n%s", port, data)
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
	if slices.Contains(names, meshServiceFile) || !slices.Contains(names, "greeter-metarouter.yaml") {
		t.Errorf("mesh files %v", names)
	}
	args := controlArgs(files, "/tmp/svc.yaml", "127.0.0.1:1")
	if got := strings.Join(args, " "); !strings.Contains(got, "--config-dir /tmp/svc.yaml") || !strings.Contains(got, "--xds-address 127.0.0.1:1") {
		t.Errorf("control args %q", got)
	}
	// The MetaRouter routes the traffic mix expects.
	router, err := os.ReadFile(filepath.Join(dir, "greeter-metarouter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range trafficMix {
		if !bytes.Contains(router, []byte("name: "+k.route+"\n")) {
			t.Errorf("route %q of the traffic mix is not in greeter-metarouter.yaml", k.route)
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
	p, err := pickPorts(Ports{V1: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if p.V1 != 1234 || p.Admin == 0 || p.Proxy == 0 || p.V2 == 0 || p.XDS == 0 {
		t.Fatalf("pickPorts = %+v", p)
	}
	if _, err := pickPorts(Ports{Admin: 1, Proxy: 1, V1: 2, V2: 3, XDS: 4}); err == nil {
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
		kinds:   trafficMix,
		stats: []kindStats{
			{sent: 40, byServer: map[string]int64{"v1": 40}},
			{sent: 30, byServer: map[string]int64{"v2": 30}},
			{sent: 30, errors: 10, byServer: map[string]int64{"v2": 20}, lastErr: "breeze: no route\nfor request"},
		},
		recent: []map[string]int64{{"v1": 4}, {}, {"v1": 1, "v2": 3}},
		proxy: samples{
			{name: "breeze_route_requests_total", labels: map[string]string{"route": "default"}, value: 40},
			{name: "breeze_listener_local_replies_total", labels: map[string]string{"kind": "route_not_found"}, value: 10},
		},
	}
	text := v.render()
	for _, want := range []string{"200 requests/s", "from v1", "from v2", "default 40", "route_not_found 10", "breeze: no route for request", "v1 100%", "v1 25% · v2 75%"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	totalLine := ""
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "total") {
			totalLine = line
		}
	}
	if f := strings.Fields(totalLine); len(f) != 5 || f[1] != "100" || f[2] != "40" || f[3] != "50" || f[4] != "10" {
		t.Errorf("total row %q, want sent 100, v1 40, v2 50, errors 10", totalLine)
	}
}

// TestGreeterChild starts a Greeter server the way the demo does, as a child process of
// the running binary (here the test binary, which links this package's init hook), calls
// it, and stops it.
func TestGreeterChild(t *testing.T) {
	if err := greeter.SetLogging(io.Discard, "error"); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), greeterChildEnv+"=child:"+strconv.Itoa(port))
	p, err := startProcess(context.Background(), "greeter child", cmd, filepath.Join(t.TempDir(), "child.log"), greeterReadyLine, startTimeout)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.stop(io.Discard)
		}
	})

	c, err := greeter.Dial(greeter.ClientConfig{Address: "127.0.0.1:" + strconv.Itoa(port), Version: "2.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.SayHello(context.Background(), "demo")
	if err != nil || got != "hello demo from child" {
		t.Fatalf("SayHello = %q, %v", got, err)
	}

	var report bytes.Buffer
	stopped = true
	if err := p.stop(&report); err != nil {
		t.Fatalf("stop: %v (%s)", err, report.String())
	}
	if !strings.Contains(report.String(), "stopping greeter child") || !strings.Contains(report.String(), "stopped") {
		t.Errorf("stop report %q", report.String())
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

	bad := exec.Command(self)
	bad.Env = append(os.Environ(), greeterChildEnv+"=no-port")
	_, err = startProcess(context.Background(), "bad child", bad, filepath.Join(dir, "bad.log"), greeterReadyLine, startTimeout)
	if err == nil || !strings.Contains(err.Error(), "exited during start") {
		t.Fatalf("startProcess(bad spec) = %v, want an early-exit error", err)
	}
	logText, _ := os.ReadFile(filepath.Join(dir, "bad.log"))
	if !strings.Contains(string(logText), "want <name>:<port>") {
		t.Errorf("child log %q lacks the child's error", logText)
	}

	// The test binary run with a filter matching no test prints no ready line and exits 0.
	silent := exec.Command(self, "-test.run=^$")
	_, err = startProcess(context.Background(), "silent child", silent, filepath.Join(dir, "silent.log"), "never printed", startTimeout)
	if err == nil {
		t.Fatal("startProcess succeeded without the ready line")
	}
}
