package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// Target runs the configurations the client assembles; *proxy.Server is one. Apply must be
// all or nothing: on error the running configuration is unchanged.
type Target interface {
	Apply(*config.Bootstrap) error
}

// Options configure a Client.
type Options struct {
	// Bootstrap is the proxy's bootstrap. Its Dynamic part (required) names the control
	// plane; its static listeners and clusters run next to the dynamic ones.
	Bootstrap *config.Bootstrap
	// Target runs every configuration the client assembles.
	Target Target
	// Log receives the client's events. Default: slog.Default().
	Log *slog.Logger
	// Metrics, when set, registers the client's metrics (the proxy's registry).
	Metrics prometheus.Registerer
	// Version is sent to the control plane as the proxy's user agent version.
	Version string
	// MinBackoff and MaxBackoff bound the wait before reconnecting after the stream is lost.
	// Defaults: DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// Reconnection backoff defaults: the first retry comes within a quarter second; a control
// plane that stays away is tried about every 15 seconds.
const (
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 15 * time.Second
)

// Client is the proxy's xDS client: one ADS stream at a time to the control plane, and the
// configuration it assembles from what the stream delivers. See the package documentation.
type Client struct {
	static  *config.Bootstrap
	target  Target
	node    *corev3.Node
	servers []string
	timeout time.Duration // connect timeout, from the ADS cluster
	log     *slog.Logger
	metrics *metrics
	backoff backoff

	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the run goroutine (and by Start before it begins).
	accepted *state
	applied  *config.Bootstrap
	failed   map[string]failure // listeners left out, by name

	mu       sync.Mutex
	status   Status
	received [numKinds]bool // a response of the kind was accepted, on any stream
	ready    bool
}

// Start applies the bootstrap's static resources to the target (returning the error if they
// cannot run) and starts connecting to the control plane in the background. Close stops it.
func Start(opts Options) (*Client, error) {
	b := opts.Bootstrap
	if b == nil || b.Dynamic == nil {
		return nil, errors.New("xds: the bootstrap has no dynamic_resources")
	}
	if opts.Target == nil {
		return nil, errors.New("xds: no target to apply configurations to")
	}
	c := &Client{
		static:   b,
		target:   opts.Target,
		log:      opts.Log,
		accepted: emptyState(),
		backoff:  backoff{min: opts.MinBackoff, max: opts.MaxBackoff},
		done:     make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "xds")
	if c.backoff.min <= 0 {
		c.backoff.min = DefaultMinBackoff
	}
	if c.backoff.max < c.backoff.min {
		c.backoff.max = max(DefaultMaxBackoff, c.backoff.min)
	}
	for _, cl := range b.Clusters {
		if cl.Name == b.Dynamic.ADSCluster {
			for _, ep := range cl.Endpoints {
				c.servers = append(c.servers, ep.Address)
			}
			c.timeout = cl.ConnectTimeout
		}
	}
	if len(c.servers) == 0 {
		return nil, fmt.Errorf("xds: cluster %q has no endpoints: the control plane's address is unknown", b.Dynamic.ADSCluster)
	}
	node, err := buildNode(b.Node, opts.Version)
	if err != nil {
		return nil, err
	}
	c.node = node
	if c.metrics, err = newMetrics(opts.Metrics); err != nil {
		return nil, err
	}

	cfg, pending := assemble(c.static, c.accepted, nil, nil)
	if err := c.target.Apply(cfg); err != nil {
		return nil, err
	}
	c.applied = cfg
	c.status = Status{Node: node.GetId(), Server: c.servers[0], Pending: pending}
	for k := range numKinds {
		c.status.Resources = append(c.status.Resources, TypeStatus{Type: k.String(), TypeURL: k.typeURL()})
	}
	c.checkReady(pending)

	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(ctx)
	return c, nil
}

// Close stops the client and waits for it. The configuration it applied keeps running.
func (c *Client) Close() {
	c.cancel()
	<-c.done
}

// buildNode is the node sent on the stream. A proxy that does not say which codecs it has
// says it has the ones built in, so that it is not sent listeners it cannot run.
func buildNode(n config.Node, version string) (*corev3.Node, error) {
	md := maps.Clone(n.Metadata)
	if md == nil {
		md = map[string]any{}
	}
	if _, set := md["codecs"]; !set {
		var codecs []any
		for _, name := range protocol.Names() {
			codecs = append(codecs, name)
		}
		md["codecs"] = codecs
	}
	st, err := structpb.NewStruct(md)
	if err != nil {
		return nil, fmt.Errorf("xds: node.metadata: %w", err)
	}
	return &corev3.Node{
		Id:                   n.ID,
		Cluster:              n.Cluster,
		Metadata:             st,
		UserAgentName:        "breeze",
		UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: version},
	}, nil
}

// run keeps one stream open at a time until ctx ends, waiting a backoff between attempts.
// The running configuration is left alone while there is no stream.
func (c *Client) run(ctx context.Context) {
	defer close(c.done)
	for i := 0; ; i++ {
		addr := c.servers[i%len(c.servers)]
		worked, err := c.session(ctx, addr)
		if ctx.Err() != nil {
			c.setConnected(addr, false, nil)
			return
		}
		if worked {
			c.backoff.reset()
		}
		delay := c.backoff.next()
		c.setConnected(addr, false, err)
		c.metrics.reconnects.Inc()
		c.log.Warn("xDS stream lost; running the last good configuration meanwhile", "server", addr, "error", err, "retry_in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Ready returns nil once the first full configuration has been applied: a response of every
// wildcard type subscribed (listeners, clusters) accepted, and nothing that these name
// (endpoints, route tables) still awaited. Once ready, the client stays ready: losing the
// control plane later does not stop the proxy serving.
func (c *Client) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	var waits []string
	for k := range numKinds {
		if c.subscribesWildcard(k) && !c.received[k] {
			waits = append(waits, fmt.Sprintf("waiting for the first %s from the control plane", k))
		}
	}
	waits = append(waits, c.status.Pending...)
	return fmt.Errorf("xds: not ready: %s", strings.Join(waits, "; "))
}

func (c *Client) subscribesWildcard(k kind) bool {
	switch k {
	case clusters:
		return c.static.Dynamic.Clusters
	case listeners:
		return c.static.Dynamic.Listeners
	}
	return false
}

// checkReady latches readiness once nothing is pending and every wildcard kind subscribed
// has arrived. Called with the run goroutine's view; takes c.mu.
func (c *Client) checkReady(pending []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready || len(pending) > 0 {
		return
	}
	for k := range numKinds {
		if c.subscribesWildcard(k) && !c.received[k] {
			return
		}
	}
	c.ready = true
	c.status.Ready = true
	c.metrics.ready.Set(1)
	c.log.Info("xDS configuration complete: proxy ready")
}
