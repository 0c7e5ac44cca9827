package accesslog_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accesslogv1 "github.com/breeze-mesh/breeze/api/filters/accesslog/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/accesslog"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	iface    = "org.example.Greeter"
	listener = "outbound|20880||greeter"
)

// startLogged runs a proxy whose listener logs with cfg (to a file in the test's directory,
// flushed every few milliseconds) and routes iface to a real server with a short timeout.
func startLogged(t *testing.T, cfg *accesslogv1.AccessLog) (*proxytest.Proxy, *proxytest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.log")
	cfg.Path = path
	cfg.FlushInterval = durationpb.New(5 * time.Millisecond)
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: listener, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: accesslog.Name, Config: cfg}},
			Routes: &config.RouteTable{Routes: []*config.Route{
				{Name: "greeter", Match: proxytest.Exact("interface", iface), Cluster: "greeter", Timeout: 100 * time.Millisecond},
			}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("greeter", server.Addr())},
	})
	return p, server, path
}

// waitLines polls the log file until it holds n lines.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	proxytest.WaitFor(t, fmt.Sprintf("%d lines in %s", n, path), func() error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines = strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) == 0 || len(lines) < n {
			return fmt.Errorf("%d lines so far", len(lines))
		}
		return nil
	})
	return lines
}

// TestJSONLinesForSuccessNoRouteAndTimeout logs a success, an unroutable request and a
// timeout with the default JSON fields, and checks each line's fields.
func TestJSONLinesForSuccessNoRouteAndTimeout(t *testing.T) {
	p, server, path := startLogged(t, &accesslogv1.AccessLog{
		LogFormat: &accesslogv1.LogFormat{Format: &accesslogv1.LogFormat_JsonFormat{JsonFormat: &structpb.Struct{}}},
	})
	c := proxytest.Dial(t, p.Listener(t, listener))
	ok := map[string]string{"interface": iface, "method": "sayHello", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	noRoute := map[string]string{"interface": "org.example.Nobody", "method": "x"}
	hold := map[string]string{"interface": iface, "method": proxytest.MethodHold}
	before := time.Now().Add(-time.Second)
	reply := c.MustCall(t, ok)
	c.MustCall(t, noRoute)
	c.MustCall(t, hold)

	lines := waitLines(t, path, 3)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	parsed := make([]map[string]any, 3)
	for i, line := range lines {
		if err := json.Unmarshal([]byte(line), &parsed[i]); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
		}
	}
	respSize := len(testcodec.Frame('R', 1, reply.Metadata, reply.Payload))
	want := []map[string]any{
		{
			"listener": listener, "protocol": proxytest.Codec, "service": iface, "method": "sayHello",
			"response_code": 0.0, "response_flags": "-", "response_code_details": "via_upstream", "response_status": 0.0,
			"bytes_received": float64(len(testcodec.Frame('Q', 1, ok, "hi"))), "bytes_sent": float64(respSize),
			"upstream_host": server.Addr(), "upstream_cluster": "greeter", "route_name": "greeter",
			"traceparent": ok["traceparent"],
		},
		{
			"method": "x", "response_code": 1.0, "response_flags": "NR", "response_code_details": "route_not_found", "response_status": nil,
			"bytes_received": float64(len(testcodec.Frame('Q', 1, noRoute, "hi"))), "bytes_sent": 0.0,
			"upstream_host": nil, "upstream_cluster": nil, "route_name": nil, "traceparent": nil,
		},
		{
			"method": proxytest.MethodHold, "response_code": 1.0, "response_flags": "UT", "response_code_details": "timeout",
			"upstream_host": server.Addr(), "upstream_cluster": "greeter", "route_name": "greeter",
		},
	}
	for i, w := range want {
		for k, v := range w {
			if parsed[i][k] != v {
				t.Errorf("line %d: %s = %#v, want %#v\n%s", i, k, parsed[i][k], v, lines[i])
			}
		}
		start, err := time.Parse(time.RFC3339Nano, fmt.Sprint(parsed[i]["start_time"]))
		if err != nil || start.Before(before) || start.After(time.Now()) {
			t.Errorf("line %d: start_time %v (%v), want a time of this test", i, parsed[i]["start_time"], err)
		}
		if _, isNumber := parsed[i]["duration"].(float64); !isNumber {
			t.Errorf("line %d: duration %#v is not a number", i, parsed[i]["duration"])
		}
		if addr := fmt.Sprint(parsed[i]["downstream_remote_address"]); !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("line %d: downstream_remote_address %q", i, addr)
		}
	}
}

