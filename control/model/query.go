package model

import (
	"encoding/json"
	"slices"
	"strconv"
)

// Proxy is one proxy as it describes itself (in its xDS node metadata): the workload it
// fronts and how it wants its listeners bound.
type Proxy struct {
	// ID is the proxy's unique id.
	ID string
	// Namespace decides which services, MetaRouters and DestinationRules the proxy sees.
	Namespace string
	// Workload names the WorkloadEntry the proxy fronts, if any.
	Workload string `json:",omitempty"`
	// Labels are the workload's labels: ServiceEntries selecting them are served inbound.
	Labels map[string]string `json:",omitempty"`
	// InboundPorts are the workload ports the proxy serves inbound.
	InboundPorts []uint32 `json:",omitempty"`
	// InboundBind is the address inbound listeners bind.
	InboundBind string `json:",omitempty"`
	// InboundAppPorts maps an inbound port to the application's port on 127.0.0.1, when it
	// differs.
	InboundAppPorts map[uint32]uint32 `json:",omitempty"`
	// OutboundBind is the address outbound listeners bind.
	OutboundBind string `json:",omitempty"`
	// OutboundPortOffset is added to service ports to make outbound listener ports.
	OutboundPortOffset uint32 `json:",omitempty"`
	// Codecs lists the codecs the proxy has; nil means all.
	Codecs []string `json:",omitempty"`
	// Version is the proxy's version, informational.
	Version string `json:",omitempty"`
}

// Defaults for the proxy's binding when its metadata says nothing.
const (
	DefaultInboundBind  = "0.0.0.0"
	DefaultOutboundBind = "127.0.0.1"
	DefaultNamespace    = "default"
)

// HasCodec reports whether the proxy has the codec.
func (p *Proxy) HasCodec(codec string) bool {
	return p.Codecs == nil || slices.Contains(p.Codecs, codec)
}

// AppPort returns the application's port for an inbound port.
func (p *Proxy) AppPort(inbound uint32) uint32 {
	if v, ok := p.InboundAppPorts[inbound]; ok {
		return v
	}
	return inbound
}

// pick chooses among candidates for one host the one a proxy in namespace ns uses: one in
// ns itself first, then one in the namespace preferred (the service's own), then the first
// visible one in namespace order. Only visible candidates are considered.
func pick[T any](candidates []T, ns, preferred string, namespace func(T) string, visible func(T) Visibility) (T, bool) {
	var zero T
	best, bestRank := zero, 3
	for _, c := range candidates {
		if !visible(c).VisibleFrom(ns) {
			continue
		}
		rank := 2
		switch namespace(c) {
		case ns:
			rank = 0
		case preferred:
			rank = 1
		}
		if rank < bestRank {
			best, bestRank = c, rank
		}
	}
	return best, bestRank < 3
}

// VisibleServices returns, for each host visible from namespace ns, the service a proxy
// there uses, sorted by host.
func (m *Model) VisibleServices(ns string) []*Service {
	var out []*Service
	for _, svc := range m.Services {
		if len(out) > 0 && out[len(out)-1].Host == svc.Host {
			continue
		}
		if s := m.ServiceFor(svc.Host, ns); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// ServiceFor returns the service for host that a proxy in namespace ns uses, or nil.
func (m *Model) ServiceFor(host, ns string) *Service {
	s, _ := pick(m.servicesByHost[host], ns, "",
		func(s *Service) string { return s.Namespace }, func(s *Service) Visibility { return s.ExportTo })
	return s
}

// RouterFor returns the router for svc's host that a proxy in namespace ns uses, or nil.
func (m *Model) RouterFor(svc *Service, ns string) *Router {
	r, _ := pick(m.routersByHost[svc.Host], ns, svc.Namespace,
		func(r *Router) string { return r.Namespace }, func(r *Router) Visibility { return r.ExportTo })
	return r
}

// PolicyFor returns the DestinationRule for svc's host that a proxy in namespace ns uses,
// or nil.
func (m *Model) PolicyFor(svc *Service, ns string) *Policy {
	p, _ := pick(m.policiesByHost[svc.Host], ns, svc.Namespace,
		func(p *Policy) string { return p.Namespace }, func(p *Policy) Visibility { return p.ExportTo })
	return p
}

// RoutersFor returns every router for host, in namespace and name order.
func (m *Model) RoutersFor(host string) []*Router { return m.routersByHost[host] }

// InboundServices returns the services whose workloadSelector selects the proxy's workload:
// in its namespace, every selector label set to the same value in the proxy's labels.
func (m *Model) InboundServices(p *Proxy) []*Service {
	var out []*Service
	for _, svc := range m.Services {
		if svc.Namespace == p.Namespace && svc.Selector != nil && labelsMatch(svc.Selector, p.Labels) {
			out = append(out, svc)
		}
	}
	return out
}

// WorkloadPort returns the port the proxy's workload receives port's traffic on: its
// WorkloadEntry's own port when the proxy names one, else the port's target port or number.
func (m *Model) WorkloadPort(p *Proxy, port *Port) uint32 {
	if w := m.Workloads[p.Namespace+"/"+p.Workload]; w != nil && p.Workload != "" {
		if v := w.Ports[port.Name]; v != 0 {
			return v
		}
	}
	return (&Endpoint{}).PortFor(port)
}

// MarshalJSON dumps the model for golden files and debugging: what took effect, not the
// indexes.
func (m *Model) MarshalJSON() ([]byte, error) {
	protocols := make([]*Protocol, 0, len(m.Protocols))
	for _, name := range sortedKeys(m.Protocols) {
		protocols = append(protocols, m.Protocols[name])
	}
	return json.Marshal(struct {
		Protocols []*Protocol
		Services  []*Service
		Policies  []*Policy
		Routers   []*Router
	}{protocols, m.Services, m.Policies, m.Routers})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ClusterName names a cluster as Istio does: "outbound|<port>|<subset>|<host>".
func ClusterName(direction string, port uint32, subset, host string) string {
	return direction + "|" + strconv.FormatUint(uint64(port), 10) + "|" + subset + "|" + host
}

// Cluster directions.
const (
	Outbound = "outbound"
	Inbound  = "inbound"
)

// ApplyDefaults fills in the namespace and bind addresses a proxy's metadata left out.
func (p *Proxy) ApplyDefaults() {
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
	if p.InboundBind == "" {
		p.InboundBind = DefaultInboundBind
	}
	if p.OutboundBind == "" {
		p.OutboundBind = DefaultOutboundBind
	}
}
