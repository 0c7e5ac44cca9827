// Package demo is `breeze demo`: Breeze on one laptop, without Kubernetes. It starts two
// Dubbo Greeter servers and two Thrift Greeter servers (v1 and v2 of each, see
// examples/dubbo/hessiangreeter and examples/thrift/greeter), the control plane reading the mesh
// configuration of examples/mesh (MetaRouters, DestinationRules, ...), a Breeze proxy
// configured by it over xDS, and a client sending a mix of calls of both protocols through
// the proxy; it prints a table, refreshed every second, of where each kind of call landed
// and what the proxy counted, per route and version, until its context ends (Ctrl-C). Then
// it stops everything it started, saying so. Editing examples/mesh/greeter-metarouter.yaml
// or examples/mesh/thrift-greeter-metarouter.yaml while it runs moves the traffic.
//
// Everything listens on 127.0.0.1, on ports picked free at start. The servers, the control
// plane and the proxy are child processes of the breeze binary: `<breeze> control ...`,
// `<breeze> proxy -c <file>`, and each server `<breeze> demo-child ...` (see RunChild).
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// bootstrapTemplate is the proxy configuration, with the ports left as template fields.
//
//go:embed bootstrap.yaml
var bootstrapTemplate string

// Ports are the loopback ports one demo run uses: the proxy's admin server, the control
// plane's xDS server, and for each protocol the Greeter service's port (where the proxy's
// outbound listener for it accepts calls) and its two servers.
type Ports struct {
	Admin, XDS                 int
	Dubbo, DubboV1, DubboV2    int
	Thrift, ThriftV1, ThriftV2 int
}

// all lists the fields of p, to fill and check them in one loop.
func (p *Ports) all() []*int {
	return []*int{&p.Admin, &p.XDS, &p.Dubbo, &p.DubboV1, &p.DubboV2, &p.Thrift, &p.ThriftV1, &p.ThriftV2}
}

// Options tune a demo run; the zero value is what `breeze demo` uses.
type Options struct {
	// Breeze is the breeze binary that runs the servers (its hidden demo-child command),
	// the proxy and the control plane. Default: the running executable.
	Breeze string
	// Interval between table refreshes. Default one second.
	Interval time.Duration
	// Rate is the client's calls per second. Default 200.
	Rate int
	// Ports to use; zero fields are picked free.
	Ports Ports
	// Mesh is the directory of mesh configuration the control plane reads (its
	// greeter-service.yaml and thrift-greeter-service.yaml are replaced by the demo's, with
	// the demo's ports). Default: the repository's examples/mesh, found from the working
	// directory upwards, or else a copy of it.
	Mesh string
}

// startTimeout bounds how long a server or the proxy may take to come up.
const startTimeout = 30 * time.Second

// Run runs the demo with default options until ctx ends; see the package documentation.
func Run(ctx context.Context, out io.Writer) error {
	return RunWithOptions(ctx, out, Options{})
}