// TestTextFormat writes a custom text format: operators, a length-limited REQ, a RESP, a
// missing value as "-", and a control character escaped so it cannot forge a line.
func TestTextFormat(t *testing.T) {
	p, _, path := startLogged(t, &accesslogv1.AccessLog{
		LogFormat: &accesslogv1.LogFormat{Format: &accesslogv1.LogFormat_TextFormat{
			TextFormat: "%RPC_METHOD% user=%REQ(x-user):3% server=%RESP(server)% missing=%REQ(nope)% %RESPONSE_FLAGS%",
		}},
	})
	c := proxytest.Dial(t, p.Listener(t, listener))
	c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello", "x-user": "carol"})
	c.MustCall(t, map[string]string{"interface": iface, "method": "say\x01Hi"})
	lines := waitLines(t, path, 2)
	want := []string{
		"sayHello user=car server=greeter missing=- -",
		`say\x01Hi user=- server=greeter missing=- -`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestLinesSurviveShutdown: lines queued when the proxy stops are written before it returns.
func TestLinesSurviveShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: listener, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			// An hour between flushes: only the shutdown can have written the lines.
			Filters: []config.Filter{{Name: accesslog.Name, Config: &accesslogv1.AccessLog{Path: path, FlushInterval: durationpb.New(time.Hour)}}},
			Routes:  &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "greeter"}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("greeter", server.Addr())},
	})
	c := proxytest.Dial(t, p.Listener(t, listener))
	for range 5 {
		c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello"})
	}
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 5 {
		t.Fatalf("%d lines after shutdown, want 5:\n%s", n, data)
	}
}

func TestConfigErrors(t *testing.T) {
	text := func(s string) *accesslogv1.AccessLog {
		return &accesslogv1.AccessLog{LogFormat: &accesslogv1.LogFormat{Format: &accesslogv1.LogFormat_TextFormat{TextFormat: s}}}
	}
	for _, tc := range []struct {
		name string
		cfg  any
		want string
	}{
		{"unknown operator", text("%BOGUS%"), "unknown command operator %BOGUS%"},
		{"unterminated", text("a %DURATION"), "unterminated"},
		{"bad limit", text("%REQ(x):0%"), "positive"},
		{"empty key", text("%REQ()%"), "empty"},
		{"json number", &accesslogv1.AccessLog{LogFormat: &accesslogv1.LogFormat{Format: &accesslogv1.LogFormat_JsonFormat{
			JsonFormat: &structpb.Struct{Fields: map[string]*structpb.Value{"n": structpb.NewNumberValue(1)}}}}}, "json_format.n"},
		{"bad path", &accesslogv1.AccessLog{Path: "/nonexistent-dir/x/access.log"}, "open access log"},
		{"wrong type", &accesslogv1.LogFormat{}, "want *breeze.filters.access_log.v1alpha1.AccessLog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := filter.Build(accesslog.Name, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestReadmeExample loads the README's example through the bootstrap loader (writing to a
// file of the test instead) and checks the line it promises.
func TestReadmeExample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	server := proxytest.StartServer(t, "greeter")
	example := strings.Replace(proxytest.ExampleFilters(t, "README.md"), "/var/log/breeze/access.log", path, 1)
	p := proxytest.StartProxy(t, proxytest.LoadBootstrap(t, listener, example, server.Addr()))
	c := proxytest.Dial(t, p.Listener(t, listener))
	c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello", "x-tenant": "acme"})
	if err := p.Shutdown(t.Context()); err != nil { // flushes the line
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(waitLines(t, path, 1)[0]), &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"call": iface + "/sayHello", "tenant": "acme", "response_flags": "-", "upstream_host": server.Addr()}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %#v, want %#v (line %v)", k, line[k], v, line)
		}
	}
	if len(line) != 6 {
		t.Errorf("line has %d fields, want the example's 6: %v", len(line), line)
	}
}
