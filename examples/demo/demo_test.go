package demo

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"sigs.k8s.io/yaml"
)

func TestRenderBootstrap(t *testing.T) {
	ports := Ports{Admin: 15001, Proxy: 20001, V1: 20002, V2: 20003}
	data, err := renderBootstrap(ports)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Admin struct {
			Address struct {
				SocketAddress struct {
					PortValue int `json:"port_value"`
				} `json:"socket_address"`
			} `json:"address"`
		} `json:"admin"`
		StaticResources struct {
			Listeners []struct {
				Address struct {
					SocketAddress struct {
						PortValue int `json:"port_value"`
					} `json:"socket_address"`
				} `json:"address"`
			} `json:"listeners"`
			Clusters []struct {
				Name           string `json:"name"`
				LoadAssignment struct {
					Endpoints []struct {
						LbEndpoints []struct {
							Endpoint struct {
								Address struct {
									SocketAddress struct {
										PortValue int `json:"port_value"`
									} `json:"socket_address"`
								} `json:"address"`
							} `json:"endpoint"`
						} `json:"lb_endpoints"`
					} `json:"endpoints"`
				} `json:"load_assignment"`
			} `json:"clusters"`
		} `json:"static_resources"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("rendered bootstrap is not YAML: %v\n%s", err, data)
	}
	if got := doc.Admin.Address.SocketAddress.PortValue; got != ports.Admin {
		t.Errorf("admin port %d, want %d", got, ports.Admin)
	}
	if len(doc.StaticResources.Listeners) != 1 || doc.StaticResources.Listeners[0].Address.SocketAddress.PortValue != ports.Proxy {
		t.Errorf("listeners %+v, want one on port %d", doc.StaticResources.Listeners, ports.Proxy)
	}
	clusterPorts := map[string]int{}
	for _, c := range doc.StaticResources.Clusters {
		clusterPorts[c.Name] = c.LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress.PortValue
	}
	if clusterPorts["greeter-v1"] != ports.V1 || clusterPorts["greeter-v2"] != ports.V2 {
		t.Errorf("cluster ports %v, want greeter-v1 %d, greeter-v2 %d", clusterPorts, ports.V1, ports.V2)
	}
	if bytes.Contains(data, []byte("{{")) {
		t.Errorf("unfilled placeholder left:\n%s", data)
	}
	// Every route the traffic mix expects is in the file.
	for _, k := range trafficMix {
		if k.route != "" && !bytes.Contains(data, []byte("name: "+k.route+"\n")) {
			t.Errorf("route %q of the traffic mix is not in bootstrap.yaml", k.route)
		}
	}
}

func TestPickPorts(t *testing.T) {
	p, err := pickPorts(Ports{V1: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if p.V1 != 1234 || p.Admin == 0 || p.Proxy == 0 || p.V2 == 0 {
		t.Fatalf("pickPorts = %+v", p)
	}
	if _, err := pickPorts(Ports{Admin: 1, Proxy: 1, V1: 2, V2: 3}); err == nil {
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
			{sent: 20, byServer: map[string]int64{"v2": 20}},
			{sent: 10, errors: 10, byServer: map[string]int64{}, lastErr: "breeze: no route\nfor request"},
		},
		proxy: samples{
			{name: "breeze_route_requests_total", labels: map[string]string{"route": "default"}, value: 40},
			{name: "breeze_listener_local_replies_total", labels: map[string]string{"kind": "route_not_found"}, value: 10},
		},
	}
	text := v.render()
	for _, want := range []string{"200 requests/s", "from v1", "from v2", "default 40", "route_not_found 10", "breeze: no route for request", "(none)"} {
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
