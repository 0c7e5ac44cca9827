package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

// This file holds what the upstream resilience scenarios (upstream_test.go) need besides
// the shared harness: a Dubbo server whose behaviour a test switches at will, a proxy
// started from a bootstrap built for the scenario, and a reader of the proxy's /clusters.

// Behaviours of a switchServer.
const (
	serveOK    int32 = iota // answer "hello <arg> from <name>"
	serveError              // answer with a SERVER_ERROR status
)

// switchServer is an in-process Dubbo provider on dubbo-go-hessian2's codec (the library
// dubbo-go itself uses) that answers any method and heartbeats. A test can make it answer
// with errors or slowly: faults a real service shows and a stock server cannot be told to
// show on cue. Where no such switch is needed the scenarios use dubbo-go Greeter processes.
type switchServer struct {
	name   string
	ln     net.Listener
	port   int
	mode   atomic.Int32
	delay  atomic.Int64 // nanoseconds before each answer
	served atomic.Int64 // calls received (answered or failed)
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func startSwitchServer(t *testing.T, name string) *switchServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchServer{name: name, ln: ln, port: ln.Addr().(*net.TCPAddr).Port, conns: map[net.Conn]bool{}}
	go s.accept()
	t.Cleanup(s.stop)
	return s
}

func (s *switchServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *switchServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *switchServer) serve(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	var wmu sync.Mutex
	write := func(frame []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = c.Write(frame)
	}
	for {
		frame, err := dubboraw.ReadFrame(r)
		if err != nil {
			return
		}
		codec := hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)+dubboraw.HeaderLength))
		var header hessian.DubboHeader
		if err := codec.ReadHeader(&header); err != nil {
			return
		}
		if header.Type&hessian.PackageHeartbeat != 0 {
			if header.Type&hessian.PackageRequest != 0 {
				reply, err := codec.Write(hessian.Service{}, hessian.DubboHeader{SerialID: header.SerialID, Type: hessian.PackageHeartbeat,
					ID: header.ID, ResponseStatus: hessian.Response_OK}, nil)
				if err == nil {
					write(reply)
				}
			}
			continue
		}
		body := make([]any, 7)
		if err := codec.ReadBody(body); err != nil {
			return
		}
		s.served.Add(1)
		if header.Type&hessian.PackageRequest_TwoWay == 0 {
			continue // oneway
		}
		arg := ""
		if args, ok := body[5].([]any); ok && len(args) > 0 {
			arg = fmt.Sprint(args[0])
		}
		id, mode, delay := header.ID, s.mode.Load(), time.Duration(s.delay.Load())
		go func() {
			if delay > 0 {
				time.Sleep(delay) // the server's own slowness, which the test is about
			}
			respHeader := hessian.DubboHeader{SerialID: header.SerialID, Type: hessian.PackageResponse, ID: id, ResponseStatus: hessian.Response_OK}
			var resp *hessian.Response
			if mode == serveError {
				respHeader.ResponseStatus = hessian.Response_SERVER_ERROR
				resp = hessian.NewResponse(nil, fmt.Errorf("%s is failing", s.name), nil)
			} else {
				resp = hessian.NewResponse(fmt.Sprintf("hello %s from %s", arg, s.name), nil, map[string]string{"dubbo": "2.0.2"})
			}
			out, err := hessian.NewHessianCodec(nil).Write(hessian.Service{}, respHeader, resp)
			if err == nil {
				write(out)
			}
		}()
	}
}

// resilienceSetup is what a scenario's bootstrap varies.
type resilienceSetup struct {
	Admin, Proxy int
	// Ports of the cluster's endpoints, all on 127.0.0.1.
	Ports []int
	// Policy is the cluster's lb_policy.
	Policy string
	// Route holds extra fields of the route's action, YAML at its indentation (16 spaces).
	Route string
	// Cluster holds extra fields of the cluster, YAML at its indentation (4 spaces).
	Cluster string
}

var resilienceTemplate = template.Must(template.New("resilience").Parse(`admin:
  address: {socket_address: {address: 127.0.0.1, port_value: {{.Admin}}}}
static_resources:
  listeners:
  - name: dubbo
    address: {socket_address: {address: 127.0.0.1, port_value: {{.Proxy}}}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          stat_prefix: dubbo
          codec: {name: dubbo}
          route_config:
            name: routes
            routes:
            - name: all
              route:
                cluster: greeter
                timeout: 60s
{{.Route}}
  clusters:
  - name: greeter
    type: STATIC
    connect_timeout: 1s
    lb_policy: {{.Policy}}
{{.Cluster}}
    load_assignment:
      cluster_name: greeter
      endpoints:
      - lb_endpoints:
{{- range .Ports}}
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: {{.}}}}}
{{- end}}
`))

// startResilienceProxy starts `breeze proxy` on the bootstrap setup describes and waits
// until /ready answers 200.
func startResilienceProxy(t *testing.T, setup resilienceSetup) *proxyProcess {
	t.Helper()
	setup.Admin, setup.Proxy = freePort(t), freePort(t)
	if setup.Policy == "" {
		setup.Policy = "ROUND_ROBIN"
	}
	return startProxyConfig(t, render(t, resilienceTemplate, setup), loopback(setup.Proxy), loopback(setup.Admin))
}

// hostField returns one field of an endpoint in the proxy's /clusters output
// ("greeter::127.0.0.1:20881::health_flags::healthy" gives "healthy").
func (p *proxyProcess) hostField(t *testing.T, port int, field string) string {
	t.Helper()
	prefix := "greeter::" + loopback(port) + "::" + field + "::"
	for line := range strings.Lines(string(p.adminGet(t, "/clusters"))) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return v
		}
	}
	return ""
}

// waitHealth waits until the proxy reports the endpoint's health flags as want.
func (p *proxyProcess) waitHealth(t *testing.T, port int, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("endpoint %d health_flags %s", port, want), func() error {
		if got := p.hostField(t, port, "health_flags"); got != want {
			return fmt.Errorf("health_flags %q", got)
		}
		return nil
	})
}

// sayHello calls sayHello(arg) through conn and returns the server that answered, parsed
// from "hello <arg> from <server>", or the call's error.
func sayHello(conn *dubboraw.Conn, arg string, attachments map[string]string) (string, error) {
	req := greeterCall("1.0.0", "sayHello", arg)
	req.Attachments = attachments
	resp, err := conn.Call(req)
	if err != nil {
		return "", err
	}
	if resp.Err != nil {
		return "", resp.Err
	}
	text, _ := resp.Result.(string)
	_, server, ok := strings.Cut(text, " from ")
	if !ok {
		return "", fmt.Errorf("unexpected reply %q", text)
	}
	return server, nil
}
