package demo

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/hessiangreeter"
	thriftgreeter "github.com/breeze-mesh/breeze/examples/thrift/greeter"
)

// requestKind is one kind of call in the demo's traffic mix.
type requestKind struct {
	// protocol is Dubbo or Thrift: which service, and which of the proxy's listeners, the
	// call goes to.
	protocol string
	// label names the row in the table.
	label string
	// method is the method called. version (Dubbo: the service version, with interface)
	// and headers (Thrift: THeader headers) are what else the call carries; the proxy
	// routes on them.
	method, iface, version string
	headers                map[string]string
	// route is the route of the MetaRouter the call should match.
	route string
	// weight is the kind's share of the traffic.
	weight int
}

// trafficMix exercises each route of examples/mesh/greeter-metarouter.yaml (Dubbo) and
// examples/mesh/thrift-greeter-metarouter.yaml (Thrift).
var trafficMix = []requestKind{
	{protocol: Dubbo, label: "dubbo   sayHello  version 1.0.0", iface: hessiangreeter.Interface, method: hessiangreeter.MethodSayHello, version: "1.0.0", route: "default", weight: 4},
	{protocol: Dubbo, label: "dubbo   sayHello  version 2.0.0", iface: hessiangreeter.Interface, method: hessiangreeter.MethodSayHello, version: "2.0.0", route: "v2-callers", weight: 3},
	{protocol: Dubbo, label: "dubbo   sayHi     version 1.0.0", iface: hessiangreeter.Interface, method: hessiangreeter.MethodSayHi, version: "1.0.0", route: "say-hi", weight: 3},
	{protocol: Thrift, label: "thrift  sayHello", method: thriftgreeter.SayHello, route: "canary", weight: 4},
	{protocol: Thrift, label: "thrift  sayHello  x-tester: beta", method: thriftgreeter.SayHello, headers: map[string]string{"x-tester": "beta"}, route: "beta", weight: 3},
	{protocol: Thrift, label: "thrift  sayHi", method: thriftgreeter.SayHi, route: "say-hi", weight: 3},
}

// caller makes one kind of call and returns the reply's text.
type caller interface {
	call(ctx context.Context) (string, error)
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
	callers []caller // one per kind
	// dubbo is the one Dubbo client every Dubbo kind shares (interface and version travel
	// with each request); nil when the mix has no Dubbo calls.
	dubbo *hessiangreeter.Client

	mu    sync.Mutex
	stats []kindStats
}

// callTimeout bounds each demo call; the proxy's routes time out sooner (5s) only when a
// server hangs, which the demo's servers do not.
const callTimeout = 3 * time.Second

// newTraffic connects a client per kind to the proxy's listener for its protocol
// (listeners maps protocol to address).
func newTraffic(listeners map[string]string, kinds []requestKind) (*traffic, error) {
	t := &traffic{kinds: kinds, stats: make([]kindStats, len(kinds))}
	for i, k := range kinds {
		var c caller
		switch k.protocol {
		case Dubbo:
			if t.dubbo == nil {
				client, err := hessiangreeter.Dial(hessiangreeter.ClientConfig{Address: listeners[Dubbo], Timeout: callTimeout})
				if err != nil {
					t.close()
					return nil, err
				}
				t.dubbo = client
			}
			c = &dubboCaller{client: t.dubbo, req: hessiangreeter.Request{Interface: k.iface, Version: k.version, Method: k.method, Args: []any{"demo"}}}
		case Thrift:
			c = &thriftCaller{address: listeners[Thrift], method: k.method, headers: k.headers}
		default:
			return nil, errors.New("unknown protocol " + k.protocol)
		}
		t.callers = append(t.callers, c)
		t.stats[i].byServer = map[string]int64{}
	}
	return t, nil
}

// close closes the clients' connections.
func (t *traffic) close() {
	if t.dubbo != nil {
		t.dubbo.Close()
	}
	for _, c := range t.callers {
		if tc, ok := c.(*thriftCaller); ok {
			tc.close()
		}
	}
}

// dubboCaller calls the Dubbo Greeter over the Dubbo protocol (hessian2). The client
// redials by itself after a failed connection.
type dubboCaller struct {
	client *hessiangreeter.Client
	req    hessiangreeter.Request
}

func (c *dubboCaller) call(ctx context.Context) (string, error) {
	return c.client.CallString(ctx, c.req)
}

// thriftCaller calls the Thrift Greeter with Apache Thrift, over THeader so that its
// headers reach the proxy. One connection, calls taking turns; after a failed call it dials
// again on the next one (the library's client gives up a connection after a transport
// error).
type thriftCaller struct {
	address string
	method  string
	headers map[string]string

	mu     sync.Mutex
	client *thriftgreeter.Client
}

func (c *thriftCaller) call(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		client, err := thriftgreeter.Dial(thriftgreeter.ClientConfig{Address: c.address,
			Transport: thriftgreeter.THeader, Protocol: thriftgreeter.Binary, Timeout: callTimeout})
		if err != nil {
			return "", err
		}
		c.client = client
	}
	reply, err := c.client.Call(ctx, c.method, "demo", c.headers)
	if err != nil {
		// The connection may be fine (an exception reply) or not; a new one is cheap and
		// certain.
		c.client.Close()
		c.client = nil
	}
	return reply, err
}

func (c *thriftCaller) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		c.client.Close()
		c.client = nil
	}
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
	reply, err := t.callers[i].call(ctx)
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
