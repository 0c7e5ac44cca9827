package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/internal/proctest"
)

// Bounds on waiting. They are failure deadlines for polls, never expectations about speed.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	pollTimeout  = 30 * time.Second
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	return proctest.FreePort(t)
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// pickPorts sets each of ports that is still 0 to a free port.
func pickPorts(t *testing.T, ports ...*int) {
	t.Helper()
	for _, p := range ports {
		if *p == 0 {
			*p = freePort(t)
		}
	}
}

// waitFor polls cond until it returns nil, failing the test with cond's last error after
// pollTimeout.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	proctest.Poll(t, what, pollTimeout, 20*time.Millisecond, cond)
}

// child is a process a test started.
type child struct {
	name   string
	cmd    *exec.Cmd
	output *proctest.SyncBuffer
	// exited is closed when the process has exited; waitErr is then its status.
	exited  chan struct{}
	waitErr error
	// endedByTest marks a child the test itself stopped (killed, interrupted): its exit is
	// checked by that test, not by the cleanup.
	endedByTest bool
}

// startChild starts cmd, collecting its stdout and stderr. If readyLine is not empty it
// returns once a stdout line contains it. The process is stopped at the end of the test; a
// process that exits on its own, or badly when stopped, fails the test.
func startChild(t *testing.T, name string, cmd *exec.Cmd, readyLine string) *child {
	t.Helper()
	c := &child{name: name, cmd: cmd, output: &proctest.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = c.output
	cmd.SysProcAttr = childSysProcAttr()
	ready := make(chan struct{})
	var stdout *os.File
	if readyLine == "" {
		cmd.Stdout = c.output
		close(ready)
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = w
		stdout = r
		defer w.Close() // the child has its own copy once started
	}
	if err := cmd.Start(); err != nil {
		if stdout != nil {
			stdout.Close()
		}
		t.Fatalf("start %s: %v", name, err)
	}
	copied := make(chan struct{})
	if stdout != nil {
		go func() {
			defer close(copied)
			defer stdout.Close()
			scanner := bufio.NewScanner(stdout)
			seen := false
			for scanner.Scan() {
				line := scanner.Text()
				fmt.Fprintln(c.output, line)
				if !seen && strings.Contains(line, readyLine) {
					seen = true
					close(ready)
				}
			}
		}()
	} else {
		close(copied)
	}
	go func() {
		c.waitErr = cmd.Wait()
		<-copied
		close(c.exited)
	}()
	t.Cleanup(func() { c.stopAndCheck(t) })

	select {
	case <-ready:
		return c
	case <-c.exited:
		t.Fatalf("%s exited during start: %v\n%s", name, c.waitErr, c.output)
	case <-time.After(startTimeout):
		t.Fatalf("%s printed no %q within %s:\n%s", name, readyLine, startTimeout, c.output)
	}
	return nil
}

// stopAndCheck stops the child with SIGTERM (SIGKILL after stopTimeout) and fails the test
// if it had died on its own or exits badly. Its output is logged when the test failed.
func (c *child) stopAndCheck(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		if !c.endedByTest {
			t.Errorf("%s exited on its own during the test: %v", c.name, c.waitErr)
		}
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
			if c.waitErr != nil {
				t.Errorf("%s exited badly after SIGTERM: %v", c.name, c.waitErr)
			}
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.exited
			t.Errorf("%s did not stop within %s of SIGTERM", c.name, stopTimeout)
		}
	}
	if t.Failed() {
		t.Logf("--- output of %s ---\n%s", c.name, c.output)
	}
}

// kill stops the child abruptly (SIGKILL) and waits for it to be gone.
func (c *child) kill(t *testing.T) {
	t.Helper()
	c.endedByTest = true
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill %s: %v", c.name, err)
	}
	<-c.exited
}

// signal sends sig to the child and returns its exit status once it has exited, or an
// error if it has not within stopTimeout (it is then killed).
func (c *child) signal(t *testing.T, sig os.Signal) error {
	t.Helper()
	c.endedByTest = true
	if err := c.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("%s did not exit within %s of %s", c.name, stopTimeout, sig)
	}
}

// alive fails the test if the child has exited.
func (c *child) alive(t *testing.T) {
	t.Helper()
	select {
	case <-c.exited:
		t.Fatalf("%s exited: %v\n%s", c.name, c.waitErr, c.output)
	default:
	}
}

// greeterServer is a Greeter server process (examples/dubbo/server).
type greeterServer struct {
	*child
	name string
	port int
	addr string
}

// startGreeter starts a Greeter server called name on port, exporting versions 1.0.0 and
// 2.0.0, and waits until it serves.
func startGreeter(t *testing.T, name string, port int) *greeterServer {
	t.Helper()
	cmd := exec.Command(binaries.greeter, "-name", name, "-port", strconv.Itoa(port), "-log-level", "error")
	c := startChild(t, "greeter "+name, cmd, "ready on")
	return &greeterServer{child: c, name: name, port: port, addr: loopback(port)}
}

// proxyProcess is a `breeze proxy` process.
type proxyProcess struct {
	*child
	// addr is the Dubbo listener, admin the admin server.
	addr, admin string
	http        *http.Client
}

