// Package proxytest runs a whole proxy in the test process for the filters' own tests: a
// proxy.Server with its admin endpoints, upstream servers and clients speaking testcodec.
// Everything listens on 127.0.0.1 and is stopped by t.Cleanup.
package proxytest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/internal/proctest"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/admin"
	"github.com/breeze-mesh/breeze/proxy/bootstrap"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Codec is the codec name the listeners and servers of this package speak.
const Codec = testcodec.Name

// Methods the Server treats specially; any other method is answered with an OK response.
const (
	// MethodFail is answered with an error response ('E' frame).
	MethodFail = "fail"
	// MethodHold is never answered (the route's timeout fires).
	MethodHold = "hold"
)

// Server is an upstream server. It answers each request with its own metadata echoed back
// (so a test sees what reached the application) plus "server=<name>", and records every
// request's metadata.
type Server struct {
	name string
	ln   net.Listener

	mu       sync.Mutex
	received []map[string]string
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// StartServer starts a server called name.
func StartServer(t testing.TB, name string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{name: name, ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

// Addr is the server's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Received returns the metadata of every request received so far, in arrival order.
func (s *Server) Received() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.received...)
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	codec := newCodec(protocol.RequestSide)
	fr := connio.NewFrameReader(c, codec, 1<<20)
	var wmu sync.Mutex
	for {
		msg := new(protocol.Message)
		if err := fr.Next(msg); err != nil {
			return
		}
		md := map[string]string{}
		for _, kv := range msg.Metadata.All() {
			md[kv.Key] = kv.Value
		}
		s.mu.Lock()
		s.received = append(s.received, md)
		s.mu.Unlock()
		if msg.Type != protocol.Request {
			continue
		}
		typ := byte('R')
		switch md["method"] {
		case MethodHold:
			continue
		case MethodFail:
			typ = 'E'
		}
		reply := map[string]string{"server": s.name}
		for k, v := range md {
			reply["echo-"+k] = v
		}
		wmu.Lock()
		_, err := c.Write(testcodec.Frame(typ, msg.RequestID, reply, "from "+s.name))
		wmu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *Server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func newCodec(side protocol.Side) protocol.Codec {
	reg, err := protocol.Lookup(Codec)
	if err != nil {
		panic(err)
	}
	return reg.New(protocol.Options{Side: side, MaxFrameSize: 1 << 20})
}

// Proxy is an in-process proxy with its admin server.
type Proxy struct {
	*proxy.Server
	Admin *admin.Server
	http  *http.Client
}

// StartProxy applies cfg to a new proxy (its admin server on a free port) and stops both at
// the end of the test, after the proxy has drained.
func StartProxy(t testing.TB, cfg *config.Bootstrap) *Proxy {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := proxy.New(log)
	if err := srv.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	adm, err := admin.Listen("127.0.0.1:0", srv, log)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		t.Fatal(err)
	}
	p := &Proxy{Server: srv, Admin: adm, http: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		adm.Close(ctx)
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
	})
	return p
}

// Get fetches an admin path and returns the body; a status other than 200 fails the test.
func (p *Proxy) Get(t testing.TB, path string) string {
	t.Helper()
	resp, err := p.http.Get("http://" + p.Admin.Addr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return string(body)
}

// Listener returns the bound address of a listener.
func (p *Proxy) Listener(t testing.TB, name string) string {
	t.Helper()
	addr := p.ListenerAddr(name)
	if addr == nil {
		t.Fatalf("no listener %q", name)
	}
	return addr.String()
}

// Reply is what a client got back.
type Reply struct {
	// Error is set for an error response (from the server or a local reply).
	Error    bool
	Metadata map[string]string
	Payload  string
}

// Client sends testcodec requests over one connection, one at a time.
type Client struct {
	conn net.Conn
	fr   *connio.FrameReader
	id   atomic.Uint64
}

// Dial connects a client to addr; it is closed at the end of the test.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{conn: c, fr: connio.NewFrameReader(c, newCodec(protocol.ResponseSide), 1<<20)}
}

// Call sends a request with metadata md and payload, and waits up to 10 s for the reply.
func (c *Client) Call(md map[string]string, payload string) (*Reply, error) {
	id := c.id.Add(1)
	if _, err := c.conn.Write(testcodec.Frame('Q', id, md, payload)); err != nil {
		return nil, err
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	var msg protocol.Message
	if err := c.fr.Next(&msg); err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	if msg.RequestID != id {
		return nil, fmt.Errorf("reply id %d, want %d", msg.RequestID, id)
	}
	r := &Reply{Error: msg.Type == protocol.Error, Metadata: map[string]string{}, Payload: testcodec.Payload(&msg)}
	for _, kv := range msg.Metadata.All() {
		r.Metadata[kv.Key] = kv.Value
	}
	return r, nil
}

// MustCall is Call failing the test on a transport error.
func (c *Client) MustCall(t testing.TB, md map[string]string) *Reply {
	t.Helper()
	r, err := c.Call(md, "hi")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Oneway sends a oneway request.
func (c *Client) Oneway(md map[string]string) error {
	_, err := c.conn.Write(testcodec.Frame('O', c.id.Add(1), md, "hi"))
	return err
}

// Exact is a route condition: metadata key equals value.
func Exact(key, value string) []config.Matcher {
	return []config.Matcher{{Key: key, Kind: config.MatchExact, Value: value}}
}

// Cluster is a single-endpoint cluster.
func Cluster(name, addr string) *config.Cluster {
	return &config.Cluster{Name: name, Endpoints: []config.Endpoint{{Address: addr, Weight: 1}}, ConnectTimeout: time.Second}
}

// ClosedPort returns a loopback address nothing listens on (connections are refused).
func ClosedPort(t testing.TB) string {
	t.Helper()
	return proctest.FreeAddr(t)
}

// WaitFor polls cond every 10 ms until it returns nil, failing the test with its last error
// after 20 s.
func WaitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	proctest.Poll(t, what, 20*time.Second, 10*time.Millisecond, cond)
}

// Families are scraped metric families by name.
type Families map[string]*dto.MetricFamily

// Scrape fetches /stats/prometheus and parses it with the Prometheus text parser.
func (p *Proxy) Scrape(t testing.TB) Families {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(p.Get(t, "/stats/prometheus")))
	if err != nil {
		t.Fatalf("parse /stats/prometheus: %v", err)
	}
	return fams
}

// Series returns the metrics of family name whose labels include labels.
func (f Families) Series(name string, labels map[string]string) []*dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		if hasLabels(m, labels) {
			out = append(out, m)
		}
	}
	return out
}

