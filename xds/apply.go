package xds

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// outcome is what an accepted response leads to.
type outcome struct {
	state   *state
	cfg     *config.Bootstrap
	pending []string
	failed  map[string]failure
	// leftOut, when set, says which listeners could not run and were left out while the
	// rest of the configuration was applied.
	leftOut error
}

// failure is a listener that the proxy could not run (its port is taken, its address
// changed, a filter refused its config). It is left out, its previous version running if
// there was one, until the control plane sends a new version of it.
type failure struct {
	listener *config.Listener // the accepted listener that failed
	err      error
}

// tryApply takes a response of kind k through conversion, checks, assembly and Apply. An
// error means the response is refused whole and nothing changed. A listener that fails only
// when the proxy runs it is left out and the rest applied (outcome.leftOut says which), so
// that one unusable listener does not hold back every later update.
func (c *Client) tryApply(k kind, resp *discoveryv3.DiscoveryResponse) (*outcome, error) {
	next, err := c.accepted.update(k, resp, c.static)
	if err != nil {
		return nil, err
	}
	if k == listeners {
		if err := checkListeners(c.static, next); err != nil {
			return nil, err
		}
	}
	failed := stillFailing(c.failed, c.static, next)
	var leftOut []error
	for {
		cfg, pending := assemble(c.static, next, c.applied, failed)
		if err := config.Validate(cfg); err != nil {
			return nil, err
		}
		err := c.target.Apply(cfg)
		if err == nil {
			return &outcome{state: next, cfg: cfg, pending: pending, failed: failed, leftOut: errors.Join(leftOut...)}, nil
		}
		var le *proxy.ListenerError
		if !errors.As(err, &le) {
			return nil, err
		}
		l := acceptedListener(c.static, next, le.Listener)
		if _, seen := failed[le.Listener]; seen || l == nil {
			// A listener left out is not run again, and the previous version of one was
			// running: neither can fail here. Refuse the response rather than loop.
			return nil, err
		}
		failed[le.Listener] = failure{listener: l, err: le.Err}
		leftOut = append(leftOut, err)
	}
}

// checkListeners finds, as soon as a listener response arrives, the problems between
// listeners that would otherwise surface only when the last of them gets its routes: a
// name used by a static listener, two listeners (or one and the admin server) on one
// address.
func checkListeners(static *config.Bootstrap, s *state) error {
	all := &config.Bootstrap{Admin: static.Admin}
	add := func(l *config.Listener) {
		bare := *l
		bare.Routes = nil // routes are checked once assembled
		all.Listeners = append(all.Listeners, &bare)
	}
	for _, l := range static.Listeners {
		add(l)
	}
	for _, name := range slices.Sorted(maps.Keys(s.listeners)) {
		add(s.listeners[name])
	}
	return config.Validate(all)
}

// stillFailing keeps the failures whose listener is still the accepted version: a new
// version is tried again.
func stillFailing(failed map[string]failure, static *config.Bootstrap, s *state) map[string]failure {
	out := make(map[string]failure, len(failed))
	for name, f := range failed {
		if acceptedListener(static, s, name) == f.listener {
			out[name] = f
		}
	}
	return out
}

// acceptedListener returns the static or accepted dynamic listener called name, or nil.
func acceptedListener(static *config.Bootstrap, s *state, name string) *config.Listener {
	for _, l := range static.Listeners {
		if l.Name == name {
			return l
		}
	}
	return s.listeners[name]
}

// failureLines renders failures for the status, sorted by listener.
func failureLines(failed map[string]failure) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(failed)) {
		out = append(out, fmt.Sprintf("listener %q: %v", name, failed[name].err))
	}
	return out
}
