package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/breeze-mesh/breeze/bench/load"
)

// BenchmarkDubbo is the go test form of the closed-loop Dubbo scenarios: b.N requests
// straight to the upstream server, then b.N through a `breeze proxy` process routing on
// interface and version, reporting for the proxied run: proxy CPU µs per request (from
// /proc), the throughput ratio to direct, and p50/p99 for both. Nothing is pinned here;
// `go run ./bench` is the full harness.
//
//	go test ./bench -run '^$' -bench Dubbo -benchtime 40000x
//
// BENCH_PROXY_GOMAXPROCS sets the proxy's GOMAXPROCS.
func BenchmarkDubbo(b *testing.B) {
	var env []string
	if procs := os.Getenv("BENCH_PROXY_GOMAXPROCS"); procs != "" {
		env = append(env, "GOMAXPROCS="+procs)
	}
	h := &harness{
		opts:     options{upstreamAddr: "127.0.0.1:0"},
		spec:     breezeSpec(breezeBinary, env),
		isBreeze: true,
		tmp:      b.TempDir(),
		log:      io.Discard,
	}
	dubbo := findProtocol("dubbo")
	for _, sc := range []struct {
		shape   shape
		payload payloadDef
	}{
		{shape{16, 4}, small},
		{shape{16, 4}, payloadDef{"1KiB", 1 << 10}},
		{shape{1, 1}, small},
	} {
		b.Run(sc.shape.String()+"/"+sc.payload.name, func(b *testing.B) {
			ctx := context.Background()
			g, err := h.startGroup(ctx, dubbo, sc.payload)
			if err != nil {
				b.Fatal(err)
			}
			defer g.stop()
			cfg := load.Config{Connections: sc.shape.conns, InFlight: sc.shape.inFlight, Requests: max(b.N, sc.shape.conns*sc.shape.inFlight)}
			// Warm up both paths (connections, pools, page faults) before measuring.
			warm := cfg
			warm.Requests = min(cfg.Requests, 2000)
			for _, proxied := range []bool{false, true} {
				if _, _, err := h.measure(ctx, g, warm, proxied); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			direct, _, err := h.measure(ctx, g, cfg, false)
			if err != nil {
				b.Fatal(err)
			}
			proxied, cost, err := h.measure(ctx, g, cfg, true)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if proxied.Failed+direct.Failed > 0 {
				b.Fatalf("error responses: %d proxied, %d direct", proxied.Failed, direct.Failed)
			}
			b.ReportMetric(cost.CPUPerRequest, "proxy-cpu-µs/req")
			b.ReportMetric(proxied.Throughput/direct.Throughput, "throughput-ratio")
			b.ReportMetric(direct.P50, "direct-p50-µs")
			b.ReportMetric(proxied.P50, "proxy-p50-µs")
			b.ReportMetric(direct.P99, "direct-p99-µs")
			b.ReportMetric(proxied.P99, "proxy-p99-µs")
			b.ReportMetric(direct.Throughput, "direct-req/s")
			b.ReportMetric(proxied.Throughput, "proxy-req/s")
			b.ReportMetric(cost.RSSMiB, "proxy-rss-MiB")
		})
	}
}

var breezeBinary string

// TestMain builds the breeze binary once; when started as the harness's upstream server
// (see upstream.go) the test binary serves instead of testing.
func TestMain(m *testing.M) {
	if runRole() {
		return
	}
	dir, err := os.MkdirTemp("", "breeze-bench")
	if err != nil {
		panic(err)
	}
	root, err := moduleRoot()
	if err == nil {
		breezeBinary, err = buildBreeze(root, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "building breeze:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
