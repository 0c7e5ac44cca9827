package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	colorDirect = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	colorProxy  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	colorTarget = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // green
)

// WritePlots draws the PNG figures into dir and returns their file names: latency
// against offered load for each open-loop series, and proxy CPU per request and throughput
// for the closed-loop scenarios.
func (r *Report) WritePlots(dir string) ([]string, error) {
	// Plots of an earlier run's scenarios must not linger next to this run's.
	for _, pattern := range []string{"latency-*.png", "cpu-per-request.png", "throughput.png"} {
		old, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	var files []string
	for _, s := range r.Open {
		name := "latency-" + strings.NewReplacer("/", "-", " ", "").Replace(strings.TrimPrefix(s.Scenario, "open/")) + ".png"
		if err := latencyPlot(s, filepath.Join(dir, name)); err != nil {
			return files, fmt.Errorf("%s: %w", name, err)
		}
		files = append(files, name)
	}
	if len(r.Closed) > 0 {
		if err := cpuPlot(r.Closed, filepath.Join(dir, "cpu-per-request.png")); err != nil {
			return files, fmt.Errorf("cpu-per-request.png: %w", err)
		}
		if err := throughputPlot(r.Closed, filepath.Join(dir, "throughput.png")); err != nil {
			return files, fmt.Errorf("throughput.png: %w", err)
		}
		files = append(files, "cpu-per-request.png", "throughput.png")
	}
	return files, nil
}

// latencyPlot draws p50 and p99 of direct and proxied against offered load, latency on a
// log scale (p99 and p50 differ by an order of magnitude near saturation).
func latencyPlot(s OpenSeries, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: latency against offered load (%d connections, open loop)", strings.TrimPrefix(s.Scenario, "open/"), s.Connections)
	p.X.Label.Text = "offered load (thousand requests/s)"
	p.Y.Label.Text = "latency (µs, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = ticks125{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	type line struct {
		label  string
		col    color.Color
		dashed bool
		get    func(OpenPoint) float64
	}
	lines := []line{
		{"direct p50", colorDirect, true, func(pt OpenPoint) float64 { return pt.Median.Direct.P50 }},
		{"direct p99", colorDirect, false, func(pt OpenPoint) float64 { return pt.Median.Direct.P99 }},
		{"proxy p50", colorProxy, true, func(pt OpenPoint) float64 { return pt.Median.Proxy.P50 }},
		{"proxy p99", colorProxy, false, func(pt OpenPoint) float64 { return pt.Median.Proxy.P99 }},
	}
	for _, l := range lines {
		xys := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			if v := l.get(pt); v > 0 {
				xys = append(xys, plotter.XY{X: pt.Rate / 1000, Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		ln, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		ln.Color, pts.Color = l.col, l.col
		ln.Width = vg.Points(1.5)
		if l.dashed {
			ln.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			pts.Shape = draw.CircleGlyph{}
		} else {
			pts.Shape = draw.TriangleGlyph{}
		}
		pts.Radius = vg.Points(3)
		p.Add(ln, pts)
		p.Legend.Add(l.label, ln, pts)
	}
	// Room above the highest line for the legend (a factor on the log scale).
	p.Y.Max *= 4
	p.X.Min = 0
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// ticks125 labels a log axis at 1, 2 and 5 of every decade, with minor ticks between.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for decade := math.Pow10(int(math.Floor(math.Log10(lo)))); decade <= hi; decade *= 10 {
		for i := 1; i < 10; i++ {
			v := decade * float64(i)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if i == 1 || i == 2 || i == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			}
			out = append(out, t)
		}
	}
	return out
}

// cpuPlot is a horizontal bar per scenario with the 10 µs target as a vertical line.
func cpuPlot(closed []Closed, path string) error {
	n := len(closed)
	values := make(plotter.Values, n)
	labels := make([]string, n)
	maxV := TargetCPUPerRequest
	for i, c := range closed {
		// Bars draw bottom-up; list the first scenario at the top.
		j := n - 1 - i
		values[j] = c.Median.Cost.CPUPerRequest
		labels[j] = c.Scenario
		maxV = max(maxV, values[j])
	}
	p := plot.New()
	p.Title.Text = "Proxy CPU per request (µs of utime+stime, median of runs)"
	p.X.Label.Text = "µs per request"
	p.X.Min, p.X.Max = 0, maxV*1.15
	bars, err := plotter.NewBarChart(values, vg.Points(11))
	if err != nil {
		return err
	}
	bars.Horizontal = true
	bars.Color = colorProxy
	bars.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bars)
	p.NominalY(labels...)
	target, err := plotter.NewLine(plotter.XYs{{X: TargetCPUPerRequest, Y: -0.5}, {X: TargetCPUPerRequest, Y: float64(n) - 0.5}})
	if err != nil {
		return err
	}
	target.Color = colorTarget
	target.Width = vg.Points(2)
	target.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(target)
	valueLabels, err := barLabels(values, func(v float64) string { return fmt.Sprintf("%.1f", v) })
	if err != nil {
		return err
	}
	p.Add(valueLabels)
	p.Legend.Add(fmt.Sprintf("target %g µs", TargetCPUPerRequest), target)
	p.Legend.Top = true
	return p.Save(8*vg.Inch, vg.Length(n)*0.3*vg.Inch+1.5*vg.Inch, path)
}

// barLabels writes each horizontal bar's value just past its end.
func barLabels(values plotter.Values, format func(float64) string) (*plotter.Labels, error) {
	l := plotter.XYLabels{XYs: make(plotter.XYs, len(values)), Labels: make([]string, len(values))}
	for i, v := range values {
		l.XYs[i] = plotter.XY{X: v, Y: float64(i)}
		l.Labels[i] = format(v)
	}
	labels, err := plotter.NewLabels(l)
	if err != nil {
		return nil, err
	}
	labels.Offset = vg.Point{X: vg.Points(3), Y: -vg.Points(4)}
	return labels, nil
}

// throughputPlot is a pair of horizontal bars (direct, proxied) per scenario.
func throughputPlot(closed []Closed, path string) error {
	n := len(closed)
	direct := make(plotter.Values, n)
	proxied := make(plotter.Values, n)
	labels := make([]string, n)
	for i, c := range closed {
		j := n - 1 - i
		direct[j] = c.Median.Direct.Throughput / 1000
		proxied[j] = c.Median.Proxy.Throughput / 1000
		labels[j] = c.Scenario
	}
	p := plot.New()
	p.Title.Text = "Throughput, closed loop (median of runs)"
	p.X.Label.Text = "thousand requests/s"
	w := vg.Points(7)
	bd, err := plotter.NewBarChart(direct, w)
	if err != nil {
		return err
	}
	bp, err := plotter.NewBarChart(proxied, w)
	if err != nil {
		return err
	}
	for _, b := range []*plotter.BarChart{bd, bp} {
		b.Horizontal = true
		b.LineStyle.Width = 0
	}
	bd.Color, bd.Offset = colorDirect, w/2
	bp.Color, bp.Offset = colorProxy, -w/2
	p.Add(plotter.NewGrid(), bd, bp)
	p.NominalY(labels...)
	p.X.Min = 0
	p.Legend.Add("direct", bd)
	p.Legend.Add("through the proxy", bp)
	p.Legend.Top = true
	return p.Save(8*vg.Inch, vg.Length(n)*0.3*vg.Inch+1.5*vg.Inch, path)
}
