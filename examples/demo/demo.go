// Package demo is `breeze demo`: Breeze on one laptop, without Kubernetes. It starts two
// Greeter servers (v1 and v2, see examples/dubbo/greeter), a Breeze proxy routing between
// them (bootstrap.yaml in this folder), and a client sending a mix of calls through the
// proxy; it prints a table, refreshed every second, of where each kind of call landed and
// what the proxy counted, until its context ends (Ctrl-C). Then it stops everything it
// started, saying so.
//
// Everything listens on 127.0.0.1, on ports picked free at start. The servers and the proxy
// are child processes of the running binary: the proxy runs as `<breeze> proxy -c <file>`,
// and each server as the same binary with an environment variable that makes this
// package's init serve a Greeter instead (dubbo-go allows one server per process).
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

// Ports are the loopback ports one demo run uses.
type Ports struct {
	Admin, Proxy, V1, V2 int
}

// Options tune a demo run; the zero value is what `breeze demo` uses.
type Options struct {
	// Breeze is the breeze binary that runs the proxy. Default: the running executable.
	Breeze string
	// Interval between table refreshes. Default one second.
	Interval time.Duration
	// Rate is the client's calls per second. Default 200.
	Rate int
	// Ports to use; zero fields are picked free.
	Ports Ports
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
	if err := writeBootstrap(configPath, ports); err != nil {
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

	proxyCmd := exec.Command(opts.Breeze, "proxy", "-c", configPath, "--log-level", "warn")
	proxy, err := startProcess(ctx, "proxy", proxyCmd, filepath.Join(dir, "proxy.log"), "", startTimeout)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	started = append(started, proxy)
	adminAddr := "127.0.0.1:" + strconv.Itoa(ports.Admin)
	proxyAddr := "127.0.0.1:" + strconv.Itoa(ports.Proxy)
	httpClient := &http.Client{Timeout: 2 * time.Second}
	if err := waitReady(ctx, httpClient, adminAddr, proxy); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "  started breeze proxy on %s, admin on http://%s (pid %d)\n", proxyAddr, adminAddr, proxy.pid())

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

	return showTable(ctx, out, opts.Interval, load, httpClient, adminAddr, proxy)
}

// interrupted reports whether err is just ctx ending.
func interrupted(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
}

// showTable redraws the table every interval until ctx ends or the proxy exits.
func showTable(ctx context.Context, out io.Writer, interval time.Duration, load *traffic, httpClient *http.Client, adminAddr string, proxy *process) error {
	start := time.Now()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	redraw := isTerminal(out)
	prevLines := 0
	prevSent, prevAt := int64(0), start
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-proxy.exited:
			return fmt.Errorf("demo: the proxy exited unexpectedly (%w); see %s", exitCause(proxy.waitErr), proxy.logPath)
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
		}
		prevSent, prevAt = sent, now
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

// waitReady polls the proxy's admin /ready until it answers 200.
func waitReady(ctx context.Context, client *http.Client, adminAddr string, proxy *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/ready", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-proxy.exited:
			return fmt.Errorf("the proxy exited during start (%w); see %s", exitCause(proxy.waitErr), proxy.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the proxy is not ready after %s; see %s", startTimeout, proxy.logPath)
		}
	}
}

// renderBootstrap fills the bootstrap template with ports.
func renderBootstrap(ports Ports) ([]byte, error) {
	tmpl, err := template.New("bootstrap.yaml").Option("missingkey=error").Parse(bootstrapTemplate)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	data := map[string]int{"AdminPort": ports.Admin, "ProxyPort": ports.Proxy, "V1Port": ports.V1, "V2Port": ports.V2}
	if err := tmpl.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeBootstrap(path string, ports Ports) error {
	data, err := renderBootstrap(ports)
	if err != nil {
		return fmt.Errorf("demo: bootstrap template: %w", err)
	}
	return os.WriteFile(path, data, 0o644)
}

// pickPorts fills the zero fields of p with free loopback ports. The ports are free when
// picked; another program could take one before the demo binds it, which the demo then
// reports as a start failure.
func pickPorts(p Ports) (Ports, error) {
	for _, port := range []*int{&p.Admin, &p.Proxy, &p.V1, &p.V2} {
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
	for _, port := range []int{p.Admin, p.Proxy, p.V1, p.V2} {
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
