package report

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Targets are Breeze's performance goals (DESIGN.md §2.7).
const (
	TargetCPUPerRequest = 10.0 // µs of proxy CPU per routed request
	TargetAddedP50      = 50.0 // µs over direct at half of saturation
	TargetAddedP99      = 150.0
	TargetIdleKiB       = 20.0 // per idle downstream connection
	// TargetShape is the concurrency the CPU target is checked at.
	TargetShape = "16x4"
)

// Check is one target against its measured figure.
type Check struct {
	Target   string  `json:"target"`
	Limit    float64 `json:"limit"`
	Unit     string  `json:"unit"`
	Measured float64 `json:"measured"`
	Where    string  `json:"where"`
	Met      bool    `json:"met"`
	// GeneratorBound is set when the load generator, not the proxy, was the bottleneck
	// where the figure was measured: it then says little about the target.
	GeneratorBound bool `json:"generator_bound,omitempty"`
}

// Checks compares the report with the targets, for every scenario that measured one.
func (r *Report) Checks() []Check {
	var out []Check
	for _, c := range r.Closed {
		if c.Payload != "small" || fmt.Sprintf("%dx%d", c.Connections, c.InFlight) != TargetShape {
			continue
		}
		v := c.Median.Cost.CPUPerRequest
		out = append(out, Check{Target: c.Protocol + " routing: proxy CPU per request", Limit: TargetCPUPerRequest, Unit: "µs", Measured: v, Where: c.Scenario, Met: v <= TargetCPUPerRequest})
	}
	for _, s := range r.Open {
		// The 50% point, and when the load generator was the bottleneck there, also the
		// highest load below it where it was not: the point the figure can be read at.
		var at50, clean *OpenPoint
		for i := range s.Points {
			p := &s.Points[i]
			if p.Fraction == 0.5 {
				at50 = p
			}
			if p.Fraction <= 0.5 && !p.GeneratorBound() {
				clean = p
			}
		}
		points := []*OpenPoint{at50}
		if at50 != nil && at50.GeneratorBound() && clean != nil {
			points = append(points, clean)
		}
		for _, p := range points {
			if p == nil {
				continue
			}
			a50 := p.Median.Proxy.P50 - p.Median.Direct.P50
			a99 := p.Median.Proxy.P99 - p.Median.Direct.P99
			where := fmt.Sprintf("%s at %.0f%% (%.0f req/s)", s.Scenario, p.Fraction*100, p.Rate)
			bound := p.GeneratorBound()
			out = append(out,
				Check{Target: s.Protocol + ": p50 added over direct", Limit: TargetAddedP50, Unit: "µs", Measured: a50, Where: where, Met: a50 <= TargetAddedP50, GeneratorBound: bound},
				Check{Target: s.Protocol + ": p99 added over direct", Limit: TargetAddedP99, Unit: "µs", Measured: a99, Where: where, Met: a99 <= TargetAddedP99, GeneratorBound: bound})
		}
	}
	for _, i := range r.Idle {
		out = append(out, Check{Target: "memory per idle downstream connection", Limit: TargetIdleKiB, Unit: "KiB", Measured: i.KiBPerConn, Where: i.Scenario, Met: i.KiBPerConn <= TargetIdleKiB})
	}
	return out
}

// WriteMarkdown writes the summary to dir/results.md.
func (r *Report) WriteMarkdown(dir string, plots []string) error {
	f, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		return err
	}
	r.Markdown(f, plots)
	return f.Close()
}

