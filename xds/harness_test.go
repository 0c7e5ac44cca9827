package xds

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/internal/proctest"
	_ "github.com/breeze-mesh/breeze/protocol/dubbo"
	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

// upstream is the one real Dubbo server of this test binary (dubbo-go allows one per
// process): a Greeter, whose Attachment method tells which route a request took when each
// route adds its own attachment.
var upstream *greeter.Server

func TestMain(m *testing.M) {
	if err := greeter.SetLogging(io.Discard, "error"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	upstream, err = greeter.Start(greeter.ServerConfig{Name: "upstream", Port: port})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the upstream Greeter:", err)
		os.Exit(1)
	}
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if err := upstream.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "stop the upstream Greeter:", err)
		code = 1
	}
	cancel()
	os.Exit(code)
}

// pollTimeout bounds every wait: a failure deadline, never an expectation of speed.
const pollTimeout = 20 * time.Second

// waitFor polls cond until it returns nil, failing the test with cond's last error after
// pollTimeout.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	proctest.Poll(t, what, pollTimeout, 10*time.Millisecond, cond)
}

// controlPlane is an in-process go-control-plane ADS server: one linear cache per resource
// type (the snapshot cache knows only Envoy's types, not Breeze's route table), serving
// the same resources to every node.
type controlPlane struct {
	t      *testing.T
	addr   string
	caches map[string]*cachev3.LinearCache
	grpc   *grpc.Server
	done   chan struct{}

	mu        sync.Mutex
	requests  []*discoveryv3.DiscoveryRequest
	responses []*discoveryv3.DiscoveryResponse
}

// startControlPlane serves on addr ("127.0.0.1:0" for any port) until the test ends.
func startControlPlane(t *testing.T, addr string) *controlPlane {
	t.Helper()
	cp := &controlPlane{t: t, caches: map[string]*cachev3.LinearCache{}, done: make(chan struct{})}
	for _, url := range typeURLs {
		cp.caches[url] = cachev3.NewLinearCache(url)
	}
	mux := &cachev3.MuxCache{
		Classify: func(r *cachev3.Request) string { return r.GetTypeUrl() },
		Caches:   map[string]cachev3.Cache{},
	}
	for url, c := range cp.caches {
		mux.Caches[url] = c
	}
	callbacks := serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discoveryv3.DiscoveryRequest) error {
			cp.mu.Lock()
			cp.requests = append(cp.requests, proto.Clone(req).(*discoveryv3.DiscoveryRequest))
			cp.mu.Unlock()
			return nil
		},
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			cp.mu.Lock()
			cp.responses = append(cp.responses, proto.Clone(resp).(*discoveryv3.DiscoveryResponse))
			cp.mu.Unlock()
		},
	}
	cp.serve(addr, mux, callbacks)
	return cp
}

// startServer serves cache with callbacks on any free port; the controlPlane returned only
// has an address and stop.
func startServer(t *testing.T, cache cachev3.Cache, callbacks serverv3.Callbacks) *controlPlane {
	t.Helper()
	cp := &controlPlane{t: t, done: make(chan struct{})}
	cp.serve("127.0.0.1:0", cache, callbacks)
	return cp
}

// serve starts the gRPC server on addr, stopped when the test ends.
func (cp *controlPlane) serve(addr string, cache cachev3.Cache, callbacks serverv3.Callbacks) {
	cp.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := serverv3.NewServer(ctx, cache, callbacks)
	cp.grpc = grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(cp.grpc, srv)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cancel()
		cp.t.Fatal(err)
	}
	cp.addr = ln.Addr().String()
	go func() {
		defer close(cp.done)
		_ = cp.grpc.Serve(ln)
	}()
	cp.t.Cleanup(func() {
		cp.stop()
		cancel()
	})
}

// stop kills the server and every stream, as a control plane that dies would.
func (cp *controlPlane) stop() {
	cp.grpc.Stop()
	<-cp.done
}

// set replaces the resources of one type.
func (cp *controlPlane) set(typeURL string, resources ...proto.Message) {
	cp.t.Helper()
	byName := map[string]types.Resource{}
	for _, r := range resources {
		byName[cachev3.GetResourceName(r)] = r
	}
	if typeURL == RouteType {
		// GetResourceName knows only Envoy's types.
		byName = map[string]types.Resource{}
		for _, r := range resources {
			byName[r.(*mpv1.RouteConfiguration).GetName()] = r
		}
	}
	cp.caches[typeURL].SetResources(byName)
}

// nacks returns the NACKs received for typeURL: requests carrying an error_detail.
func (cp *controlPlane) nacks(typeURL string) []*discoveryv3.DiscoveryRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []*discoveryv3.DiscoveryRequest
	for _, r := range cp.requests {
		if r.GetTypeUrl() == typeURL && r.GetErrorDetail() != nil {
			out = append(out, r)
		}
	}
	return out
}

// lastRequest is the latest request of typeURL the proxy sent, or nil.
func (cp *controlPlane) lastRequest(typeURL string) *discoveryv3.DiscoveryRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for i := len(cp.requests) - 1; i >= 0; i-- {
		if r := cp.requests[i]; r.GetTypeUrl() == typeURL {
			return r
		}
	}
	return nil
}