// bootstrapPorts are the values a bootstrap template in testdata/ refers to.
type bootstrapPorts struct {
	Admin, Proxy int
	// V1 and V2 are the endpoints of clusters greeter-v1 and greeter-v2; Upstream is the
	// endpoint of the single-cluster templates.
	V1, V2, Upstream int
}

// startProxy renders testdata/<template> with ports, starts `breeze proxy` on it and waits
// until its admin /ready answers 200.
func startProxy(t *testing.T, templateName string, ports bootstrapPorts) *proxyProcess {
	t.Helper()
	pickPorts(t, &ports.Admin, &ports.Proxy)
	return startProxyConfig(t, renderTestdata(t, templateName, ports), loopback(ports.Proxy), loopback(ports.Admin))
}

// renderTestdata renders the template testdata/<name> with data; a key the template names
// and data lacks is an error.
func renderTestdata(t *testing.T, name string, data any) []byte {
	t.Helper()
	tmpl, err := template.New(name).Option("missingkey=error").ParseFiles(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return render(t, tmpl, data)
}

// render executes tmpl with data.
func render(t *testing.T, tmpl *template.Template, data any) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// startProxyConfig starts `breeze proxy` on the bootstrap config, whose admin server is at
// admin and whose listener of interest is at addr, and waits until /ready answers 200.
func startProxyConfig(t *testing.T, config []byte, addr, admin string) *proxyProcess {
	t.Helper()
	return startNamedProxy(t, "breeze proxy", config, addr, admin)
}

// staticBootstrap is a static bootstrap config for startProxyConfig: the admin server on
// port admin and one meta_protocol_proxy listener on port listen, named after codec, which
// is also its stat_prefix. routes is the listener's route list, YAML at its indentation (12
// spaces), optionally followed by more MetaProtocolProxy fields at theirs (10 spaces, e.g.
// meta_protocol_filters); clusters is the cluster list, YAML at its indentation (2 spaces).
// Both end in a newline.
func staticBootstrap(admin, listen int, codec, routes, clusters string) string {
	return fmt.Sprintf(`admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %[1]d}}
static_resources:
  listeners:
  - name: %[3]s
    address: {socket_address: {address: 127.0.0.1, port_value: %[2]d}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          stat_prefix: %[3]s
          codec: {name: %[3]s}
          route_config:
            routes:
%[4]s  clusters:
%[5]s`, admin, listen, codec, routes, clusters)
}

// startNamedProxy is startProxyConfig for a proxy that the test's failures and logs call
// name. Every proxy process of the harness starts here.
func startNamedProxy(t *testing.T, name string, config []byte, addr, admin string) *proxyProcess {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, config, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binaries.breeze, "proxy", "-c", path, "--log-level", "info")
	p := &proxyProcess{
		child: startChild(t, name, cmd, ""),
		addr:  addr,
		admin: admin,
		http:  &http.Client{Timeout: 5 * time.Second},
	}
	waitFor(t, name+" /ready", func() error {
		select {
		case <-p.exited:
			t.Fatalf("%s exited during start: %v\n%s\nconfig:\n%s", name, p.waitErr, p.output, config)
		default:
		}
		return p.readyErr()
	})
	return p
}

// get fetches path from the proxy's admin server: its status code and body.
func (p *proxyProcess) get(path string) (int, []byte, error) {
	resp, err := p.http.Get("http://" + p.admin + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// adminGet returns the body of path on the proxy's admin server, failing the test unless
// it answers 200.
func (p *proxyProcess) adminGet(t *testing.T, path string) []byte {
	t.Helper()
	code, body, err := p.get(path)
	if err != nil {
		t.Fatalf("proxy %s: %v", path, err)
	}
	if code != http.StatusOK {
		t.Fatalf("proxy %s: %d %s: %s", path, code, http.StatusText(code), body)
	}
	return body
}

// readyErr is nil if the proxy's /ready answers 200, and says why not otherwise.
func (p *proxyProcess) readyErr() error {
	code, body, err := p.get("/ready")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("/ready: %d %s: %s", code, http.StatusText(code), bytes.TrimSpace(body))
	}
	return nil
}

// metric returns the value of the series of name with exactly the labels given (other
// labels of the series may be anything), and whether such a series exists. Several
// matching series are added up.
func (p *proxyProcess) metric(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	samples, err := parseMetrics(bytes.NewReader(p.adminGet(t, "/stats/prometheus")))
	if err != nil {
		t.Fatal(err)
	}
	total, found := 0.0, false
	for _, s := range samples {
		if s.name == name && hasLabels(s.labels, labels) {
			total += s.value
			found = true
		}
	}
	return total, found
}

// counter is metric for a series that must exist.
func (p *proxyProcess) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := p.metric(t, name, labels)
	if !ok {
		t.Fatalf("metric %s%v not exported by the proxy", name, labels)
	}
	return v
}

// ready fails the test unless the proxy process runs and its /ready answers 200.
func (p *proxyProcess) ready(t *testing.T) {
	t.Helper()
	p.alive(t)
	if err := p.readyErr(); err != nil {
		t.Fatalf("proxy: %v", err)
	}
}

// dialGreeter returns a dubbo-go Greeter client calling through addr.
func dialGreeter(t *testing.T, addr, iface, version string, timeout time.Duration) *greeter.Client {
	t.Helper()
	c, err := greeter.Dial(greeter.ClientConfig{Address: "dubbo://" + addr, Interface: iface, Version: version, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
