package metadataexchange_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	mxv1 "github.com/breeze-mesh/breeze/api/filters/metadataexchange/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	_ "github.com/breeze-mesh/breeze/proxy/filters/istiostats" // the README's chain has it
	"github.com/breeze-mesh/breeze/proxy/filters/metadataexchange"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// istioNode is node metadata as Istio's injector writes it, plus keys that must stay local.
var istioNode = config.Node{ID: "sidecar~10.0.0.7~greeter-v2-5d8f.shop~shop.svc.cluster.local", Metadata: map[string]any{
	"NAME": "greeter-v2-5d8f", "NAMESPACE": "shop", "WORKLOAD_NAME": "greeter-v2", "CLUSTER_ID": "east",
	"SERVICE_ACCOUNT": "greeter", "INSTANCE_IPS": "10.0.0.7",
	"LABELS":        map[string]any{"app": "greeter", "version": "v2", "pod-template-hash": "5d8f"},
	"inbound_ports": []any{"20880"},
}}

func TestEncodeSendsTheWorkloadInIstioKeys(t *testing.T) {
	v, err := metadataexchange.Encode(istioNode)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("not standard base64: %v", err)
	}
	var st structpb.Struct
	if err := proto.Unmarshal(b, &st); err != nil {
		t.Fatalf("not a google.protobuf.Struct: %v", err)
	}
	got := st.AsMap()
	for _, k := range []string{"NAMESPACE", "WORKLOAD_NAME", "CLUSTER_ID", "SERVICE_ACCOUNT", "LABELS"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing from %v", k, got)
		}
	}
	for _, k := range []string{"NAME", "INSTANCE_IPS", "inbound_ports"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s (per pod, or not Istio's) is sent: %v", k, got)
		}
	}
	// Deterministic: the same node gives the same bytes, so receivers cache one entry.
	for range 5 {
		if again, _ := metadataexchange.Encode(istioNode); again != v {
			t.Fatal("Encode is not deterministic")
		}
	}
}

