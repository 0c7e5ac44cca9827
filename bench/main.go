// Command bench measures a proxy side by side with a direct connection: the same load
// generator, upstream server and payloads, in one run, so machine noise affects both alike.
// For each scenario it reports throughput, latency percentiles and what the proxy process
// spent (CPU per request from /proc, RSS, threads, goroutines), writes JSON, a Markdown
// table and PNG plots, and warns when the load generator rather than the proxy is the
// bottleneck.
//
//	go run ./bench                      # every scenario, results in bench/results/
//	go run ./bench -list                # the scenarios
//	go run ./bench dubbo/small open     # some of them
//	go run ./bench -quick -out /tmp/b   # a smoke run (CI)
//
// Breeze is measured by default (built from ./cmd/breeze). Any other proxy is measured by
// giving its start command and the address it listens on; see bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/breeze-mesh/breeze/bench/affinity"
	"github.com/breeze-mesh/breeze/bench/procstat"
	"github.com/breeze-mesh/breeze/bench/report"
	"github.com/breeze-mesh/breeze/bench/target"
	"golang.org/x/sys/unix"
)

type options struct {
	out          string
	runs         int
	warmup       time.Duration
	duration     time.Duration
	fractions    []float64
	openConns    int
	idleConns    int
	pin          string
	proxyCmd     string
	proxyAddr    string
	proxyName    string
	proxyMetrics string
	proxyEnv     []string
	upstreamAddr string
	readme       string
	quick        bool
	list         bool
	cpuProfile   string
	render       string
	breezeBin    string
	noiseBudget  time.Duration
}

