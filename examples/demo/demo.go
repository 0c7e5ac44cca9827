// Package demo is `breeze demo`: Breeze on one laptop, without Kubernetes. It starts two
// Greeter servers (v1 and v2, see examples/dubbo/greeter), the control plane reading the
// mesh configuration of examples/mesh (MetaRouter, DestinationRule, ...), a Breeze proxy
// configured by it over xDS, and a client sending a mix of calls through the proxy; it
// prints a table, refreshed every second, of where each kind of call landed and what the
// proxy counted, until its context ends (Ctrl-C). Then it stops everything it started,
// saying so. Editing examples/mesh/greeter-metarouter.yaml while it runs moves the traffic.
//
// Everything listens on 127.0.0.1, on ports picked free at start. The servers, the control
// plane and the proxy are child processes of the running binary: `<breeze> control ...`,
// `<breeze> proxy -c <file>`, and each server the same binary with an environment variable
// that makes this package's init serve a Greeter instead (dubbo-go allows one server per
// process).
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
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// bootstrapTemplate is the proxy configuration, with the ports left as template fields.
//
//go:embed bootstrap.yaml
var bootstrapTemplate string

// Ports are the loopback ports one demo run uses: the proxy's admin server, the Greeter
// service's port (where the proxy's outbound listener for it accepts calls), the two
// servers, and the control plane's xDS server.
type Ports struct {
	Admin, Proxy, V1, V2, XDS int
}

// Options tune a demo run; the zero value is what `breeze demo` uses.
type Options struct {
	// Breeze is the breeze binary that runs the proxy and the control plane. Default: the
	// running executable.
	Breeze string
	// Interval between table refreshes. Default one second.
	Interval time.Duration
	// Rate is the client's calls per second. Default 200.
	Rate int
	// Ports to use; zero fields are picked free.
	Ports Ports
	// Mesh is the directory of mesh configuration the control plane reads (its
	// greeter-service.yaml is replaced by the demo's, with the demo's ports). Default: the
	// repository's examples/mesh, found from the working directory upwards, or else a copy
	// of it.
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
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: cannot find the running executable: %w", err)
	}
	if opts.Breeze == "" {
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

	// dubbo-go logs every connection event; keep the client's log out of the table.
	clientLog, err := os.Create(filepath.Join(dir, "client.log"))
	if err != nil {
		return err
	}
	defer clientLog.Close()
	if err := greeter.SetLogging(clientLog, "warn"); err != nil {
		return err
	}

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
	servicePath := filepath.Join(dir, meshServiceFile)
	if err := writeTemplate(servicePath, serviceTemplate, ports); err != nil {
		return err
	}
	fmt.Fprintf(out, "breeze demo: working directory %s (proxy config and logs)\n", dir)

	servers := []struct {
		name string
		port int
	}{{"v1", ports.V1}, {"v2", ports.V2}}
	for _, s := range servers {
		cmd := exec.Command(self)
		cmd.Args = []string{self, "demo-greeter-" + s.name}
		cmd.Env = append(os.Environ(), greeterChildEnv+"="+s.name+":"+strconv.Itoa(s.port))
		p, err := startProcess(ctx, "greeter "+s.name, cmd, filepath.Join(dir, "greeter-"+s.name+".log"), greeterReadyLine, startTimeout)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		started = append(started, p)
		fmt.Fprintf(out, "  started greeter %s on 127.0.0.1:%d (pid %d)\n", s.name, s.port, p.pid())
	}

	xdsAddr := "127.0.0.1:" + strconv.Itoa(ports.XDS)
	controlCmd := exec.Command(opts.Breeze, controlArgs(meshFiles, servicePath, xdsAddr)...)
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
	proxyAddr := "127.0.0.1:" + strconv.Itoa(ports.Proxy)
	httpClient := &http.Client{Timeout: 2 * time.Second}
	if err := waitReady(ctx, httpClient, adminAddr, proxyAddr, proxy, control); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "  started breeze proxy on %s, admin on http://%s (pid %d)\n", proxyAddr, adminAddr, proxy.pid())
	if live {
		fmt.Fprintf(out, "  edit %s while the demo runs: the traffic moves within a second\n",
			filepath.Join(meshDir, "greeter-metarouter.yaml"))
	}

	load, err := newTraffic(proxyAddr, trafficMix)
	if err != nil {
		return fmt.Errorf("demo: client: %w", err)
	}
	fmt.Fprintf(out, "  client sending %d calls/s to the proxy\n\n", opts.Rate)
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
// configuration runs) and its listener for the Greeter accepts connections.
func waitReady(ctx context.Context, client *http.Client, adminAddr, listenerAddr string, proxy, control *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if proxyReady(ctx, client, adminAddr) {
			if c, err := net.DialTimeout("tcp", listenerAddr, time.Second); err == nil {
				c.Close()
				return nil
			}
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

// render fills a template (bootstrap.yaml, greeter-service.yaml.tmpl) with ports.
func render(text string, ports Ports) ([]byte, error) {
	tmpl, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	data := map[string]int{"AdminPort": ports.Admin, "ServicePort": ports.Proxy, "V1Port": ports.V1, "V2Port": ports.V2, "XDSPort": ports.XDS}
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
	for _, port := range []*int{&p.Admin, &p.Proxy, &p.V1, &p.V2, &p.XDS} {
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
	for _, port := range []int{p.Admin, p.Proxy, p.V1, p.V2, p.XDS} {
		if seen[port] {
			return p, errors.New("demo: the same port was picked twice; try again")
		}
		seen[port] = true
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
