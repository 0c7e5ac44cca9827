package demo

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// requestKind is one kind of call in the demo's traffic mix.
type requestKind struct {
	// label names the row in the table.
	label string
	// iface, method and version are what the call carries; the proxy routes on them.
	iface, method, version string
	// route is the route the bootstrap should match ("" when none should).
	route string
	// weight is the kind's share of the traffic.
	weight int
}

// trafficMix exercises each route of examples/mesh/greeter-metarouter.yaml.
var trafficMix = []requestKind{
	{label: "sayHello  version 1.0.0", iface: greeter.Interface, method: greeter.MethodSayHello, version: "1.0.0", route: "default", weight: 4},
	{label: "sayHello  version 2.0.0", iface: greeter.Interface, method: greeter.MethodSayHello, version: "2.0.0", route: "v2-callers", weight: 3},
	{label: "sayHi     version 1.0.0", iface: greeter.Interface, method: greeter.MethodSayHi, version: "1.0.0", route: "say-hi", weight: 3},
}

// kindStats counts what happened to one kind of call.
type kindStats struct {
	sent     int64
	errors   int64
	byServer map[string]int64 // replies by the server that answered
	lastErr  string
}

// traffic sends the mix to the proxy and counts the outcomes.
type traffic struct {
	kinds   []requestKind
	clients []*greeter.Client // one per kind: dubbo-go binds version and interface per client

	mu    sync.Mutex
	stats []kindStats
}

// callTimeout bounds each demo call; the proxy's routes time out sooner (5s) only when a
// server hangs, which the demo's servers do not.
const callTimeout = 3 * time.Second

func newTraffic(proxyAddr string, kinds []requestKind) (*traffic, error) {
	t := &traffic{kinds: kinds, stats: make([]kindStats, len(kinds))}
	for i, k := range kinds {
		c, err := greeter.Dial(greeter.ClientConfig{Address: proxyAddr, Interface: k.iface, Version: k.version, Timeout: callTimeout})
		if err != nil {
			return nil, err
		}
		t.clients = append(t.clients, c)
		t.stats[i].byServer = map[string]int64{}
	}
	return t, nil
}

// run sends about rate calls per second, from workers goroutines, until ctx ends.
func (t *traffic) run(ctx context.Context, rate, workers int) {
	schedule := weightedSchedule(t.kinds)
	tokens := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tokens {
				t.call(ctx, i)
			}
		}()
	}
	ticker := time.NewTicker(time.Second / time.Duration(rate))
	defer ticker.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			close(tokens)
			wg.Wait()
			return
		case <-ticker.C:
		}
		select {
		case tokens <- schedule[n%len(schedule)]:
		case <-ctx.Done():
		}
	}
}

// weightedSchedule interleaves kind indexes by weight: weights 2 and 1 give [0 1 0].
func weightedSchedule(kinds []requestKind) []int {
	var schedule []int
	for round := 0; ; round++ {
		added := false
		for i, k := range kinds {
			if round < k.weight {
				schedule = append(schedule, i)
				added = true
			}
		}
		if !added {
			return schedule
		}
	}
}

// call makes one call of kind i and records its outcome.
func (t *traffic) call(ctx context.Context, i int) {
	k := t.kinds[i]
	var reply string
	err := t.clients[i].Call(ctx, k.method, []any{"demo"}, &reply)
	if ctx.Err() != nil {
		return // interrupted by shutdown: not an outcome worth counting
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.stats[i]
	s.sent++
	if err != nil {
		s.errors++
		s.lastErr = err.Error()
		return
	}
	s.byServer[serverOf(reply)]++
}

// serverOf extracts the server name from a Greeter reply ("hello demo from v1" → "v1").
func serverOf(reply string) string {
	if i := strings.LastIndex(reply, " from "); i >= 0 {
		return reply[i+len(" from "):]
	}
	return "?"
}

// snapshot copies the counters.
func (t *traffic) snapshot() []kindStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]kindStats, len(t.stats))
	for i, s := range t.stats {
		out[i] = s
		out[i].byServer = make(map[string]int64, len(s.byServer))
		for k, v := range s.byServer {
			out[i].byServer[k] = v
		}
	}
	return out
}
