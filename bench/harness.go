package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/breeze-mesh/breeze/bench/load"
	"github.com/breeze-mesh/breeze/bench/procstat"
	"github.com/breeze-mesh/breeze/bench/report"
	"github.com/breeze-mesh/breeze/bench/target"
)

// harness runs scenarios against one proxy and collects the report.
type harness struct {
	opts     options
	spec     target.Spec
	isBreeze bool
	codecs   map[string]bool // nil: unknown (another proxy), every protocol is tried
	tmp      string
	cpus     cpuPlan
	rep      *report.Report
	log      io.Writer
	// breezeBin is the Breeze binary (empty when another proxy is measured).
	breezeBin string
	// noiseBudget is how much longer the run may spend waiting for, and re-measuring
	// after, other processes' CPU use.
	noiseBudget time.Duration
}

// cpuPlan is where each process runs; empty slices mean unpinned.
type cpuPlan struct {
	pinned      bool
	proxy       []int
	loader      []int // the harness (load generator) and the upstream server
	machineCPUs int
}

// group is an upstream server and a proxy in front of it, for one protocol and payload.
// The scenarios of a group share them; a fresh group starts for the next payload.
type group struct {
	proto   *protocolDef
	payload payloadDef
	request []byte
	up      *upstream
	proxy   *target.Process
}

func (h *harness) startGroup(ctx context.Context, p *protocolDef, pl payloadDef) (*group, error) {
	g := &group{proto: p, payload: pl, request: p.request(pl.bytes)}
	up, err := startUpstream(p, pl.bytes, h.opts.upstreamAddr)
	if err != nil {
		return nil, err
	}
	g.up = up
	host, port, _ := splitHostPort(up.addr)
	vars := target.Vars{"upstream": up.addr, "upstream_host": host, "upstream_port": port, "protocol": p.name}
	for _, k := range []string{"listen_port", "admin_port"} {
		n, err := target.FreePort()
		if err != nil {
			g.stop()
			return nil, err
		}
		vars[k] = strconv.Itoa(n)
	}
	vars["listen"] = "127.0.0.1:" + vars["listen_port"]
	vars["config"] = ""
	if h.isBreeze {
		if vars["config"], err = writeBootstrap(h.tmp, p, vars); err != nil {
			g.stop()
			return nil, err
		}
	}
	g.proxy, err = target.Start(h.spec, vars, h.cpus.proxy)
	if err != nil {
		g.stop()
		return nil, err
	}
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	probe := func(ctx context.Context, addr string) error { return load.Probe(ctx, addr, p.framing, g.request) }
	if err := g.proxy.WaitReady(readyCtx, probe); err != nil {
		g.stop()
		return nil, err
	}
	if err := probe(readyCtx, up.addr); err != nil {
		g.stop()
		return nil, fmt.Errorf("upstream server: %w", err)
	}
	return g, nil
}

func (g *group) stop() {
	if g.proxy != nil {
		if err := g.proxy.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "warning:", err)
		}
	}
	if g.up != nil {
		g.up.stop()
	}
}

// sample is every CPU counter the harness reads at the edges of a window.
type sample struct {
	proxy, self, upstream procstat.Sample
	machine               procstat.Machine
}

func (h *harness) sample(g *group) sample {
	var s sample
	s.proxy, _ = g.proxy.Sample()
	s.self, _ = procstat.Read(0)
	s.upstream, _ = procstat.Read(g.up.pid)
	s.machine, _ = procstat.ReadMachine()
	return s
}

// measure runs cfg against the proxy (proxied) or straight at the upstream server and
// returns the latency figures and, for the proxy, what it cost.
func (h *harness) measure(ctx context.Context, g *group, cfg load.Config, proxied bool) (report.Latency, report.Cost, error) {
	cfg.Framing, cfg.Request = g.proto.framing, g.request
	cfg.Addr = g.up.addr
	if proxied {
		cfg.Addr = g.proxy.Listen
	}
	var (
		before, after sample
		goroutines    = -1
	)
	cfg.OnWindow = func(start bool) {
		if start {
			before = h.sample(g)
			return
		}
		after = h.sample(g)
		if proxied {
			// Read while the load's connections are still open, after the CPU sample
			// so the scrape is not charged to the requests.
			if n, ok := g.proxy.Goroutines(); ok {
				goroutines = n
			}
		}
	}
	res, err := load.Run(ctx, cfg)
	if err != nil {
		return report.Latency{}, report.Cost{}, err
	}
	lat := report.Latency{
		Throughput: res.Throughput(),
		P50:        us(res.Latency.Quantile(0.5)),
		P90:        us(res.Latency.Quantile(0.9)),
		P99:        us(res.Latency.Quantile(0.99)),
		Max:        us(res.Latency.Max()),
		Mean:       us(res.Latency.Mean()),
		Failed:     res.Failed,
		Lost:       res.Lost,
	}
	if cfg.Rate > 0 {
		lat.SendLagP99 = us(res.SendLag.Quantile(0.99))
	}
	window := res.Elapsed.Seconds()
	proxyCPU := after.proxy.CPU - before.proxy.CPU
	loaderCPU := after.self.CPU - before.self.CPU + after.upstream.CPU - before.upstream.CPU
	other := after.machine.Busy - before.machine.Busy - loaderCPU
	if proxied {
		other -= proxyCPU
	}
	cost := report.Cost{
		LoaderCores: loaderCPU.Seconds() / window,
		OtherCores:  max(0, other.Seconds()/window),
		Goroutines:  goroutines,
	}
	if proxied {
		cost.CPUCores = proxyCPU.Seconds() / window
		if res.Requests > 0 {
			cost.CPUPerRequest = us(proxyCPU) / float64(res.Requests)
		}
		cost.RSSMiB = float64(after.proxy.RSS) / (1 << 20)
		cost.Threads = after.proxy.Threads
	}
	return lat, cost, nil
}

