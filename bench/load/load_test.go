package load

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/bench/peers"
)

func echo(t *testing.T, response []byte) *peers.EchoServer {
	t.Helper()
	srv, err := peers.StartEchoServer(peers.Dubbo, response)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

var dubboReq = peers.DubboRequest("org.apache.dubbo.sample.Greeter", "sayHello", "1.0.0", 16)

func TestClosedFixedCount(t *testing.T) {
	srv := echo(t, peers.DubboResponse(16))
	var edges []bool
	res, err := Run(context.Background(), Config{
		Addr: srv.Addr(), Framing: peers.Dubbo, Request: dubboReq,
		Connections: 3, InFlight: 4, Requests: 1000,
		OnWindow: func(start bool) { edges = append(edges, start) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || res.Latency.Count() != 1000 || res.Failed != 0 || res.Lost != 0 {
		t.Fatalf("requests %d, recorded %d, failed %d, lost %d; want 1000 answered", res.Requests, res.Latency.Count(), res.Failed, res.Lost)
	}
	if res.Percentile(0.5) <= 0 || res.Throughput() <= 0 {
		t.Fatalf("p50 %v, throughput %v", res.Percentile(0.5), res.Throughput())
	}
	if len(edges) != 2 || !edges[0] || edges[1] {
		t.Fatalf("OnWindow calls %v, want [true false]", edges)
	}
}

func TestClosedTimedWindow(t *testing.T) {
	srv := echo(t, peers.DubboResponse(16))
	var mu sync.Mutex
	var edges []time.Time
	start := time.Now()
	res, err := Run(context.Background(), Config{
		Addr: srv.Addr(), Framing: peers.Dubbo, Request: dubboReq,
		Connections: 2, InFlight: 2, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
		OnWindow: func(bool) {
			mu.Lock()
			edges = append(edges, time.Now())
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed != 200*time.Millisecond || res.Requests == 0 {
		t.Fatalf("elapsed %v with %d requests", res.Elapsed, res.Requests)
	}
	// The edges are scheduled at absolute times, so these are lower bounds whatever the
	// machine's speed.
	if len(edges) != 2 || edges[0].Sub(start) < 50*time.Millisecond || edges[1].Sub(start) < 250*time.Millisecond {
		t.Fatalf("window edges %v after the start at %v; want the first after the 50ms warm-up and the second after 250ms", edges, start)
	}
}

// Error responses are counted, so a target that fails fast cannot pass for a fast one.
func TestFailedResponsesCounted(t *testing.T) {
	bad := peers.DubboResponse(16)
	bad[3] = 70 // SERVICE_ERROR
	srv := echo(t, bad)
	res, err := Run(context.Background(), Config{Addr: srv.Addr(), Framing: peers.Dubbo, Request: dubboReq, Connections: 1, InFlight: 1, Requests: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 10 {
		t.Fatalf("failed = %d, want 10", res.Failed)
	}
}

func TestOpenLoopSchedule(t *testing.T) {
	srv := echo(t, peers.DubboResponse(16))
	res, err := Run(context.Background(), Config{
		Addr: srv.Addr(), Framing: peers.Dubbo, Request: dubboReq,
		Connections: 4, Rate: 2000, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the requests intended within the window are recorded: 2000/s × 300 ms.
	if res.Requests < 599 || res.Requests > 601 {
		t.Fatalf("recorded %d requests, want 600", res.Requests)
	}
	if res.SendLag.Count() != uint64(res.Requests) || res.Lost != 0 {
		t.Fatalf("send lag samples %d, lost %d", res.SendLag.Count(), res.Lost)
	}
}

// silentServer reads requests and answers only those for which answer(n) holds (n counts
// requests from 1): a fault a real peer cannot be made to produce.
func silentServer(t *testing.T, answer func(n int) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	resp := peers.DubboResponse(1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				var buf []byte
				for n := 1; ; n++ {
					size, err := peers.ReadFrame(r, peers.Dubbo, &buf)
					if err != nil {
						return
					}
					if answer(n) {
						peers.SetDubboID(resp, peers.DubboID(buf[:size]))
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestClosedLostResponse(t *testing.T) {
	addr := silentServer(t, func(n int) bool { return n != 3 })
	res, err := Run(context.Background(), Config{
		Addr: addr, Framing: peers.Dubbo, Request: dubboReq,
		Connections: 1, InFlight: 2, Requests: 20, DrainTimeout: 200 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want the missing response reported", err)
	}
	if res == nil || res.Lost != 1 {
		t.Fatalf("result %+v, want 1 lost", res)
	}
}

func TestOpenLoopLostResponses(t *testing.T) {
	addr := silentServer(t, func(int) bool { return false })
	res, err := Run(context.Background(), Config{
		Addr: addr, Framing: peers.Dubbo, Request: dubboReq,
		Connections: 2, Rate: 1000, Duration: 100 * time.Millisecond, DrainTimeout: 100 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v, want missing responses reported", err)
	}
	if res.Lost < 90 || res.Requests != 0 {
		t.Fatalf("lost %d, recorded %d; want ~100 lost and none recorded", res.Lost, res.Requests)
	}
}

func TestProbeAndIdle(t *testing.T) {
	srv := echo(t, peers.DubboResponse(16))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Probe(ctx, srv.Addr(), peers.Dubbo, dubboReq); err != nil {
		t.Fatal(err)
	}
	ic, err := OpenIdle(ctx, srv.Addr(), peers.Dubbo, dubboReq, 50)
	if err != nil {
		t.Fatal(err)
	}
	if ic.Len() != 50 {
		t.Fatalf("%d connections, want 50", ic.Len())
	}
	ic.Close()
	// A target answering errors fails the probe.
	bad := peers.DubboResponse(16)
	bad[3] = 60
	if err := Probe(ctx, echo(t, bad).Addr(), peers.Dubbo, dubboReq); err == nil {
		t.Fatal("probe accepted an error response")
	}
}
