package server_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/translate"
)

// adsClient is a minimal state-of-the-world ADS client, as a proxy runs it: clusters and
// listeners by wildcard, load assignments and routes by the names those reference, every
// response acknowledged (or refused, when nack says so). It is written against the raw
// gRPC stream so that the test sees exactly what goes over the wire.
type adsClient struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
	// responses receives every response, in arrival order.
	responses chan *discoveryv3.DiscoveryResponse
	// nack, when it returns a message for a response, makes the client refuse it.
	nack func(*discoveryv3.DiscoveryResponse) string
	// mu guards state, which tests read while run writes it.
	mu sync.Mutex
	// state is the last accepted resources by type URL and name.
	state map[string]map[string]proto.Message
	// subscribed are the names requested for the named types.
	subscribed map[string][]string
	versions   map[string]string
	errc       chan error
}

func newNode(id string, metadata map[string]any) *corev3.Node {
	md, err := structpb.NewStruct(metadata)
	if err != nil {
		panic(err)
	}
	return &corev3.Node{Id: id, Metadata: md}
}

// dialADS opens a stream for node and subscribes to clusters and listeners.
func dialADS(t *testing.T, addr string, node *corev3.Node, nack func(*discoveryv3.DiscoveryResponse) string) *adsClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		conn.Close()
	})
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &adsClient{
		t: t, stream: stream, node: node, nack: nack,
		responses:  make(chan *discoveryv3.DiscoveryResponse, 100),
		state:      map[string]map[string]proto.Message{},
		subscribed: map[string][]string{},
		versions:   map[string]string{},
		errc:       make(chan error, 1),
	}
	c.send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: translate.ClusterType})
	c.send(&discoveryv3.DiscoveryRequest{TypeUrl: translate.ListenerType})
	go c.run()
	return c
}

func (c *adsClient) send(req *discoveryv3.DiscoveryRequest) {
	if err := c.stream.Send(req); err != nil {
		c.t.Logf("send: %v", err)
	}
}

// run receives responses and answers them, until the stream ends.
func (c *adsClient) run() {
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			c.errc <- err
			close(c.responses)
			return
		}
		c.responses <- resp
		typeURL := resp.GetTypeUrl()
		if msg := c.nackMessage(resp); msg != "" {
			c.send(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: c.versions[typeURL],
				ResponseNonce: resp.GetNonce(), ResourceNames: c.subscribed[typeURL],
				ErrorDetail: &statuspb.Status{Code: 3, Message: msg}})
			continue
		}
		c.versions[typeURL] = resp.GetVersionInfo()
		got := map[string]proto.Message{}
		for _, a := range resp.GetResources() {
			m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
			if err != nil {
				c.errc <- err
				return
			}
			got[resourceName(m)] = m
		}
		c.mu.Lock()
		c.state[typeURL] = got
		c.mu.Unlock()
		c.send(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: resp.GetVersionInfo(),
			ResponseNonce: resp.GetNonce(), ResourceNames: c.subscribed[typeURL]})
		switch typeURL {
		case translate.ClusterType:
			c.subscribe(translate.LoadAssignmentType, clusterNames(got))
		case translate.ListenerType:
			c.subscribe(translate.RouteType, routeNames(got))
		}
	}
}

func (c *adsClient) nackMessage(resp *discoveryv3.DiscoveryResponse) string {
	if c.nack == nil {
		return ""
	}
	return c.nack(resp)
}

// subscribe asks for a named type's resources when the set of names changed.
func (c *adsClient) subscribe(typeURL string, names []string) {
	if slices.Equal(names, c.subscribed[typeURL]) && c.versions[typeURL] != "" {
		return
	}
	first := c.subscribed[typeURL] == nil
	c.subscribed[typeURL] = names
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, VersionInfo: c.versions[typeURL]}
	if first {
		req.Node = c.node
	}
	c.send(req)
}

func resourceName(m proto.Message) string {
	switch r := m.(type) {
	case interface{ GetClusterName() string }:
		return r.GetClusterName()
	case interface{ GetName() string }:
		return r.GetName()
	}
	return ""
}

func clusterNames(clusters map[string]proto.Message) []string {
	var names []string
	for name, m := range clusters {
		if m.(*clusterv3.Cluster).GetType() == clusterv3.Cluster_EDS {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func routeNames(listeners map[string]proto.Message) []string {
	var names []string
	for _, m := range listeners {
		for _, fc := range m.(*listenerv3.Listener).GetFilterChains() {
			for _, f := range fc.GetFilters() {
				mp := &mpv1.MetaProtocolProxy{}
				if f.GetTypedConfig().UnmarshalTo(mp) == nil && mp.GetRds() != nil {
					names = append(names, mp.GetRds().GetRouteConfigName())
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// next returns the next response, failing the test after a generous deadline (a deadline
// on waiting, not a timing assertion: the response is expected within milliseconds).
func (c *adsClient) next() *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	select {
	case resp, ok := <-c.responses:
		if !ok {
			c.t.Fatalf("stream ended: %v", <-c.errc)
		}
		return resp
	case <-time.After(20 * time.Second):
		c.t.Fatal("no xDS response within 20s")
		return nil
	}
}

// syncAll reads responses until every type has been received once; it returns them.
func (c *adsClient) syncAll() []*discoveryv3.DiscoveryResponse {
	c.t.Helper()
	var got []*discoveryv3.DiscoveryResponse
	seen := map[string]bool{}
	for len(seen) < 4 {
		resp := c.next()
		got = append(got, resp)
		seen[resp.GetTypeUrl()] = true
	}
	return got
}

// resources returns the accepted resources of a type, by name.
func (c *adsClient) resources(typeURL string) map[string]proto.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state[typeURL]
}