// measurePair measures direct and proxied with the same configuration; odd runs go
// proxy-first so a drift in the machine's state does not always favour one side. On a shared
// machine it first waits for other processes to go quiet, and measures again (up to twice)
// when they took CPU during the pair anyway, as long as the run's noise budget lasts: on a
// machine that never goes quiet the figures are flagged instead.
func (h *harness) measurePair(ctx context.Context, g *group, cfg load.Config, run int) (report.Pair, error) {
	var pair report.Pair
	for attempt := 0; ; attempt++ {
		h.waitQuiet(ctx)
		start := time.Now()
		var err error
		if pair, err = h.measureOnce(ctx, g, cfg, run); err != nil {
			return pair, err
		}
		if pair.Cost.OtherCores <= noisyCores || attempt == 2 || h.noiseBudget <= 0 || ctx.Err() != nil {
			return pair, nil
		}
		h.noiseBudget -= time.Since(start)
		fmt.Fprintf(h.log, "%-26s other processes used %.2f cores: measuring again\n", "", pair.Cost.OtherCores)
	}
}

func (h *harness) measureOnce(ctx context.Context, g *group, cfg load.Config, run int) (report.Pair, error) {
	var pair report.Pair
	order := []bool{false, true}
	if run%2 == 1 {
		order = []bool{true, false}
	}
	for _, proxied := range order {
		lat, cost, err := h.measure(ctx, g, cfg, proxied)
		if err != nil {
			side := "direct"
			if proxied {
				side = "proxy"
			}
			return pair, fmt.Errorf("%s: %w", side, err)
		}
		if proxied {
			pair.Proxy, pair.Cost = lat, cost
		} else {
			pair.Direct = lat
		}
	}
	return pair, nil
}

// noisyCores is how much CPU other processes may take during a measurement before it is
// repeated (and, if it stays so, flagged).
const noisyCores = 0.2

// waitQuiet waits until the machine's CPUs are idle apart from this harness's own processes
// (which are idle between measurements) for a moment, for at most 20 s and within what is
// left of the run's noise budget.
func (h *harness) waitQuiet(ctx context.Context) {
	const step = 300 * time.Millisecond
	waited := false
	for deadline := time.Now().Add(min(20*time.Second, h.noiseBudget)); time.Now().Before(deadline) && ctx.Err() == nil; {
		before, err := procstat.ReadMachine()
		if err != nil {
			return
		}
		time.Sleep(step)
		after, _ := procstat.ReadMachine()
		if busy := (after.Busy - before.Busy).Seconds() / step.Seconds(); busy < noisyCores/2 {
			break
		}
		if !waited {
			fmt.Fprintf(h.log, "%-26s waiting for other processes to go quiet ...\n", "")
			waited = true
		}
		h.noiseBudget -= step
	}
	if waited {
		fmt.Fprintf(h.log, "%-26s measuring (noise budget left: %v)\n", "", max(h.noiseBudget, 0).Round(time.Second))
	}
}

func (h *harness) timedConfig() load.Config {
	return load.Config{Warmup: h.opts.warmup, Duration: h.opts.duration}
}