func main() {
	if runRole() {
		return
	}
	opts, patterns, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(opts, patterns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, []string, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench [flags] [scenario patterns...]\n\n"+
			"Patterns are globs over scenario names (*/small/16x4) or leading name segments\n"+
			"(dubbo, open, dubbo/1KiB); none means every scenario. Flags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.out, "out", "", "directory for results.json, results.md and the plots (default bench/results of this module)")
	fs.IntVar(&o.runs, "runs", 3, "repetitions of every measurement; the median is reported")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unrecorded load before each measurement")
	fs.DurationVar(&o.duration, "duration", 1500*time.Millisecond, "measured window of each run")
	fs.DurationVar(&o.noiseBudget, "noise-budget", 90*time.Second, "how long the whole run may wait for other processes to leave the CPUs alone, and re-measure after they did not")
	fractions := fs.String("open-load", "0.1,0.3,0.5,0.7,0.9", "open-loop offered loads, as fractions of the proxied saturation throughput")
	fs.IntVar(&o.openConns, "open-conns", 16, "connections of open-loop runs")
	fs.IntVar(&o.idleConns, "idle-conns", 10000, "connections of the idle-connection scenario")
	fs.StringVar(&o.pin, "pin", "auto", "pin the proxy to one CPU and the load generator and upstream to the others: auto (when there are at least 2 CPUs and it is permitted), on, off")
	fs.StringVar(&o.proxyCmd, "proxy-cmd", "", "start command of another proxy to measure instead of Breeze (run by /bin/sh as exec <cmd>, so wrap several steps in sh -c '...'; placeholders {upstream} {upstream_host} {upstream_port} {listen} {listen_port} {admin_port} {protocol})")
	fs.StringVar(&o.proxyAddr, "proxy-addr", "", "with -proxy-cmd: the address that proxy listens on (placeholders allowed)")
	fs.StringVar(&o.proxyName, "proxy-name", "", "with -proxy-cmd: its name in the report (default: the command's first word)")
	fs.StringVar(&o.proxyMetrics, "proxy-metrics", "", "with -proxy-cmd: a Prometheus endpoint with go_goroutines, if it has one")
	env := fs.String("proxy-env", "", "extra environment for the proxy, comma-separated (e.g. GOMAXPROCS=2)")
	fs.StringVar(&o.upstreamAddr, "upstream-addr", "127.0.0.1:0", "where the upstream server listens (set it when the proxy's own config names a fixed upstream)")
	fs.StringVar(&o.readme, "readme", "", "also replace the results section of this README (between <!-- results:begin --> and <!-- results:end -->)")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: 1 run of 300ms per measurement, 200 idle connections, one open-loop load (for CI; the figures mean little)")
	fs.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	fs.StringVar(&o.breezeBin, "breeze", "", "a breeze binary to measure instead of building ./cmd/breeze (to compare two builds)")
	fs.StringVar(&o.render, "render", "", "measure nothing: write the Markdown, the plots and the -readme section again from this results.json")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the harness itself (load generator) to this file")
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	for _, s := range strings.Split(*fractions, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f <= 0 || f > 2 {
			return o, nil, fmt.Errorf("-open-load: %q is not a fraction in (0, 2]", s)
		}
		o.fractions = append(o.fractions, f)
	}
	if *env != "" {
		o.proxyEnv = strings.Split(*env, ",")
	}
	if o.quick {
		o.runs, o.warmup, o.duration, o.idleConns = 1, 100*time.Millisecond, 300*time.Millisecond, 200
		o.noiseBudget = min(o.noiseBudget, 10*time.Second)
		o.fractions = []float64{0.5}
	}
	if o.runs < 1 || o.duration <= 0 {
		return o, nil, fmt.Errorf("-runs and -duration must be positive")
	}
	if (o.proxyCmd == "") != (o.proxyAddr == "") {
		return o, nil, fmt.Errorf("-proxy-cmd and -proxy-addr go together")
	}
	switch o.pin {
	case "auto", "on", "off":
	default:
		return o, nil, fmt.Errorf("-pin %q: want auto, on or off", o.pin)
	}
	return o, fs.Args(), nil
}

func run(opts options, patterns []string) error {
	scenarios, err := selectScenarios(allScenarios(), patterns)
	if err != nil {
		return err
	}
	if opts.list {
		for _, s := range allScenarios() {
			fmt.Println(s.name)
		}
		return nil
	}
	if opts.render != "" {
		return render(opts)
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	started := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if opts.out == "" {
		opts.out = filepath.Join(root, "bench", "results")
	}
	if err := os.MkdirAll(opts.out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "breeze-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	h := &harness{opts: opts, tmp: tmp, log: os.Stderr, rep: &report.Report{}, noiseBudget: opts.noiseBudget}
	machineCPUs := runtime.NumCPU()
	if h.cpus, err = planCPUs(opts.pin, machineCPUs); err != nil {
		return err
	}
	if h.cpus.pinned {
		if err := affinity.PinSelf(h.cpus.loader); err != nil {
			return fmt.Errorf("pinning the harness: %w", err)
		}
		runtime.GOMAXPROCS(len(h.cpus.loader))
	}

	if opts.proxyCmd == "" {
		bin := opts.breezeBin
		if bin == "" {
			fmt.Fprintln(os.Stderr, "building ./cmd/breeze ...")
			if bin, err = buildBreeze(root, tmp); err != nil {
				return err
			}
		}
		codecs, err := breezeCodecs(bin)
		if err != nil {
			return err
		}
		h.spec, h.isBreeze, h.breezeBin = breezeSpec(bin, opts.proxyEnv), true, bin
		h.codecs = map[string]bool{}
		for _, c := range codecs {
			h.codecs[c] = true
		}
		h.rep.Meta.Proxy = report.Proxy{Name: "breeze", Command: "breeze proxy -c <generated bootstrap>", Listen: h.spec.Listen, Codecs: codecs, Env: opts.proxyEnv}
	} else {
		name := opts.proxyName
		if name == "" {
			name = filepath.Base(strings.Fields(opts.proxyCmd)[0])
		}
		h.spec = target.Spec{Name: name, Command: opts.proxyCmd, Listen: opts.proxyAddr, Metrics: opts.proxyMetrics, Env: opts.proxyEnv}
		h.rep.Meta.Proxy = report.Proxy{Name: name, Command: opts.proxyCmd, Listen: opts.proxyAddr, Env: opts.proxyEnv}
	}
	h.rep.Meta.Pinning = report.Pinning{Applied: h.cpus.pinned, ProxyCPUs: h.cpus.proxy, LoaderCPUs: h.cpus.loader, Note: h.cpus.note()}
	h.rep.Meta.Machine = machineInfo(machineCPUs)
	h.rep.Meta.Commit, h.rep.Meta.Dirty = gitCommit(root)
	h.rep.Meta.GoVersion = runtime.Version()
	h.rep.Meta.Command = "go run ./bench " + strings.Join(os.Args[1:], " ")
	h.rep.Meta.Command = strings.TrimSpace(h.rep.Meta.Command)
	h.rep.Meta.Started = started
	h.rep.Meta.Settings = report.Settings{Runs: opts.runs, Warmup: opts.warmup.String(), Duration: opts.duration.String(),
		OpenConnections: opts.openConns, OpenFractions: opts.fractions, IdleConnections: opts.idleConns,
		NoiseBudget: opts.noiseBudget.String()}

	runErr := h.runAll(ctx, scenarios)
	h.rep.Meta.WallTime = time.Since(started).Round(time.Second).String()
	if err := h.write(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "results in %s (%s)\n", opts.out, h.rep.Meta.WallTime)
	return runErr
}

// runAll runs the scenarios in order, starting a group (upstream server and proxy) for each
// protocol and payload, and a fresh one for the idle-connection scenario.
func (h *harness) runAll(ctx context.Context, scenarios []scenario) error {
	var (
		g          *group
		saturation = map[string]float64{} // by protocol/payload: the best proxied throughput
	)
	defer func() {
		if g != nil {
			g.stop()
		}
	}()
	skip := func(sc scenario, reason string) {
		h.rep.Skipped = append(h.rep.Skipped, report.Skip{Scenario: sc.name, Reason: reason})
		fmt.Fprintf(h.log, "%-26s skipped: %s\n", sc.name, reason)
	}
	for _, sc := range scenarios {
		if err := ctx.Err(); err != nil {
			return err
		}
		if sc.kind == kindRoutes {
			if g != nil {
				g.stop()
				g = nil
			}
			if !h.isBreeze {
				skip(sc, "route changes are driven through Breeze's control plane (breeze control over xDS)")
				continue
			}
			rc, err := h.runRouteChange(ctx, sc)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				skip(sc, "failed: "+err.Error())
				continue
			}
			h.rep.Routes = append(h.rep.Routes, rc)
			continue
		}
		if h.codecs != nil && !h.codecs[sc.proto.name] {
			skip(sc, fmt.Sprintf("the breeze binary has no %q codec (breeze version lists %v)", sc.proto.name, keys(h.codecs)))
			continue
		}
		fresh := sc.kind == kindIdle
		if g != nil && (fresh || g.proto != sc.proto || g.payload != sc.payload) {
			g.stop()
			g = nil
		}
		if g == nil {
			var err error
			if g, err = h.startGroup(ctx, sc.proto, sc.payload); err != nil {
				skip(sc, "could not start: "+err.Error())
				continue
			}
		}
		key := sc.proto.name + "/" + sc.payload.name
		var err error
		switch sc.kind {
		case kindClosed:
			var c report.Closed
			if c, err = h.runClosed(ctx, g, sc); err == nil {
				h.rep.Closed = append(h.rep.Closed, c)
				saturation[key] = max(saturation[key], c.Median.Proxy.Throughput)
			}
		case kindOpen:
			closedSat := saturation[key]
			if closedSat == 0 {
				if closedSat, err = h.closedSaturation(ctx, g); err != nil {
					break
				}
			}
			var openSat float64
			if openSat, err = h.openSaturation(ctx, g, closedSat); err != nil {
				break
			}
			h.rep.Open = append(h.rep.Open, h.runOpen(ctx, g, sc, openSat, closedSat))
		case kindIdle:
			n := h.idleConns()
			var i report.Idle
			if i, err = h.runIdle(ctx, g, sc, n); err == nil {
				if n < h.opts.idleConns {
					i.Warnings = append(i.Warnings, fmt.Sprintf("only %d connections: the open-file limit is too low for %d", n, h.opts.idleConns))
				}
				h.rep.Idle = append(h.rep.Idle, i)
			}
			g.stop()
			g = nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			skip(sc, "failed: "+err.Error())
			if g != nil {
				g.stop() // a failure may have left the proxy in a bad state: restart it
				g = nil
			}
		}
	}
	return nil
}

// idleConns caps the idle-connection count by this process's open-file limit (the proxy's
// is raised to its hard limit, which is at least as high).
func (h *harness) idleConns() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return h.opts.idleConns
	}
	return int(min(uint64(h.opts.idleConns), max(lim.Cur, 600)-500))
}

