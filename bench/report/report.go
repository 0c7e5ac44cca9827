// Package report holds a benchmark run's results and writes them out: JSON (everything,
// every run), a Markdown summary (medians, against the targets) and PNG plots.
package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is one harness run.
type Report struct {
	Meta    Meta          `json:"meta"`
	Closed  []Closed      `json:"closed_loop,omitempty"`
	Open    []OpenSeries  `json:"open_loop,omitempty"`
	Idle    []Idle        `json:"idle,omitempty"`
	Routes  []RouteChange `json:"route_changes,omitempty"`
	Skipped []Skip        `json:"skipped,omitempty"`
}

// Meta records what was measured, where and how, so a figure can be reproduced.
type Meta struct {
	Command   string    `json:"command"`
	Started   time.Time `json:"started"`
	WallTime  string    `json:"wall_time"`
	Commit    string    `json:"commit"`
	Dirty     bool      `json:"dirty"`
	GoVersion string    `json:"go_version"`
	Machine   Machine   `json:"machine"`
	Proxy     Proxy     `json:"proxy"`
	Pinning   Pinning   `json:"pinning"`
	Settings  Settings  `json:"settings"`
}

// Machine describes the host.
type Machine struct {
	CPUModel string `json:"cpu_model"`
	CPUs     int    `json:"cpus"`
	Kernel   string `json:"kernel"`
	// LoadAvg is /proc/loadavg when the run started: other work on a shared machine.
	LoadAvg string `json:"load_avg"`
}

// Proxy describes the proxy under test.
type Proxy struct {
	Name    string   `json:"name"`
	Command string   `json:"command"`
	Listen  string   `json:"listen"`
	Codecs  []string `json:"codecs,omitempty"`
	Env     []string `json:"env,omitempty"`
}