// Counter sums the counters of family name whose labels include labels.
func (f Families) Counter(name string, labels map[string]string) float64 {
	total := 0.0
	for _, m := range f.Series(name, labels) {
		total += m.GetCounter().GetValue()
	}
	return total
}

// Label returns the value of label name of m.
func Label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k {
				found = lp.GetValue() == v
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// ExampleFilters returns the first ```yaml block of a README: a filter's documented
// meta_protocol_filters example, which its tests load to keep the documentation true.
func ExampleFilters(t testing.TB, readme string) string {
	t.Helper()
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatalf("%s has no ```yaml block", readme)
	}
	return block
}

// LoadBootstrap parses a bootstrap with one listener called listener, its
// meta-protocol proxy carrying the meta_protocol_filters YAML given (as ExampleFilters
// returns it), routing everything to a cluster "app" at upstream, through the same loader
// as `breeze proxy -c` (allow-list checks included).
func LoadBootstrap(t testing.TB, listener, filters, upstream string) *config.Bootstrap {
	t.Helper()
	host, port, err := net.SplitHostPort(upstream)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `static_resources:
  listeners:
  - name: %q
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          codec: {name: %s}
          route_config: {routes: [{name: all, route: {cluster: app}}]}
`, listener, Codec)
	for _, line := range strings.Split(strings.TrimRight(filters, "\n"), "\n") {
		b.WriteString("          " + line + "\n")
	}
	fmt.Fprintf(&b, `  clusters:
  - name: app
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}
`, host, port)
	cfg, err := bootstrap.Parse([]byte(b.String()), "example")
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return cfg
}