// runClosed measures one closed-loop scenario opts.runs times.
func (h *harness) runClosed(ctx context.Context, g *group, sc scenario) (report.Closed, error) {
	out := report.Closed{Scenario: sc.name, Protocol: sc.proto.name, Payload: sc.payload.name, Connections: sc.shape.conns, InFlight: sc.shape.inFlight}
	cfg := h.timedConfig()
	cfg.Connections, cfg.InFlight = sc.shape.conns, sc.shape.inFlight
	for run := range h.opts.runs {
		pair, err := h.measurePair(ctx, g, cfg, run)
		if err != nil {
			return out, err
		}
		out.Runs = append(out.Runs, pair)
		h.progress(sc.name, run, pair)
	}
	out.Median = report.MedianPair(out.Runs)
	out.Warnings = h.warnings(out.Median)
	return out, nil
}

// runOpen measures latency at fractions of the open-loop saturation, lowest load first; it
// stops at the first load the proxied path cannot sustain.
func (h *harness) runOpen(ctx context.Context, g *group, sc scenario, saturation, closedSat float64) report.OpenSeries {
	out := report.OpenSeries{Scenario: sc.name, Protocol: sc.proto.name, Payload: sc.payload.name, Connections: h.opts.openConns, Saturation: saturation, ClosedSaturation: closedSat}
	for _, f := range h.opts.fractions {
		pt := report.OpenPoint{Fraction: f, Rate: f * saturation}
		cfg := h.timedConfig()
		cfg.Connections, cfg.Rate = h.opts.openConns, pt.Rate
		var failed error
		for run := range h.opts.runs {
			pair, err := h.measurePair(ctx, g, cfg, run)
			if err != nil {
				failed = err
				break
			}
			pt.Runs = append(pt.Runs, pair)
			h.progress(fmt.Sprintf("%s@%.0f%%", sc.name, f*100), run, pair)
		}
		if failed != nil {
			pt.Warnings = append(pt.Warnings, "stopped: "+failed.Error())
		}
		if len(pt.Runs) > 0 {
			pt.Median = report.MedianPair(pt.Runs)
			pt.Warnings = append(pt.Warnings, h.warnings(pt.Median)...)
			if lag := max(pt.Median.Direct.SendLagP99, pt.Median.Proxy.SendLagP99); lag > 50 {
				pt.Warnings = append(pt.Warnings, fmt.Sprintf("the generator sent its p99 request %.0f µs late; latencies include that for direct and proxy alike", lag))
			}
			out.Points = append(out.Points, pt)
		}
		if failed != nil {
			break
		}
	}
	return out
}