// Pinning says whether the proxy had a core to itself.
type Pinning struct {
	Applied    bool   `json:"applied"`
	ProxyCPUs  []int  `json:"proxy_cpus,omitempty"`
	LoaderCPUs []int  `json:"loader_cpus,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Settings are the harness parameters.
type Settings struct {
	Runs            int       `json:"runs"`
	Warmup          string    `json:"warmup"`
	Duration        string    `json:"duration"`
	OpenConnections int       `json:"open_loop_connections"`
	OpenFractions   []float64 `json:"open_loop_fractions_of_saturation"`
	IdleConnections int       `json:"idle_connections"`
	NoiseBudget     string    `json:"noise_budget"`
}

// Skip is a scenario that did not run, and why.
type Skip struct {
	Scenario string `json:"scenario"`
	Reason   string `json:"reason"`
}

// Latency is one side's throughput and latency (µs), from one run or the median of runs.
type Latency struct {
	Throughput float64 `json:"throughput_rps"`
	P50        float64 `json:"p50_us"`
	P90        float64 `json:"p90_us"`
	P99        float64 `json:"p99_us"`
	Max        float64 `json:"max_us"`
	Mean       float64 `json:"mean_us"`
	Failed     int     `json:"failed,omitempty"`
	Lost       int     `json:"lost,omitempty"`
	// SendLagP99 (open loop) is how late the generator sent its 99th-percentile request.
	SendLagP99 float64 `json:"send_lag_p99_us,omitempty"`
}

// Cost is what the proxy process spent while it was measured.
type Cost struct {
	CPUPerRequest float64 `json:"cpu_us_per_request"`
	// CPUCores is the proxy's CPU time over the window: 1.0 is one core busy throughout.
	CPUCores float64 `json:"cpu_cores"`
	RSSMiB   float64 `json:"rss_mib"`
	// Goroutines is -1 when the proxy exports no go_goroutines.
	Goroutines int `json:"goroutines"`
	Threads    int `json:"threads"`
	// LoaderCores is the load generator's and upstream server's CPU over the window.
	LoaderCores float64 `json:"loader_cores"`
	// OtherCores is CPU that neither the proxy nor the harness used: other work on the
	// machine, which perturbs the figures.
	OtherCores float64 `json:"other_cores"`
}

// Pair is one measurement of direct and proxied side by side.
type Pair struct {
	Direct Latency `json:"direct"`
	Proxy  Latency `json:"proxy"`
	Cost   Cost    `json:"proxy_cost"`
}

// Closed is one closed-loop scenario: the median over its runs, and each run.
type Closed struct {
	Scenario    string   `json:"scenario"`
	Protocol    string   `json:"protocol"`
	Payload     string   `json:"payload"`
	Connections int      `json:"connections"`
	InFlight    int      `json:"in_flight"`
	Median      Pair     `json:"median"`
	Runs        []Pair   `json:"runs"`
	Warnings    []string `json:"warnings,omitempty"`
}

// OpenSeries is latency against offered load for one protocol and payload.
type OpenSeries struct {
	Scenario    string `json:"scenario"`
	Protocol    string `json:"protocol"`
	Payload     string `json:"payload"`
	Connections int    `json:"connections"`
	// Saturation is the highest open-loop rate the proxied path sustained; the points'
	// rates are fractions of it.
	Saturation float64 `json:"saturation_rps"`
	// ClosedSaturation is the best proxied closed-loop throughput, for comparison.
	ClosedSaturation float64     `json:"closed_loop_saturation_rps"`
	Points           []OpenPoint `json:"points"`
}

// OpenPoint is one offered load.
type OpenPoint struct {
	Fraction float64  `json:"fraction"`
	Rate     float64  `json:"rate_rps"`
	Median   Pair     `json:"median"`
	Runs     []Pair   `json:"runs"`
	Warnings []string `json:"warnings,omitempty"`
}

// RouteChange is the same proxied load measured with the routes left alone and while the
// control plane keeps changing them.
type RouteChange struct {
	Scenario    string `json:"scenario"`
	Connections int    `json:"connections"`
	InFlight    int    `json:"in_flight"`
	// Every is how often the MetaRouter's weights flipped between v1 and v2.
	Every    string     `json:"every"`
	Steady   []RouteRun `json:"steady"`
	Changing []RouteRun `json:"changing"`
	// SteadyMedian and ChangingMedian are the per-figure medians of the runs.
	SteadyMedian   RouteRun `json:"steady_median"`
	ChangingMedian RouteRun `json:"changing_median"`
}

// RouteRun is one measurement of a RouteChange.
type RouteRun struct {
	Latency Latency `json:"latency"`
	Cost    Cost    `json:"proxy_cost"`
	// Changes is how many route updates were written during the run.
	Changes int `json:"changes"`
	// Served is how many requests each version (v1, v2) answered during the run.
	Served [2]int64 `json:"served"`
}

// Summarize computes the medians.
func (rc *RouteChange) Summarize() {
	rc.SteadyMedian, rc.ChangingMedian = medianRouteRun(rc.Steady), medianRouteRun(rc.Changing)
}

func medianRouteRun(runs []RouteRun) RouteRun {
	pairs := make([]Pair, len(runs))
	for i, r := range runs {
		pairs[i] = Pair{Proxy: r.Latency, Cost: r.Cost}
	}
	m := MedianPair(pairs)
	out := RouteRun{Latency: m.Proxy, Cost: m.Cost}
	pick := func(f func(RouteRun) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return median(v)
	}
	out.Changes = int(pick(func(r RouteRun) float64 { return float64(r.Changes) }))
	out.Served[0] = int64(pick(func(r RouteRun) float64 { return float64(r.Served[0]) }))
	out.Served[1] = int64(pick(func(r RouteRun) float64 { return float64(r.Served[1]) }))
	return out
}

// GeneratorBound reports whether the harness found the load generator, not the proxy, to
// be the bottleneck at this point.
func (p *OpenPoint) GeneratorBound() bool {
	for _, w := range p.Warnings {
		if strings.HasPrefix(w, GeneratorBottleneck) {
			return true
		}
	}
	return false
}

// GeneratorBottleneck starts the warning the harness gives when the load generator, not the
// proxy, limited a measurement.
const GeneratorBottleneck = "the load generator is the bottleneck"

// Idle is the memory cost of idle downstream connections.
type Idle struct {
	Scenario         string   `json:"scenario"`
	Connections      int      `json:"connections"`
	RSSBeforeMiB     float64  `json:"rss_before_mib"`
	RSSAfterMiB      float64  `json:"rss_after_mib"`
	KiBPerConn       float64  `json:"kib_per_connection"`
	GoroutinesBefore int      `json:"goroutines_before"`
	GoroutinesAfter  int      `json:"goroutines_after"`
	ThreadsAfter     int      `json:"threads_after"`
	Warnings         []string `json:"warnings,omitempty"`
}

// MedianPair returns the per-figure median of runs.
func MedianPair(runs []Pair) Pair {
	pick := func(f func(Pair) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return median(v)
	}
	side := func(get func(Pair) Latency) Latency {
		return Latency{
			Throughput: pick(func(p Pair) float64 { return get(p).Throughput }),
			P50:        pick(func(p Pair) float64 { return get(p).P50 }),
			P90:        pick(func(p Pair) float64 { return get(p).P90 }),
			P99:        pick(func(p Pair) float64 { return get(p).P99 }),
			Max:        pick(func(p Pair) float64 { return get(p).Max }),
			Mean:       pick(func(p Pair) float64 { return get(p).Mean }),
			Failed:     int(pick(func(p Pair) float64 { return float64(get(p).Failed) })),
			Lost:       int(pick(func(p Pair) float64 { return float64(get(p).Lost) })),
			SendLagP99: pick(func(p Pair) float64 { return get(p).SendLagP99 }),
		}
	}
	return Pair{
		Direct: side(func(p Pair) Latency { return p.Direct }),
		Proxy:  side(func(p Pair) Latency { return p.Proxy }),
		Cost: Cost{
			CPUPerRequest: pick(func(p Pair) float64 { return p.Cost.CPUPerRequest }),
			CPUCores:      pick(func(p Pair) float64 { return p.Cost.CPUCores }),
			RSSMiB:        pick(func(p Pair) float64 { return p.Cost.RSSMiB }),
			Goroutines:    int(pick(func(p Pair) float64 { return float64(p.Cost.Goroutines) })),
			Threads:       int(pick(func(p Pair) float64 { return float64(p.Cost.Threads) })),
			LoaderCores:   pick(func(p Pair) float64 { return p.Cost.LoaderCores }),
			OtherCores:    pick(func(p Pair) float64 { return p.Cost.OtherCores }),
		},
	}
}

// median of v (the lower middle for an even count, so it is a value that was measured).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// WriteJSON writes r as indented JSON to dir/results.json.
func (r *Report) WriteJSON(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644)
}