func (h *harness) write() error {
	plots, err := h.rep.WritePlots(h.opts.out)
	if err != nil {
		return err
	}
	if err := h.rep.WriteJSON(h.opts.out); err != nil {
		return err
	}
	if err := h.rep.WriteMarkdown(h.opts.out, plots); err != nil {
		return err
	}
	if h.opts.readme == "" {
		return nil
	}
	readme, err := filepath.Abs(h.opts.readme)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(h.opts.out)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(readme), out)
	if err != nil {
		return err
	}
	return updateReadme(readme, h.rep, plots, rel)
}

// render rewrites the outputs of an earlier run from its results.json (into the same
// directory unless -out says otherwise).
func render(opts options) error {
	data, err := os.ReadFile(opts.render)
	if err != nil {
		return err
	}
	rep := &report.Report{}
	if err := json.Unmarshal(data, rep); err != nil {
		return fmt.Errorf("%s: %w", opts.render, err)
	}
	if opts.out == "" {
		opts.out = filepath.Dir(opts.render)
	}
	h := &harness{opts: opts, rep: rep}
	return h.write()
}

const (
	readmeBegin = "<!-- results:begin -->"
	readmeEnd   = "<!-- results:end -->"
)

// updateReadme replaces the text between the results markers of a README with the
// Markdown summary, its plot links made relative to the README.
func updateReadme(path string, rep *report.Report, plots []string, rel string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s section", path, readmeBegin, readmeEnd)
	}
	links := make([]string, len(plots))
	for k, p := range plots {
		links[k] = filepath.ToSlash(filepath.Join(rel, p))
	}
	var b strings.Builder
	rep.Markdown(&b, links)
	out := s[:i+len(readmeBegin)] + "\n" + b.String() + s[j:]
	return os.WriteFile(path, []byte(out), 0o644)
}