// RunWithOptions runs the demo until ctx ends. It returns nil when stopped by ctx, and an
// error when something it started fails.
func RunWithOptions(ctx context.Context, out io.Writer, opts Options) (err error) {
	defer func() {
		// Ctrl-C while starting is a normal way to stop, not a failure.
		if interrupted(ctx, err) {
			err = nil
		}
	}()
	if opts.Breeze == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("demo: cannot find the running executable: %w", err)
		}
		opts.Breeze = self
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Rate <= 0 {
		opts.Rate = 200
	}
	ports, err := pickPorts(opts.Ports)
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "breeze-demo-")
	if err != nil {
		return err
	}
	var started []*process
	defer func() {
		// Stop in reverse order of start: the proxy before the servers behind it.
		if len(started) > 0 {
			fmt.Fprintln(out, "stopping the processes the demo started:")
		}
		for i := len(started) - 1; i >= 0; i-- {
			if stopErr := started[i].stop(out); stopErr != nil && err == nil {
				err = fmt.Errorf("demo: %s: %w", started[i].name, stopErr)
			}
		}
		if err != nil && !interrupted(ctx, err) {
			fmt.Fprintf(out, "logs kept in %s\n", dir)
			return
		}
		fmt.Fprintf(out, "  removing %s\n", dir)
		os.RemoveAll(dir)
	}()

	configPath := filepath.Join(dir, "bootstrap.yaml")
	if err := writeTemplate(configPath, bootstrapTemplate, ports); err != nil {
		return err
	}
	meshDir, live, err := findMesh(opts.Mesh, dir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	meshFiles, err := meshFiles(meshDir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var serviceFiles []string
	for name, text := range serviceTemplates {
		path := filepath.Join(dir, name)
		if err := writeTemplate(path, text, ports); err != nil {
			return err
		}
		serviceFiles = append(serviceFiles, path)
	}
	slices.Sort(serviceFiles)
	fmt.Fprintf(out, "breeze demo: working directory %s (proxy config and logs)\n", dir)

	for _, c := range children(ports) {
		cmd := exec.Command(opts.Breeze, c.Args()...)
		logPath := filepath.Join(dir, c.Protocol+"-greeter-"+c.Name+".log")
		p, err := startProcess(ctx, c.String(), cmd, logPath, childReadyLine, startTimeout)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		started = append(started, p)
		fmt.Fprintf(out, "  started %s on 127.0.0.1:%d (pid %d)\n", c, c.Port, p.pid())
	}

	xdsAddr := "127.0.0.1:" + strconv.Itoa(ports.XDS)
	controlCmd := exec.Command(opts.Breeze, controlArgs(meshFiles, serviceFiles, xdsAddr)...)
	control, err := startProcess(ctx, "control plane", controlCmd, filepath.Join(dir, "control.log"), "", startTimeout)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	started = append(started, control)
	fmt.Fprintf(out, "  started breeze control on %s (pid %d), reading %s\n", xdsAddr, control.pid(), meshDir)

	proxyCmd := exec.Command(opts.Breeze, "proxy", "-c", configPath, "--log-level", "warn")
	proxy, err := startProcess(ctx, "proxy", proxyCmd, filepath.Join(dir, "proxy.log"), "", startTimeout)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	started = append(started, proxy)
	adminAddr := "127.0.0.1:" + strconv.Itoa(ports.Admin)
	listeners := map[string]string{
		Dubbo:  "127.0.0.1:" + strconv.Itoa(ports.Dubbo),
		Thrift: "127.0.0.1:" + strconv.Itoa(ports.Thrift),
	}
	httpClient := &http.Client{Timeout: 2 * time.Second}
	if err := waitReady(ctx, httpClient, adminAddr, []string{listeners[Dubbo], listeners[Thrift]}, proxy, control); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "  started breeze proxy on %s (dubbo) and %s (thrift), admin on http://%s (pid %d)\n",
		listeners[Dubbo], listeners[Thrift], adminAddr, proxy.pid())
	if live {
		for _, f := range metaRouterFiles {
			fmt.Fprintf(out, "  edit %s while the demo runs: the traffic moves within a second\n", filepath.Join(meshDir, f))
		}
	}

	load, err := newTraffic(listeners, trafficMix)
	if err != nil {
		return fmt.Errorf("demo: client: %w", err)
	}
	defer load.close()
	fmt.Fprintf(out, "  client sending %d calls/s to the proxy, dubbo and thrift\n\n", opts.Rate)
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		load.run(loadCtx, opts.Rate, 4)
	}()
	defer func() {
		fmt.Fprint(out, "\nstopping the client ... ")
		stopLoad()
		<-loadDone
		fmt.Fprintln(out, "stopped")
	}()

	return showTable(ctx, out, opts.Interval, load, httpClient, adminAddr, proxy, control)
}

// interrupted reports whether err is just ctx ending.
func interrupted(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
}

