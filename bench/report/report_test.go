package report

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func pair(tput, p50, cpu float64) Pair {
	return Pair{
		Direct: Latency{Throughput: tput * 2, P50: p50 / 2, P99: p50},
		Proxy:  Latency{Throughput: tput, P50: p50, P99: p50 * 2},
		Cost:   Cost{CPUPerRequest: cpu, Goroutines: -1},
	}
}

func TestMedianPairTakesEachFigure(t *testing.T) {
	m := MedianPair([]Pair{pair(100, 30, 9), pair(300, 10, 7), pair(200, 20, 8)})
	if m.Proxy.Throughput != 200 || m.Proxy.P50 != 20 || m.Cost.CPUPerRequest != 8 || m.Cost.Goroutines != -1 {
		t.Fatalf("median %+v", m)
	}
	// An even count takes the lower middle: a value that was measured.
	if got := median([]float64{4, 1, 3, 2}); got != 2 {
		t.Fatalf("median of 1..4 = %v, want 2", got)
	}
}

func sample() *Report {
	return &Report{
		Meta: Meta{Command: "go run ./bench", Started: time.Unix(0, 0), Commit: "0123456789abcdef", GoVersion: "go1.26",
			Pinning: Pinning{Applied: true, ProxyCPUs: []int{1}, LoaderCPUs: []int{0}}, Settings: Settings{Runs: 3, Duration: "2s", Warmup: "500ms"}},
		Closed: []Closed{
			{Scenario: "dubbo/small/16x4", Protocol: "dubbo", Payload: "small", Connections: 16, InFlight: 4, Median: pair(100000, 200, 6.5), Warnings: []string{"the load generator is the bottleneck"}},
			{Scenario: "dubbo/small/1x1", Protocol: "dubbo", Payload: "small", Connections: 1, InFlight: 1, Median: pair(7000, 120, 70)},
		},
		Open: []OpenSeries{{Scenario: "open/dubbo/small", Protocol: "dubbo", Payload: "small", Connections: 16, Saturation: 60000, Points: []OpenPoint{
			{Fraction: 0.1, Rate: 6000, Median: pair(6000, 100, 40)},
			{Fraction: 0.5, Rate: 30000, Median: Pair{Direct: Latency{P50: 80, P99: 300}, Proxy: Latency{P50: 120, P99: 600}}},
		}}},
		Idle:    []Idle{{Scenario: "idle/dubbo", Connections: 10000, KiBPerConn: 25}},
		Skipped: []Skip{{Scenario: "thrift/small/1x1", Reason: "no thrift codec"}},
		Routes: []RouteChange{{Scenario: "route-change/dubbo", Every: "250ms",
			Steady:   []RouteRun{{Latency: Latency{Throughput: 1000}, Served: [2]int64{500, 500}}},
			Changing: []RouteRun{{Latency: Latency{Throughput: 900}, Changes: 6, Served: [2]int64{700, 300}}, {Latency: Latency{Throughput: 950}, Changes: 7, Served: [2]int64{300, 700}}, {Latency: Latency{Throughput: 800}, Changes: 5, Served: [2]int64{400, 600}}},
		}},
	}
}

func TestChecks(t *testing.T) {
	got := map[string]Check{}
	for _, c := range sample().Checks() {
		got[c.Target] = c
	}
	if c := got["dubbo routing: proxy CPU per request"]; c.Measured != 6.5 || !c.Met || c.Where != "dubbo/small/16x4" {
		t.Errorf("CPU check %+v", c)
	}
	if c := got["dubbo: p50 added over direct"]; c.Measured != 40 || !c.Met {
		t.Errorf("p50 check %+v", c)
	}
	if c := got["dubbo: p99 added over direct"]; c.Measured != 300 || c.Met {
		t.Errorf("p99 check %+v", c)
	}
	if c := got["memory per idle downstream connection"]; c.Measured != 25 || c.Met {
		t.Errorf("idle check %+v", c)
	}
	if len(got) != 4 {
		t.Errorf("%d checks, want 4: %v", len(got), got)
	}
}

// When the load generator limited the 50% point, the check says so, and the highest clean
// point below it is checked too.
func TestChecksGeneratorBound(t *testing.T) {
	r := sample()
	r.Open[0].Points[1].Warnings = []string{GeneratorBottleneck + ": its CPUs were 99% busy"}
	var bound, clean []Check
	for _, c := range r.Checks() {
		if !strings.Contains(c.Target, "added") {
			continue
		}
		if c.GeneratorBound {
			bound = append(bound, c)
		} else {
			clean = append(clean, c)
		}
	}
	if len(bound) != 2 || !strings.Contains(bound[0].Where, "at 50%") {
		t.Fatalf("generator-bound checks %+v", bound)
	}
	if len(clean) != 2 || !strings.Contains(clean[0].Where, "at 10%") || clean[0].Measured != 50 {
		t.Fatalf("clean checks %+v", clean)
	}
	var b strings.Builder
	r.Markdown(&b, nil)
	if !strings.Contains(b.String(), "not measurable: the load generator was the bottleneck") {
		t.Fatalf("markdown does not flag the generator-bound check:\n%s", b.String())
	}
}

func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	r := sample()
	r.Routes[0].Summarize()
	plots, err := r.WritePlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(plots) != 3 {
		t.Fatalf("plots %v, want latency, cpu and throughput", plots)
	}
	for _, p := range plots {
		f, err := os.Open(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 500 {
			t.Fatalf("%s: %v (%v)", p, err, img.Bounds())
		}
	}
	if err := r.WriteJSON(dir); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(dir, plots); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| dubbo/small/16x4 | 200.0k | 100.0k | 0.50 | 6.5 |",
		"| 6.00k | 10% |",
		"**missed**",
		"- dubbo/small/16x4: the load generator is the bottleneck",
		"- thrift/small/1x1: no thrift codec",
		"![cpu-per-request](cpu-per-request.png)",
		"Pinned: proxy on CPU [1]",
		"| route-change/dubbo | flipped every 250ms | 6 | 900 |",
		"| 400 / 600 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
}