// Markdown renders the summary: how it was measured, the targets, then every table.
func (r *Report) Markdown(w io.Writer, plots []string) {
	m := r.Meta
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	dirty := ""
	if m.Dirty {
		dirty = " (with uncommitted changes)"
	}
	p("Measured with `%s` on %s: commit %s%s, %s, %d × %s, Linux %s, load average at start %s.\n",
		m.Command, m.Started.UTC().Format("2006-01-02 15:04 MST"), short(m.Commit), dirty, m.GoVersion, m.Machine.CPUs, m.Machine.CPUModel, m.Machine.Kernel, m.Machine.LoadAvg)
	p("Proxy under test: %s (`%s`).", m.Proxy.Name, m.Proxy.Command)
	if m.Pinning.Applied {
		p(" Pinned: proxy on CPU %v, load generator and upstream server on CPU %v.", m.Pinning.ProxyCPUs, m.Pinning.LoaderCPUs)
	} else {
		p(" Not pinned: %s.", m.Pinning.Note)
	}
	p(" Each figure is the median of %d runs of %s after %s of warm-up; the direct connection (same client, server and payloads, no proxy) is measured in the same runs. Whole run: %s.\n\n",
		m.Settings.Runs, m.Settings.Duration, m.Settings.Warmup, m.WallTime)

	if checks := r.Checks(); len(checks) > 0 {
		p("### Against the targets\n\n")
		p("CPU per request is checked at %s with the small payload; added latency at 50%% of the open-loop saturation and, where the load generator was the bottleneck there, also at the highest load below it where it was not.\n\n", TargetShape)
		p("| target | limit | measured | where | |\n|---|---:|---:|---|---|\n")
		for _, c := range checks {
			verdict := "met"
			switch {
			case c.GeneratorBound:
				verdict = "not measurable: the load generator was the bottleneck"
			case !c.Met:
				verdict = "**missed**"
			}
			p("| %s | ≤ %g %s | %.1f %s | %s | %s |\n", c.Target, c.Limit, c.Unit, c.Measured, c.Unit, c.Where, verdict)
		}
		p("\n")
	}

	if len(r.Closed) > 0 {
		p("### Closed loop: throughput and proxy cost\n\n")
		p("Connections × requests in flight per connection. CPU is the proxy process's utime+stime over the measured window divided by the requests answered in it; cores is that CPU time over the window; loader is the load generator and upstream server together.\n\n")
		p("| scenario | direct req/s | proxy req/s | ratio | proxy CPU µs/req | proxy cores | loader cores | RSS MiB | goroutines | threads |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range r.Closed {
			md := c.Median
			p("| %s | %s | %s | %.2f | %.1f | %.2f | %.2f | %.1f | %s | %d |\n", c.Scenario, rate(md.Direct.Throughput), rate(md.Proxy.Throughput),
				ratio(md.Proxy.Throughput, md.Direct.Throughput), md.Cost.CPUPerRequest, md.Cost.CPUCores, md.Cost.LoaderCores, md.Cost.RSSMiB, count(md.Cost.Goroutines), md.Cost.Threads)
		}
		p("\n### Closed loop: latency (µs)\n\n")
		p("| scenario | direct p50 | p90 | p99 | max | proxy p50 | p90 | p99 | max | added p50 | added p99 |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range r.Closed {
			d, x := c.Median.Direct, c.Median.Proxy
			p("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", c.Scenario, d.P50, d.P90, d.P99, d.Max, x.P50, x.P90, x.P99, x.Max, x.P50-d.P50, x.P99-d.P99)
		}
		p("\n")
	}

	for _, s := range r.Open {
		p("### Open loop: %s (µs)\n\n", s.Scenario)
		p("%d connections, requests sent on a fixed schedule; latency counted from each request's intended send time. Offered load as a fraction of the open-loop saturation, the highest rate the proxied path sustained: %s req/s (closed loop: %s req/s).\n\n", s.Connections, rate(s.Saturation), rate(s.ClosedSaturation))
		p("| offered req/s | of sat. | direct p50 | p90 | p99 | max | proxy p50 | p90 | p99 | max | added p50 | added p99 | proxy CPU µs/req | generator lag p99 |\n")
		p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, pt := range s.Points {
			d, x := pt.Median.Direct, pt.Median.Proxy
			p("| %s | %.0f%% | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.0f |\n", rate(pt.Rate), pt.Fraction*100,
				d.P50, d.P90, d.P99, d.Max, x.P50, x.P90, x.P99, x.Max, x.P50-d.P50, x.P99-d.P99, pt.Median.Cost.CPUPerRequest, max(d.SendLagP99, x.SendLagP99))
		}
		p("\n")
	}

	if len(r.Idle) > 0 {
		p("### Idle connections\n\nEach connection sends one request, then stays open and idle. Memory is the proxy's RSS increase divided by the connections.\n\n")
		p("| scenario | connections | RSS before MiB | RSS after MiB | KiB per connection | goroutines before | after | threads |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, i := range r.Idle {
			p("| %s | %d | %.1f | %.1f | %.1f | %s | %s | %d |\n", i.Scenario, i.Connections, i.RSSBeforeMiB, i.RSSAfterMiB, i.KiBPerConn, count(i.GoroutinesBefore), count(i.GoroutinesAfter), i.ThreadsAfter)
		}
		p("\n")
	}

	if len(r.Routes) > 0 {
		p("### Route changes under load\n\nThe proxy takes its configuration from `breeze control` over xDS; the same closed-loop load runs with the routes left alone and while the MetaRouter sends all traffic to v1, then all to v2, alternately. Medians of the runs; every request must be answered.\n\n")
		p("| scenario | routes | changes | req/s | p50 µs | p99 µs | max µs | failed | lost | served by v1 / v2 | proxy CPU µs/req |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
		for _, rc := range r.Routes {
			for _, row := range []struct {
				name string
				m    RouteRun
			}{{"steady (50/50)", rc.SteadyMedian}, {"flipped every " + rc.Every, rc.ChangingMedian}} {
				l := row.m.Latency
				p("| %s | %s | %d | %s | %.0f | %.0f | %.0f | %d | %d | %d / %d | %.1f |\n", rc.Scenario, row.name, row.m.Changes, rate(l.Throughput), l.P50, l.P99, l.Max, l.Failed, l.Lost, row.m.Served[0], row.m.Served[1], row.m.Cost.CPUPerRequest)
			}
		}
		p("\n")
	}

	var warnings []string
	for _, c := range r.Closed {
		for _, w := range c.Warnings {
			warnings = append(warnings, c.Scenario+": "+w)
		}
	}
	for _, s := range r.Open {
		for _, pt := range s.Points {
			for _, w := range pt.Warnings {
				warnings = append(warnings, fmt.Sprintf("%s at %.0f%%: %s", s.Scenario, pt.Fraction*100, w))
			}
		}
	}
	for _, i := range r.Idle {
		for _, w := range i.Warnings {
			warnings = append(warnings, i.Scenario+": "+w)
		}
	}
	if len(warnings) > 0 {
		p("### Warnings\n\n")
		for _, w := range warnings {
			p("- %s\n", w)
		}
		p("\n")
	}
	if len(r.Skipped) > 0 {
		p("### Skipped\n\n")
		for _, s := range r.Skipped {
			p("- %s: %s\n", s.Scenario, s.Reason)
		}
		p("\n")
	}
	for _, pl := range plots {
		p("![%s](%s)\n", strings.TrimSuffix(path.Base(pl), ".png"), pl)
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

func rate(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func count(n int) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprint(n)
}