// acked reports whether the proxy ACKed a response of typeURL with version.
func (cp *controlPlane) acked(typeURL, version string) bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, r := range cp.requests {
		if r.GetTypeUrl() == typeURL && r.GetVersionInfo() == version && r.GetErrorDetail() == nil && r.GetResponseNonce() != "" {
			return true
		}
	}
	return false
}

// lastSent is the version of the last response of typeURL the server sent ("" if none).
func (cp *controlPlane) lastSent(typeURL string) string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for i := len(cp.responses) - 1; i >= 0; i-- {
		if r := cp.responses[i]; r.GetTypeUrl() == typeURL {
			return r.GetVersionInfo()
		}
	}
	return ""
}

// Resource builders: the shapes docs/xds.md describes.

func socket(addr string) *corev3.Address {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	port, _ := strconv.Atoi(portText)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// rdsListener is a Dubbo listener on addr taking route table routes over RDS.
func rdsListener(name, addr, routes string) *listenerv3.Listener {
	mp := &mpv1.MetaProtocolProxy{
		StatPrefix: name,
		Codec:      &mpv1.Codec{Name: "dubbo"},
		RouteSpecifier: &mpv1.MetaProtocolProxy_Rds{Rds: &mpv1.Rds{
			RouteConfigName: routes,
			ConfigSource: &mpv1.ConfigSource{
				ConfigSourceSpecifier: &mpv1.ConfigSource_Ads{Ads: &mpv1.AggregatedConfigSource{}},
				ResourceApiVersion:    mpv1.ApiVersion_V3,
			},
		}},
	}
	return &listenerv3.Listener{
		Name:    name,
		Address: socket(addr),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "breeze.meta_protocol_proxy",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(mp)},
		}}}},
	}
}

// edsCluster is a cluster whose endpoints come over ADS.
func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			ResourceApiVersion:    corev3.ApiVersion_V3,
		}},
	}
}

// assignment lists a cluster's endpoints.
func assignment(cluster string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	var lbs []*endpointv3.LbEndpoint
	for _, a := range addrs {
		lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
			Endpoint: &endpointv3.Endpoint{Address: socket(a)},
		}})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: cluster, Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}}
}

// taggedRoutes is a route table sending every request to cluster, adding the attachment
// x-route-tag: tag, so that the upstream's Attachment method shows which table routed it.
func taggedRoutes(name, cluster, tag string) *mpv1.RouteConfiguration {
	return &mpv1.RouteConfiguration{Name: name, Routes: []*mpv1.Route{{
		Name:            "all",
		Route:           &mpv1.RouteAction{ClusterSpecifier: &mpv1.RouteAction_Cluster{Cluster: cluster}},
		RequestMutation: []*mpv1.KeyValue{{Key: tagKey, Value: tag}},
	}}}
}

// tagKey is the attachment a test's route tables set.
const tagKey = "x-route-tag"

// testProxy is an in-process proxy with an xDS client.
type testProxy struct {
	srv    *proxy.Server
	client *Client
	log    *proctest.SyncBuffer
}

// startProxy starts a proxy whose bootstrap points at cp, subscribing to listeners and
// clusters, with static resources added by static (may be nil).
func startProxy(t *testing.T, cp *controlPlane, static func(*config.Bootstrap)) *testProxy {
	t.Helper()
	b := &config.Bootstrap{
		Clusters: []*config.Cluster{{Name: "xds", ConnectTimeout: time.Second, Endpoints: []config.Endpoint{{Address: cp.addr, Weight: 1}}}},
		Dynamic:  &config.Dynamic{ADSCluster: "xds", Listeners: true, Clusters: true},
		Node:     config.Node{ID: t.Name(), Metadata: map[string]any{"namespace": "default"}},
	}
	if static != nil {
		static(b)
	}
	logs := &proctest.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := proxy.New(log)
	c, err := Start(Options{
		Bootstrap: b, Target: srv, Log: log, Metrics: srv.Metrics().Registry,
		// Reconnect quickly: the tests restart control planes.
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{srv: srv, client: c, log: logs}
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs)
		}
	})
	return p
}

// waitReady waits until the client reports the first full configuration applied.
func (p *testProxy) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, "proxy ready", p.client.Ready)
}

// dial opens a raw Dubbo connection to the proxy's listener name.
func (p *testProxy) dial(t *testing.T, listener string) *dubboraw.Conn {
	t.Helper()
	addr := p.srv.ListenerAddr(listener)
	if addr == nil {
		t.Fatalf("listener %q is not running", listener)
	}
	conn, err := dubboraw.Dial(addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// routeTag calls the upstream through conn and returns the tag attachment the route added.
// Any failure fails the test: a request must never fail across config changes.
func routeTag(t *testing.T, conn *dubboraw.Conn) string {
	t.Helper()
	resp, err := conn.Call(dubboraw.Request{Interface: greeter.Interface, Version: "1.0.0", Method: greeter.MethodAttachment, Args: []any{tagKey}})
	if err != nil {
		t.Fatalf("call through the proxy: %v", err)
	}
	if resp.Err != nil {
		t.Fatalf("call through the proxy failed: %v", resp.Err)
	}
	tag, _ := resp.Result.(string)
	return tag
}
