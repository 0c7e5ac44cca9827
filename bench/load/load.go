// Package load is the benchmark load generator. It knows a protocol only through its
// framing (peers.Framing) and a request template whose id it rewrites per request.
//
// Two disciplines:
//
//   - Closed loop: C connections each keep D requests in flight and send a new request as
//     soon as a response frees a slot. It finds the throughput limit; its latencies are
//     measured from the actual send.
//   - Open loop: requests go out on a fixed schedule (Rate per second over all
//     connections) whether or not earlier ones were answered, and each latency is measured
//     from the request's intended send time, so a stalled target shows its queueing delay
//     instead of slowing the generator down (no coordinated omission).
//
// Timed runs warm up first (connections, pools, caches) and then record a window of
// Duration; the OnWindow hook lets a caller sample the target's CPU exactly over it.
package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/breeze-mesh/breeze/bench/hist"
	"github.com/breeze-mesh/breeze/bench/peers"
)

// Config is one run.
type Config struct {
	Addr    string
	Framing peers.Framing
	// Request is the request template; each connection sends its own copy with the id
	// rewritten.
	Request     []byte
	Connections int
	// InFlight is the number of requests each connection keeps outstanding (closed loop).
	InFlight int
	// Requests, when > 0, makes a closed-loop run send exactly this many requests in total
	// and record them all (the go test -bench form); Warmup and Duration are then ignored.
	Requests int
	// Rate, when > 0, makes the run open-loop: this many requests per second over all
	// connections, evenly spaced.
	Rate float64
	// Warmup is how long a timed run sends before it starts recording.
	Warmup time.Duration
	// Duration is the recorded window of a timed run.
	Duration time.Duration
	// DrainTimeout bounds the wait for responses to requests sent before the window closed
	// (default 5 s); requests still unanswered then count as Lost.
	DrainTimeout time.Duration
	// OnWindow, if set, is called when the recorded window starts (true) and ends (false).
	OnWindow func(start bool)
}

// Result is what a run measured.
type Result struct {
	// Requests is the number of responses recorded in the window.
	Requests int
	// Failed counts responses that the framing reports as errors (peers.Framing.OK).
	Failed int
	// Lost counts requests that never got a response (connection failures, drain timeout).
	Lost int
	// Elapsed is the recorded window.
	Elapsed time.Duration
	// Latency is the distribution of recorded latencies: from the actual send in a closed
	// loop, from the intended send in an open loop.
	Latency hist.Histogram
	// SendLag is, in an open loop, how late the generator sent each request against its
	// schedule: a large lag means the generator, not the target, fell behind.
	SendLag hist.Histogram
}

// Throughput is responses per second over the recorded window.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the q-quantile latency (0 < q <= 1).
func (r *Result) Percentile(q float64) time.Duration { return r.Latency.Quantile(q) }

func (r *Result) merge(o *Result) {
	r.Requests += o.Requests
	r.Failed += o.Failed
	r.Lost += o.Lost
	r.Latency.Merge(&o.Latency)
	r.SendLag.Merge(&o.SendLag)
}

// Run drives one run against cfg.Addr and returns its result; the error is the first
// failure (a connection that could not be opened or broke), with the partial result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Connections <= 0 {
		return nil, errors.New("load: Connections must be > 0")
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("load: set Requests (fixed count) or Duration (timed run)")
	}
	conns := make([]net.Conn, 0, cfg.Connections)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var d net.Dialer
	for range cfg.Connections {
		c, err := d.DialContext(ctx, "tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("load: dial %s: %w", cfg.Addr, err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		conns = append(conns, c)
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	defer stop()
	if cfg.Rate > 0 {
		if cfg.Duration <= 0 {
			return nil, errors.New("load: an open-loop run needs a Duration")
		}
		return runOpen(cfg, conns)
	}
	if cfg.InFlight <= 0 {
		return nil, errors.New("load: InFlight must be > 0 in a closed loop")
	}
	return runClosed(cfg, conns)
}

// window is a timed run's recorded interval, as offsets from the run's start.
type window struct {
	base       time.Time
	start, end int64 // nanoseconds since base
}

func (w window) since(t time.Time) int64 { return int64(t.Sub(w.base)) }
func (w window) in(at int64) bool        { return at >= w.start && at < w.end }

// scheduleWindow calls cfg.OnWindow at the window's edges and returns a function that
// waits for the last call.
func scheduleWindow(cfg Config, w window) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(time.Until(w.base.Add(time.Duration(w.start))))
		if cfg.OnWindow != nil {
			cfg.OnWindow(true)
		}
		time.Sleep(time.Until(w.base.Add(time.Duration(w.end))))
		if cfg.OnWindow != nil {
			cfg.OnWindow(false)
		}
	}()
	return func() { <-done }
}

// slot remembers when a request was sent, by id, so a response can be timed whatever
// order responses come in.
type slot struct {
	id   uint64
	sent int64 // nanoseconds since the run's base
}

// ringSize returns a power of two comfortably above the ids a connection may have
// outstanding at once.
func ringSize(atLeast int) int {
	n := 1024
	for n < atLeast*8 {
		n <<= 1
	}
	return n
}

// Probe sends req once on a fresh connection and waits for its response: a readiness
// check that the target routes this protocol end to end.
func Probe(ctx context.Context, addr string, f peers.Framing, req []byte) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	msg := append([]byte(nil), req...)
	f.SetID(msg, 1)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	var buf []byte
	n, err := peers.ReadFrame(newReader(c), f, &buf)
	if err != nil {
		return err
	}
	if id := f.ID(buf[:n]); id != 1 {
		return fmt.Errorf("response carries id %d, want 1", id)
	}
	if f.OK != nil && !f.OK(buf[:n]) {
		return errors.New("the response reports an error")
	}
	return nil
}