// showTable redraws the table every interval until ctx ends or the proxy or the control
// plane exits.
func showTable(ctx context.Context, out io.Writer, interval time.Duration, load *traffic, httpClient *http.Client, adminAddr string, proxy, control *process) error {
	start := time.Now()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	redraw := isTerminal(out)
	prevLines := 0
	prevSent, prevAt := int64(0), start
	var prevStats []kindStats
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-proxy.exited:
			return fmt.Errorf("demo: the proxy exited unexpectedly (%w); see %s", exitCause(proxy.waitErr), proxy.logPath)
		case <-control.exited:
			return fmt.Errorf("demo: the control plane exited unexpectedly (%w); see %s", exitCause(control.waitErr), control.logPath)
		case <-ticker.C:
		}
		now := time.Now()
		stats := load.snapshot()
		sent := totalSent(stats)
		v := view{
			elapsed: now.Sub(start),
			rate:    float64(sent-prevSent) / now.Sub(prevAt).Seconds(),
			servers: []string{"v1", "v2"},
			kinds:   load.kinds,
			stats:   stats,
			recent:  since(stats, prevStats),
		}
		prevSent, prevAt, prevStats = sent, now, stats
		v.proxy, v.proxyErr = scrapeMetrics(ctx, httpClient, adminAddr)
		if ctx.Err() != nil {
			return nil
		}
		text := v.render()
		if redraw && prevLines > 0 {
			// Move the cursor back over the previous table and clear to the end of screen.
			fmt.Fprintf(out, "\x1b[%dA\x1b[J", prevLines)
		} else if !redraw && prevLines > 0 {
			fmt.Fprintln(out)
		}
		_, _ = io.WriteString(out, text) // the terminal going away ends the demo via ctx, not here
		prevLines = strings.Count(text, "\n")
	}
}

// waitReady polls the proxy's admin /ready until it answers 200 (the control plane's
// configuration runs) and its listeners for the Greeters accept connections.
func waitReady(ctx context.Context, client *http.Client, adminAddr string, listenerAddrs []string, proxy, control *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if proxyReady(ctx, client, adminAddr) && accepting(listenerAddrs) {
			return nil
		}
		select {
		case <-proxy.exited:
			return fmt.Errorf("the proxy exited during start (%w); see %s", exitCause(proxy.waitErr), proxy.logPath)
		case <-control.exited:
			return fmt.Errorf("the control plane exited during start (%w); see %s", exitCause(control.waitErr), control.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the proxy is not ready after %s; see %s and %s", startTimeout, proxy.logPath, control.logPath)
		}
	}
}

// accepting reports whether every address accepts a TCP connection.
func accepting(addrs []string) bool {
	for _, addr := range addrs {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// children are the demo's servers: v1 and v2 of each Greeter.
func children(ports Ports) []Child {
	return []Child{
		{Protocol: Dubbo, Name: "v1", Port: ports.DubboV1},
		{Protocol: Dubbo, Name: "v2", Port: ports.DubboV2},
		{Protocol: Thrift, Name: "v1", Port: ports.ThriftV1},
		{Protocol: Thrift, Name: "v2", Port: ports.ThriftV2},
	}
}

// proxyReady reports whether the proxy's /ready answers 200.
func proxyReady(ctx context.Context, client *http.Client, adminAddr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/ready", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// render fills a template (bootstrap.yaml, the *-service.yaml.tmpl files) with ports.
func render(text string, ports Ports) ([]byte, error) {
	tmpl, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	data := map[string]int{
		"AdminPort": ports.Admin, "XDSPort": ports.XDS,
		"DubboPort": ports.Dubbo, "DubboV1Port": ports.DubboV1, "DubboV2Port": ports.DubboV2,
		"ThriftPort": ports.Thrift, "ThriftV1Port": ports.ThriftV1, "ThriftV2Port": ports.ThriftV2,
	}
	if err := tmpl.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeTemplate renders a template with ports into path.
func writeTemplate(path, text string, ports Ports) error {
	data, err := render(text, ports)
	if err != nil {
		return fmt.Errorf("demo: %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, data, 0o644)
}

// pickPorts fills the zero fields of p with free loopback ports. The ports are free when
// picked; another program could take one before the demo binds it, which the demo then
// reports as a start failure.
func pickPorts(p Ports) (Ports, error) {
	for _, port := range p.all() {
		if *port != 0 {
			continue
		}
		free, err := freePort()
		if err != nil {
			return p, fmt.Errorf("demo: pick a free port: %w", err)
		}
		*port = free
	}
	seen := map[int]bool{}
	for _, port := range p.all() {
		if seen[*port] {
			return p, errors.New("demo: the same port was picked twice; try again")
		}
		seen[*port] = true
	}
	return p, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// isTerminal reports whether out is a terminal, where the table is redrawn in place;
// elsewhere (a file, a pipe) each refresh is appended.
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
