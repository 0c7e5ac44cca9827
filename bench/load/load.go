// Package load is a closed-loop load generator: C connections, each keeping D requests in
// flight, recording each request's latency. It knows a protocol only through its framing.
package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/bench/peers"
)

// Config is one closed-loop run.
type Config struct {
	Addr        string
	Framing     peers.Framing
	Request     []byte // template; its id is rewritten per request
	Connections int
	InFlight    int // per connection
	Requests    int // total, across connections
}

// Result is what a run measured.
type Result struct {
	Requests  int
	Errors    int
	Elapsed   time.Duration
	latencies []time.Duration // sorted
}

// Throughput is requests per second.
func (r *Result) Throughput() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// Percentile returns the q-quantile latency (0 < q <= 1).
func (r *Result) Percentile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.latencies))+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

// Run drives cfg.Requests requests and returns when all are answered or ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	per := cfg.Requests / cfg.Connections
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		lats   = make([]time.Duration, 0, cfg.Requests)
		errCnt atomic.Int64
		first  error
	)
	start := time.Now()
	for range cfg.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := runConn(ctx, cfg, per)
			mu.Lock()
			lats = append(lats, l...)
			if err != nil {
				errCnt.Add(1)
				if first == nil {
					first = err
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := &Result{Requests: len(lats), Errors: int(errCnt.Load()), Elapsed: time.Since(start), latencies: lats}
	slices.Sort(res.latencies)
	return res, first
}

// runConn keeps cfg.InFlight requests outstanding on one connection: a writer sends a new
// request each time a response frees a slot.
func runConn(ctx context.Context, cfg Config, n int) ([]time.Duration, error) {
	c, err := net.Dial("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	sent := make([]time.Time, n+1) // by request id
	slots := make(chan struct{}, cfg.InFlight)
	for range cfg.InFlight {
		slots <- struct{}{}
	}
	writeErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(c, 32<<10)
		req := append([]byte(nil), cfg.Request...)
		for id := 1; id <= n; id++ {
			<-slots
			cfg.Framing.SetID(req, uint64(id))
			sent[id] = time.Now()
			if _, err := w.Write(req); err != nil {
				writeErr <- err
				return
			}
			if len(slots) == 0 || id == n {
				if err := w.Flush(); err != nil {
					writeErr <- err
					return
				}
			}
		}
		writeErr <- nil
	}()

	lats := make([]time.Duration, 0, n)
	r := bufio.NewReaderSize(c, 64<<10)
	buf := make([]byte, 0, 64<<10)
	for len(lats) < n {
		size, err := peers.ReadFrame(r, cfg.Framing, &buf)
		if err != nil {
			return lats, fmt.Errorf("read after %d responses: %w", len(lats), err)
		}
		id := cfg.Framing.ID(buf[:size])
		if id == 0 || id > uint64(n) {
			return lats, fmt.Errorf("response with unknown id %d", id)
		}
		lats = append(lats, time.Since(sent[id]))
		slots <- struct{}{}
	}
	if err := <-writeErr; err != nil && !errors.Is(err, net.ErrClosed) {
		return lats, err
	}
	return lats, nil
}