func TestBreezeKeysAreSentAsIstio(t *testing.T) {
	v, err := metadataexchange.Encode(config.Node{Metadata: map[string]any{
		"workload": "frontend", "namespace": "web", "cluster_id": "west",
		"labels": map[string]any{"app.kubernetes.io/name": "front", "app.kubernetes.io/version": "3"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	peers := newPeers(t)
	got := peers.Lookup(v)
	want := metadataexchange.Peer{Workload: "frontend", Namespace: "web", App: "front", Version: "3",
		CanonicalService: "front", CanonicalRevision: "3", Cluster: "west"}
	if got == nil || *got != want {
		t.Fatalf("Lookup = %+v, want %+v", got, want)
	}
}

func TestLookupDecodesIstioMetadata(t *testing.T) {
	v, _ := metadataexchange.Encode(istioNode)
	peers := newPeers(t)
	got := peers.Lookup(v)
	want := metadataexchange.Peer{Workload: "greeter-v2", Namespace: "shop", App: "greeter", Version: "v2",
		CanonicalService: "greeter", CanonicalRevision: "v2", Cluster: "east"}
	if got == nil || *got != want {
		t.Fatalf("Lookup = %+v, want %+v", got, want)
	}
	// Another pod of the workload (another NAME, say) is the same *Peer: interned.
	other := istioNode
	other.Metadata = map[string]any{"NAMESPACE": "shop", "WORKLOAD_NAME": "greeter-v2", "CLUSTER_ID": "east",
		"LABELS": map[string]any{"app": "greeter", "version": "v2"}, "OWNER": "kubernetes://x"}
	v2, _ := metadataexchange.Encode(other)
	if v2 == v {
		t.Fatal("test needs two distinct values")
	}
	if p := peers.Lookup(v2); p != got {
		t.Errorf("same labels, another value: %p, want the interned %p", p, got)
	}
	// Canonical labels win over app and version; missing ones are unknown.
	v3 := encodeStruct(t, map[string]any{"LABELS": map[string]any{
		"service.istio.io/canonical-name": "gr", "service.istio.io/canonical-revision": "r1", "app": "greeter"}})
	want3 := metadataexchange.Peer{Workload: "unknown", Namespace: "unknown", App: "greeter", Version: "unknown",
		CanonicalService: "gr", CanonicalRevision: "r1", Cluster: "unknown"}
	if p := peers.Lookup(v3); p == nil || *p != want3 {
		t.Errorf("Lookup = %+v, want %+v", p, want3)
	}
}

func TestBadValuesNameNoPeerAndAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	peers, err := metadataexchange.NewPeers(reg)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("A", 20<<10)
	for name, v := range map[string]string{
		"not base64":   "%%%",
		"not a Struct": base64.StdEncoding.EncodeToString([]byte{0xff, 0xff, 0xff}),
	} {
		if p := peers.Lookup(v); p != nil {
			t.Errorf("%s: Lookup = %+v, want nil", name, p)
		}
	}
	// A long label is cut to MaxLabelLen bytes and stays valid UTF-8 (the cut may split a
	// character).
	p := peers.Lookup(encodeStruct(t, map[string]any{"WORKLOAD_NAME": "x" + strings.Repeat("é", 100)}))
	if p == nil || len(p.Workload) > metadataexchange.MaxLabelLen || !utf8.ValidString(p.Workload) || !strings.HasPrefix(p.Workload, "xéé") {
		t.Errorf("long workload: %+v", p)
	}
	if p := peers.Lookup(long); p != nil {
		t.Errorf("a %d-byte value: %+v, want nil", len(long), p)
	}
	if p := peers.Lookup(""); p != nil {
		t.Errorf("empty: %+v, want nil", p)
	}
	// A cached bad value is not decoded, nor counted, again.
	peers.Lookup("%%%")
	const metric = "breeze_metadata_exchange_peer_errors_total"
	for reason, want := range map[string]float64{"malformed": 2, "too_large": 1, "too_many_peers": 0} {
		got := counterValue(t, reg, metric, reason)
		if got != want {
			t.Errorf("%s{reason=%q} = %v, want %v", metric, reason, got, want)
		}
	}
}

func TestPeersAreCapped(t *testing.T) {
	reg := prometheus.NewRegistry()
	peers, _ := metadataexchange.NewPeers(reg)
	var last *metadataexchange.Peer
	n := 0
	for i := 0; ; i++ {
		last = peers.Lookup(encodeStruct(t, map[string]any{"WORKLOAD_NAME": "w" + strconv.Itoa(i)}))
		if last == nil {
			n = i
			break
		}
		if i > 100000 {
			t.Fatal("no cap on distinct peers")
		}
	}
	if n != 1024 {
		t.Errorf("%d peers admitted, want 1024", n)
	}
	if got := counterValue(t, reg, "breeze_metadata_exchange_peer_errors_total", "too_many_peers"); got != 1 {
		t.Errorf("too_many_peers = %v, want 1", got)
	}
	// Admitted peers still resolve, even after their values left the cache.
	if p := peers.Lookup(encodeStruct(t, map[string]any{"WORKLOAD_NAME": "w0"})); p == nil || p.Workload != "w0" {
		t.Errorf("w0 = %+v after the cache turned over", p)
	}
}

func TestFilterAddsTheHeadersByDirection(t *testing.T) {
	for _, tc := range []struct {
		listener          string
		request, response bool
	}{
		{"outbound|20880||greeter.shop.svc.cluster.local", true, false},
		{"inbound|20880||", false, true},
		{"gateway", true, true},
	} {
		f, err := filter.BuildWithContext(filter.BuildContext{Listener: tc.listener, Direction: filter.DirectionOf(tc.listener), Node: istioNode},
			metadataexchange.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := &stream{}
		passed := false
		f.OnRequest(s, filter.HandlerFunc(func(filter.Stream) { passed = true }))
		if !passed {
			t.Fatalf("%s: the request was not passed on", tc.listener)
		}
		want, _ := metadataexchange.Encode(istioNode)
		check := func(side string, mut protocol.Mutation, wantIt bool) {
			if !wantIt {
				if len(mut) != 0 {
					t.Errorf("%s: %s mutation %v, want none", tc.listener, side, mut)
				}
				return
			}
			if len(mut) != 2 || mut[0] != (protocol.KeyValue{Key: metadataexchange.HeaderMetadata, Value: want}) ||
				mut[1] != (protocol.KeyValue{Key: metadataexchange.HeaderMetadataID, Value: istioNode.ID}) {
				t.Errorf("%s: %s mutation %v, want the metadata and the node id", tc.listener, side, mut)
			}
		}
		check("request", s.req, tc.request)
		check("response", s.resp, tc.response)
	}
}

func TestAerakiNameAndWrongConfig(t *testing.T) {
	if _, err := filter.Build(metadataexchange.AerakiName, nil); err != nil {
		t.Errorf("Aeraki's name: %v", err)
	}
	if _, err := filter.Build(metadataexchange.Name, &structpb.Struct{}); err == nil || !strings.Contains(err.Error(), "MetadataExchange") {
		t.Errorf("a config: %v, want it refused", err)
	}
}

func newPeers(t *testing.T) *metadataexchange.Peers {
	t.Helper()
	p, err := metadataexchange.NewPeers(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encodeStruct(t testing.TB, m map[string]any) string {
	t.Helper()
	st, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// stream records the mutations a filter asks for.
type stream struct {
	filter.Stream
	req, resp protocol.Mutation
	msg       protocol.Message
}

func (s *stream) Context() context.Context   { return context.Background() }
func (s *stream) Request() *protocol.Message { return &s.msg }
func (s *stream) AddRequestMutation(key, value string) {
	s.req = append(s.req, protocol.KeyValue{Key: key, Value: value})
}
func (s *stream) AddResponseMutation(key, value string) {
	s.resp = append(s.resp, protocol.KeyValue{Key: key, Value: value})
}

// TestConfiguredWorkloadWins: a proxy without a control plane has no node metadata; the
// config names its workload, over what the node says.
func TestConfiguredWorkloadWins(t *testing.T) {
	cfg := &mxv1.MetadataExchange{Workload: &istiostatsv1.Workload{Name: "greeter-canary", Version: "v3", Cluster: "west"}}
	for _, node := range []config.Node{{}, istioNode} {
		f, err := filter.BuildWithContext(filter.BuildContext{Listener: "inbound|20880||", Direction: filter.Inbound, Node: node},
			metadataexchange.Name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := &stream{}
		f.OnRequest(s, filter.HandlerFunc(func(filter.Stream) {}))
		if len(s.resp) == 0 {
			t.Fatal("no response mutation")
		}
		got := newPeers(t).Lookup(s.resp[0].Value)
		want := metadataexchange.Peer{Workload: "greeter-canary", Namespace: "unknown", App: "unknown", Version: "v3",
			CanonicalService: "greeter-canary", CanonicalRevision: "v3", Cluster: "west"}
		if node.Metadata != nil {
			want.Namespace, want.App, want.CanonicalService = "shop", "greeter", "greeter"
		}
		if got == nil || *got != want {
			t.Errorf("node %v: peer %+v, want %+v", node.Metadata, got, want)
		}
	}
	if _, ok := istioNode.Metadata["LABELS"].(map[string]any)["version"]; !ok || istioNode.Metadata["WORKLOAD_NAME"] != "greeter-v2" {
		t.Error("the node's metadata was modified")
	}
	if istioNode.Metadata["LABELS"].(map[string]any)["version"] != "v2" {
		t.Error("the node's labels were modified")
	}
}

// TestReadmeExample loads the README's first example through the bootstrap loader (allow-list
// checks included): the upstream gets the configured workload in x-envoy-peer-metadata.
func TestReadmeExample(t *testing.T) {
	const outbound = "outbound|20880||greeter.shop.svc.cluster.local"
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, proxytest.LoadBootstrap(t, outbound, proxytest.ExampleFilters(t, "README.md"), server.Addr()))
	c := proxytest.Dial(t, p.Listener(t, outbound))
	c.MustCall(t, map[string]string{"interface": "org.example.Greeter", "method": "sayHello"})
	got := server.Received()
	if len(got) != 1 {
		t.Fatalf("the server got %d requests, want 1", len(got))
	}
	peer := newPeers(t).Lookup(got[0][metadataexchange.HeaderMetadata])
	want := metadataexchange.Peer{Workload: "frontend", Namespace: "web", App: "frontend", Version: "v1",
		CanonicalService: "frontend", CanonicalRevision: "v1", Cluster: "unknown"}
	if peer == nil || *peer != want {
		t.Errorf("the server got %v: peer %+v, want %+v", got[0], peer, want)
	}
}

// TestConcurrentLookups: filters on many connections read peers at once (run with -race).
func TestConcurrentLookups(t *testing.T) {
	peers := newPeers(t)
	values := make([]string, 50)
	for i := range values {
		values[i] = encodeStruct(t, map[string]any{"WORKLOAD_NAME": "w" + strconv.Itoa(i%10), "NAME": strconv.Itoa(i)})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				v := values[(i+g)%len(values)]
				if p := peers.Lookup(v); p == nil || p.Workload != "w"+strconv.Itoa(((i+g)%len(values))%10) {
					t.Errorf("Lookup = %+v", p)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzLookup: any header value gives no peer or one whose labels are usable as Prometheus
// label values; never a panic.
func FuzzLookup(f *testing.F) {
	v, _ := metadataexchange.Encode(istioNode)
	f.Add(v)
	f.Add("%%%")
	f.Add(encodeStruct(f, map[string]any{"LABELS": "not a map", "WORKLOAD_NAME": 7.0}))
	peers, err := metadataexchange.NewPeers(prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p := peers.Lookup(value)
		if p == nil {
			return
		}
		for _, l := range []string{p.Workload, p.Namespace, p.App, p.Version, p.CanonicalService, p.CanonicalRevision, p.Cluster} {
			if l == "" || len(l) > metadataexchange.MaxLabelLen || !utf8.ValidString(l) {
				t.Fatalf("label %q of %+v", l, p)
			}
		}
	})
}

// TestNothingToAnnounce: a node without workload metadata and no config sends no headers.
func TestNothingToAnnounce(t *testing.T) {
	f, err := filter.BuildWithContext(filter.BuildContext{Listener: "gateway", Node: config.Node{ID: "n1", Metadata: map[string]any{"codecs": []any{"dubbo"}}}},
		metadataexchange.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{}
	f.OnRequest(s, filter.HandlerFunc(func(filter.Stream) {}))
	if len(s.req) != 0 || len(s.resp) != 0 {
		t.Errorf("mutations %v / %v, want none", s.req, s.resp)
	}
}
