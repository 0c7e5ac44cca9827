package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// Validate checks what spans resources in a converted bootstrap: names are unique, no two
// listeners (or a listener and the admin server) bind the same address, and every cluster a
// route sends to, splits to or mirrors to is defined. It reports every problem it finds, one
// per line.
func Validate(b *Bootstrap) error {
	var errs []error

	clusters := make(map[string]bool, len(b.Clusters))
	for i, c := range b.Clusters {
		switch {
		case c == nil:
			errs = append(errs, fmt.Errorf("clusters[%d]: cluster is empty", i))
		case c.Name == "":
			errs = append(errs, fmt.Errorf("clusters[%d]: cluster has no name", i))
		case clusters[c.Name]:
			errs = append(errs, fmt.Errorf("cluster %q is defined more than once", c.Name))
		default:
			clusters[c.Name] = true
		}
	}

	listeners := make(map[string]bool, len(b.Listeners))
	binds := newBindSet()
	if b.Admin != "" {
		if err := binds.add(b.Admin, "the admin server"); err != nil {
			errs = append(errs, err)
		}
	}
	for i, l := range b.Listeners {
		if l == nil {
			errs = append(errs, fmt.Errorf("listeners[%d]: listener is empty", i))
			continue
		}
		if listeners[l.Name] {
			errs = append(errs, fmt.Errorf("listener %q is defined more than once", l.Name))
		}
		listeners[l.Name] = true
		if err := binds.add(l.Address, fmt.Sprintf("listener %q", l.Name)); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, checkRouteClusters(l, clusters)...)
	}
	if b.Dynamic != nil {
		errs = append(errs, checkADSCluster(b)...)
	}
	return errors.Join(errs...)
}

// checkADSCluster reports an ADS cluster that is not a static cluster with endpoints: the
// proxy needs the control plane's address before it has any dynamic resource.
func checkADSCluster(b *Bootstrap) []error {
	name := b.Dynamic.ADSCluster
	defined := map[string]bool{}
	for _, c := range b.Clusters {
		if c == nil {
			continue
		}
		defined[c.Name] = true
		if c.Name == name {
			if len(c.Endpoints) == 0 {
				return []error{fmt.Errorf("dynamic_resources.ads_config: cluster %q has no endpoints; give it the control plane's address in load_assignment", name)}
			}
			return nil
		}
	}
	return []error{fmt.Errorf("dynamic_resources.ads_config: cluster %q is not defined in static_resources (defined clusters: %s)", name, definedClusters(defined))}
}

// checkRouteClusters reports each route destination of l that names no defined cluster.
func checkRouteClusters(l *Listener, clusters map[string]bool) []error {
	if l.Routes == nil {
		// Routes come over RDS; they are checked when they arrive.
		return nil
	}
	var errs []error
	missing := func(i int, r *Route, role, name string) {
		if clusters[name] {
			return
		}
		errs = append(errs, fmt.Errorf("listener %q: %s: %s %q is not defined (defined clusters: %s)",
			l.Name, routeLabel(i, r), role, name, definedClusters(clusters)))
	}
	for i, r := range l.Routes.Routes {
		if r == nil {
			continue
		}
		if r.Cluster != "" {
			missing(i, r, "cluster", r.Cluster)
		}
		for _, wc := range r.WeightedClusters {
			missing(i, r, "weighted cluster", wc.Name)
		}
		for _, m := range r.Mirrors {
			missing(i, r, "mirror cluster", m.Cluster)
		}
	}
	return errs
}

func routeLabel(i int, r *Route) string {
	if r.Name != "" {
		return fmt.Sprintf("route %q", r.Name)
	}
	return fmt.Sprintf("routes[%d]", i)
}

func definedClusters(clusters map[string]bool) string {
	if len(clusters) == 0 {
		return "none"
	}
	names := make([]string, 0, len(clusters))
	for n := range clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// bindSet finds listen addresses that would collide: the same host and port, or the same port
// on a wildcard host (0.0.0.0 or ::) and any other host. Port 0 asks the kernel for a free
// port and never collides.
type bindSet struct {
	byPort map[string][]bind
}

type bind struct {
	host  string
	owner string
}

func newBindSet() *bindSet { return &bindSet{byPort: map[string][]bind{}} }

func (s *bindSet) add(addr, owner string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: invalid address %q: %w", owner, addr, err)
	}
	if port == "0" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String() // one spelling per address: "::1", not "0:0::1"
	}
	for _, other := range s.byPort[port] {
		if other.host == host || isWildcard(host) || isWildcard(other.host) {
			return fmt.Errorf("%s: address %s conflicts with %s on %s", owner, addr, other.owner, net.JoinHostPort(other.host, port))
		}
	}
	s.byPort[port] = append(s.byPort[port], bind{host: host, owner: owner})
	return nil
}

func isWildcard(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}
