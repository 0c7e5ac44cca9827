package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/bench/load"
	"github.com/breeze-mesh/breeze/bench/peers"
	"github.com/breeze-mesh/breeze/bench/procstat"
)

// BenchmarkDubbo sends b.N Dubbo requests directly to an echo server and then b.N through
// a `breeze proxy` process routing on interface and version, and reports, for the
// proxied run: proxy CPU µs per request (from /proc), the throughput ratio to direct, and
// p50/p99 for both.
func BenchmarkDubbo(b *testing.B) {
	for _, sc := range []struct {
		name            string
		conns, inFlight int
		payload         int
	}{
		{"16x4/small", 16, 4, 16},
		{"16x4/1KiB", 16, 4, 1024},
		{"1x1/small", 1, 1, 16},
	} {
		b.Run(sc.name, func(b *testing.B) {
			srv, err := peers.StartEchoServer(peers.Dubbo, peers.DubboResponse(sc.payload))
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			proxyAddr, pid := startProxy(b, srv.Addr())
			cfg := load.Config{
				Framing:     peers.Dubbo,
				Request:     peers.DubboRequest("org.apache.dubbo.sample.Greeter", "sayHello", "1.0.0", sc.payload),
				Connections: sc.conns,
				InFlight:    sc.inFlight,
				Requests:    max(b.N, sc.conns*sc.inFlight),
			}
			ctx := context.Background()
			// Warm up both paths (connections, pools, page faults) before measuring.
			warm := cfg
			warm.Requests = min(cfg.Requests, 2000)
			for _, addr := range []string{srv.Addr(), proxyAddr} {
				warm.Addr = addr
				if _, err := load.Run(ctx, warm); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			cfg.Addr = srv.Addr()
			direct, err := load.Run(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			before, err := procstat.Read(pid)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Addr = proxyAddr
			proxied, err := load.Run(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			after, _ := procstat.Read(pid)
			b.StopTimer()
			cpuPerReq := float64((after.CPU - before.CPU).Microseconds()) / float64(proxied.Requests)
			b.ReportMetric(cpuPerReq, "proxy-cpu-µs/req")
			b.ReportMetric(proxied.Throughput()/direct.Throughput(), "throughput-ratio")
			b.ReportMetric(us(direct.Percentile(0.5)), "direct-p50-µs")
			b.ReportMetric(us(proxied.Percentile(0.5)), "proxy-p50-µs")
			b.ReportMetric(us(direct.Percentile(0.99)), "direct-p99-µs")
			b.ReportMetric(us(proxied.Percentile(0.99)), "proxy-p99-µs")
			b.ReportMetric(direct.Throughput(), "direct-req/s")
			b.ReportMetric(proxied.Throughput(), "proxy-req/s")
			b.ReportMetric(float64(after.RSS)/(1<<20), "proxy-rss-MiB")
		})
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

var breezeBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "breeze-bench")
	if err != nil {
		panic(err)
	}
	breezeBinary = filepath.Join(dir, "breeze")
	build := exec.Command("go", "build", "-o", breezeBinary, "../cmd/breeze")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building breeze:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const bootstrapTemplate = `admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %d}}
static_resources:
  listeners:
  - name: dubbo
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          stat_prefix: dubbo
          codec: {name: dubbo}
          route_config:
            name: bench
            routes:
            - name: v2
              match: {metadata: [{name: version, exact: "2.0.0"}]}
              route: {cluster: echo}
            - name: greeter
              match: {metadata: [{name: interface, exact: org.apache.dubbo.sample.Greeter}]}
              route: {cluster: echo}
  clusters:
  - name: echo
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: echo
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}
`

// startProxy runs a breeze proxy process in front of upstream and returns its listener
// address and pid; the process is stopped when the benchmark ends.
func startProxy(b *testing.B, upstream string) (string, int) {
	b.Helper()
	adminPort, listenPort := freePort(b), freePort(b)
	host, port, _ := net.SplitHostPort(upstream)
	path := filepath.Join(b.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, bootstrapTemplate, adminPort, listenPort, host, port), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(breezeBinary, "proxy", "-c", path, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if procs := os.Getenv("BENCH_PROXY_GOMAXPROCS"); procs != "" {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	ready := fmt.Sprintf("http://127.0.0.1:%d/ready", adminPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("proxy not ready at %s", ready)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("127.0.0.1:%d", listenPort), cmd.Process.Pid
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