// openSaturation finds the highest open-loop rate the proxied path sustains, by bisection
// on a log scale below upper (the closed-loop saturation, which an open loop cannot beat).
// Past saturation a queue grows for the whole probe, and the median latency (counted from
// the intended send times) with it: a rate is sustained when every request is answered and
// the median stays under sustainP50. The median rather than a high percentile, so a
// scheduling hiccup on a shared machine does not pass for overload. Whichever part
// saturates first, proxy or load generator, sets the figure; the points' warnings say which.
func (h *harness) openSaturation(ctx context.Context, g *group, upper float64) (float64, error) {
	lo, hi := upper/64, upper
	for {
		ok, err := h.sustains(ctx, g, lo)
		if err != nil {
			return 0, err
		}
		if ok {
			break
		}
		if hi, lo = lo, lo/8; lo < 100 {
			return 0, fmt.Errorf("the proxied path does not sustain even %.0f req/s in an open loop", hi)
		}
	}
	for range 6 {
		mid := math.Sqrt(lo * hi)
		ok, err := h.sustains(ctx, g, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	fmt.Fprintf(h.log, "%-26s open-loop saturation %.0f req/s (closed loop %.0f)\n", g.proto.name+"/"+g.payload.name, lo, upper)
	return lo, nil
}

// sustainP50 is the median latency past which an open-loop probe counts as falling behind.
const sustainP50 = 2 * time.Millisecond

// sustains runs a short proxied open-loop probe at rate; a failed probe is repeated once
// after the machine goes quiet, so another process's burst does not lower the saturation
// found for the whole series.
func (h *harness) sustains(ctx context.Context, g *group, rate float64) (bool, error) {
	for attempt := 0; ; attempt++ {
		ok, err := h.probeOnce(ctx, g, rate)
		if ok || err != nil || attempt == 1 {
			return ok, err
		}
		h.waitQuiet(ctx)
	}
}

func (h *harness) probeOnce(ctx context.Context, g *group, rate float64) (bool, error) {
	cfg := load.Config{
		Connections:  h.opts.openConns,
		Rate:         rate,
		Warmup:       min(h.opts.warmup, 200*time.Millisecond),
		Duration:     min(h.opts.duration, 500*time.Millisecond),
		DrainTimeout: time.Second,
	}
	lat, _, err := h.measure(ctx, g, cfg, true)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return err == nil && lat.Lost == 0 && lat.Failed == 0 && lat.P50 < us(sustainP50), nil
}

// closedSaturation measures the proxied closed-loop throughput limit (64x8) when no
// closed-loop scenario of the group ran.
func (h *harness) closedSaturation(ctx context.Context, g *group) (float64, error) {
	cfg := h.timedConfig()
	cfg.Connections, cfg.InFlight = 64, 8
	lat, _, err := h.measure(ctx, g, cfg, true)
	return lat.Throughput, err
}

// runIdle opens n idle connections through the proxy and charges the RSS growth to them.
func (h *harness) runIdle(ctx context.Context, g *group, sc scenario, n int) (report.Idle, error) {
	out := report.Idle{Scenario: sc.name, Connections: n, GoroutinesBefore: -1, GoroutinesAfter: -1}
	before := settledRSS(g)
	if v, ok := g.proxy.Goroutines(); ok {
		out.GoroutinesBefore = v
	}
	conns, err := load.OpenIdle(ctx, g.proxy.Listen, g.proto.framing, g.request, n)
	if err != nil {
		return out, err
	}
	defer conns.Close()
	after := settledRSS(g)
	if v, ok := g.proxy.Goroutines(); ok {
		out.GoroutinesAfter = v
	}
	s, _ := g.proxy.Sample()
	out.ThreadsAfter = s.Threads
	out.RSSBeforeMiB = float64(before) / (1 << 20)
	out.RSSAfterMiB = float64(after) / (1 << 20)
	out.KiBPerConn = float64(after-before) / 1024 / float64(n)
	fmt.Fprintf(h.log, "%-26s %d idle connections: RSS %.1f → %.1f MiB (%.1f KiB each), goroutines %d → %d\n",
		sc.name, n, out.RSSBeforeMiB, out.RSSAfterMiB, out.KiBPerConn, out.GoroutinesBefore, out.GoroutinesAfter)
	return out, nil
}

// settledRSS waits (up to 5 s) for the proxy's RSS to stop moving, then returns it.
func settledRSS(g *group) int64 {
	prev, _ := g.proxy.Sample()
	for range 20 {
		time.Sleep(250 * time.Millisecond)
		cur, _ := g.proxy.Sample()
		if d := cur.RSS - prev.RSS; d < prev.RSS/200 && d > -prev.RSS/200 {
			return cur.RSS
		}
		prev = cur
	}
	return prev.RSS
}

// warnings says when a figure measures something else than the proxy.
func (h *harness) warnings(p report.Pair) []string {
	var w []string
	if n := p.Proxy.Failed + p.Direct.Failed; n > 0 {
		w = append(w, fmt.Sprintf("%d error responses (proxy %d, direct %d): the proxy is not routing these requests as configured", n, p.Proxy.Failed, p.Direct.Failed))
	}
	if n := p.Proxy.Lost + p.Direct.Lost; n > 0 {
		w = append(w, fmt.Sprintf("%d requests got no response", n))
	}
	c := p.Cost
	if h.cpus.pinned {
		if capacity := float64(len(h.cpus.loader)); c.LoaderCores >= 0.85*capacity && c.CPUCores < 0.85*float64(len(h.cpus.proxy)) {
			w = append(w, fmt.Sprintf("%s: its CPUs were %.0f%% busy while the proxy used %.0f%% of its core, so the proxy could go faster than shown", report.GeneratorBottleneck, 100*c.LoaderCores/capacity, 100*c.CPUCores))
		}
	} else if total := c.LoaderCores + c.CPUCores + c.OtherCores; total >= 0.85*float64(h.cpus.machineCPUs) {
		w = append(w, fmt.Sprintf("the machine's CPUs were %.0f%% busy (proxy %.2f cores, load generator and server %.2f): without pinning, the load generator competes with the proxy", 100*total/float64(h.cpus.machineCPUs), c.CPUCores, c.LoaderCores))
	}
	if c.OtherCores > noisyCores {
		w = append(w, fmt.Sprintf("other processes used %.2f cores during the measurement: figures are perturbed", c.OtherCores))
	}
	return w
}

func (h *harness) progress(name string, run int, p report.Pair) {
	fmt.Fprintf(h.log, "%-26s run %d: direct %7.0f req/s p50 %5.0f p99 %6.0f µs | proxy %7.0f req/s p50 %5.0f p99 %6.0f µs  CPU %5.1f µs/req (%.2f cores, loader %.2f, other %.2f)\n",
		name, run+1, p.Direct.Throughput, p.Direct.P50, p.Direct.P99, p.Proxy.Throughput, p.Proxy.P50, p.Proxy.P99, p.Cost.CPUPerRequest, p.Cost.CPUCores, p.Cost.LoaderCores, p.Cost.OtherCores)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func splitHostPort(addr string) (host, port string, err error) { return net.SplitHostPort(addr) }
