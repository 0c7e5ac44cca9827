package proxy_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/breeze-mesh/breeze/bench/load"
	"github.com/breeze-mesh/breeze/bench/peers"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

var testFraming = peers.Framing{
	Len: func(b []byte) (int, error) {
		if len(b) < 4 {
			return 0, nil
		}
		return 4 + int(binary.BigEndian.Uint32(b)), nil
	},
	ID:    func(f []byte) uint64 { return binary.BigEndian.Uint64(f[5:]) },
	SetID: func(f []byte, id uint64) { binary.BigEndian.PutUint64(f[5:], id) },
}

// BenchmarkProxyInProcess drives requests through an in-process proxy; allocs/op counts
// the whole process (client and server included), so compare it between versions rather
// than reading it as the proxy's own.
func BenchmarkProxyInProcess(b *testing.B) {
	srv, err := peers.StartEchoServer(testFraming, testcodec.Frame('R', 0, map[string]string{"status": "ok"}, "pong"))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	f := startProxyB(b, srv.Addr())
	req := testcodec.Frame('Q', 0, map[string]string{"interface": "com.example.Greeter", "method": "sayHello", "version": "1.0.0"}, "ping")
	b.ReportAllocs()
	b.ResetTimer()
	res, err := load.Run(context.Background(), load.Config{Addr: f, Framing: testFraming, Request: req, Connections: 4, InFlight: 4, Requests: max(b.N, 16)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Percentile(0.5).Microseconds()), "p50-µs")
}

func startProxyB(b *testing.B, upstream string) string {
	srvp := newTestServer()
	if err := srvp.Apply(&config.Bootstrap{
		Listeners: []*config.Listener{{Name: "bench", Address: "127.0.0.1:0", Codec: testcodec.Name, Routes: &config.RouteTable{Routes: []*config.Route{
			{Name: "v2", Match: exact("version", "2.0.0"), Cluster: "b"},
			{Name: "greeter", Match: exact("interface", "com.example.Greeter"), Cluster: "b"},
		}}}},
		Clusters: []*config.Cluster{cluster("b", upstream)},
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srvp.Shutdown(context.Background()) })
	return srvp.ListenerAddr("bench").String()
}
