package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/prometheus/client_golang/prometheus"
)

// BuildContext is what a filter factory gets besides its own configuration: the listener it
// is built for and the proxy-wide things a filter may need (metrics registry, identity,
// logger, objects that outlive one config version). Register a factory that wants it with
// RegisterWithContext.
type BuildContext struct {
	// Listener is the listener's name; StatPrefix labels its metrics (the name when the
	// configuration sets no prefix).
	Listener, StatPrefix string
	// Codec is the registered name of the listener's codec ("dubbo").
	Codec string
	// Direction says which side of the application the listener serves, when known.
	Direction Direction
	// Node is the proxy's identity from the bootstrap's node (id, metadata such as the
	// workload's namespace and labels); zero when the bootstrap has none.
	Node config.Node
	// Metrics is the registry /stats/prometheus serves.
	Metrics prometheus.Registerer
	// Log is the listener's logger.
	Log *slog.Logger
	// Shared holds objects that live as long as the proxy rather than one config version.
	Shared *Shared
}

// Direction is the side of the application a listener serves.
type Direction uint8

const (
	// DirectionUnknown is a listener whose name does not say.
	DirectionUnknown Direction = iota
	// Inbound listeners take requests for the local application (a server-side sidecar).
	Inbound
	// Outbound listeners take the local application's requests to other services.
	Outbound
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return "unknown"
}

// DirectionOf tells the direction from a listener name in the control plane's convention
// (docs/xds.md: "inbound|<port>||", "outbound|<port>||<host>"; Istio names its listeners
// the same way).
func DirectionOf(listener string) Direction {
	switch {
	case strings.HasPrefix(listener, "inbound|"):
		return Inbound
	case strings.HasPrefix(listener, "outbound|"):
		return Outbound
	}
	return DirectionUnknown
}

// withDefaults fills what a caller left out, so factories never see nil.
func (c BuildContext) withDefaults() BuildContext {
	if c.StatPrefix == "" {
		c.StatPrefix = c.Listener
	}
	if c.Metrics == nil {
		// Nobody scrapes it; registering on it still checks the metric definitions.
		c.Metrics = prometheus.NewRegistry()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Shared == nil {
		c.Shared = NewShared()
	}
	return c
}

// ContextFactory builds a filter from its typed configuration with the listener's context.
type ContextFactory func(ctx BuildContext, config any) (Filter, error)

// RegisterWithContext adds a filter factory that takes a BuildContext under name. It panics
// on a duplicate name (whichever Register function added the first).
func RegisterWithContext(name string, f ContextFactory) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byName[name]; dup {
		panic(fmt.Sprintf("filter: %q registered twice", name))
	}
	registry.byName[name] = f
}

// BuildWithContext returns the filter registered under name, built from config for the
// listener ctx describes. Fields ctx leaves zero get harmless defaults (a private metrics
// registry, a discarding logger, a fresh Shared).
func BuildWithContext(ctx BuildContext, name string, config any) (Filter, error) {
	registry.RLock()
	f, ok := registry.byName[name]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown filter %q (registered: %v)", name, Names())
	}
	return f(ctx.withDefaults(), config)
}

// Shared holds objects a filter creates once per proxy and reuses across config versions:
// metric families (a registry refuses a second registration), a trace exporter, an open
// access log file. The proxy closes them when it shuts down, after the last request.
type Shared struct {
	mu      sync.Mutex
	objects map[string]any
	order   []string // creation order; closed in reverse
	closed  bool
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{objects: map[string]any{}} }

// Get returns the object stored under key, creating it with create on first use. Keys are
// namespaced by the filter that owns them ("tracing/otlp/127.0.0.1:4317"). A create that
// fails stores nothing, so a later configuration may try again.
func (s *Shared) Get(key string, create func() (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.objects[key]; ok {
		return v, nil
	}
	if s.closed {
		return nil, errors.New("filter: the proxy is shutting down")
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	s.objects[key] = v
	s.order = append(s.order, key)
	return v, nil
}

// Shutdowner is an object Close stops with a deadline (an exporter flushing its queue).
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Close stops every object that is a Shutdowner or an io.Closer, newest first, and returns
// their errors joined. Get fails afterwards.
func (s *Shared) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	objects, order := s.objects, s.order
	s.objects, s.order = map[string]any{}, nil
	s.mu.Unlock()
	var errs []error
	for i := len(order) - 1; i >= 0; i-- {
		var err error
		switch v := objects[order[i]].(type) {
		case Shutdowner:
			err = v.Shutdown(ctx)
		case io.Closer:
			err = v.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", order[i], err))
		}
	}
	return errors.Join(errs...)
}