// planCPUs decides the pinning: with at least two CPUs allowed, the proxy gets the last
// and the harness and upstream server the others.
func planCPUs(mode string, machineCPUs int) (cpuPlan, error) {
	plan := cpuPlan{machineCPUs: machineCPUs}
	if mode == "off" {
		return plan, nil
	}
	cpus, err := affinity.Allowed()
	if err == nil && len(cpus) < 2 {
		err = fmt.Errorf("only %d CPU allowed", len(cpus))
	}
	if err == nil {
		// Check that setting affinity is permitted before relying on it.
		err = affinity.PinProcess(os.Getpid(), cpus)
	}
	if err != nil {
		if mode == "on" {
			return plan, fmt.Errorf("-pin on: %w", err)
		}
		return plan, nil
	}
	plan.pinned = true
	plan.proxy = cpus[len(cpus)-1:]
	plan.loader = cpus[:len(cpus)-1]
	return plan, nil
}

func (c cpuPlan) note() string {
	switch {
	case c.pinned:
		return "proxy alone on its CPU; load generator and upstream server share the rest"
	case c.machineCPUs < 2:
		return "one CPU: proxy, load generator and upstream server share it"
	}
	return "pinning off or not permitted: the load generator may compete with the proxy for CPU"
}

func machineInfo(cpus int) report.Machine {
	m := report.Machine{CPUModel: procstat.CPUModel(), CPUs: cpus}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the harness from inside the Breeze module (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}

func gitCommit(root string) (commit string, dirty bool) {
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	status, _ := exec.Command("git", "-C", root, "status", "--porcelain").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(status))) > 0
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
