package model

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	networkingv1 "istio.io/api/networking/v1"

	aerakiv1alpha1 "github.com/breeze-mesh/breeze/api/aeraki/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
)

// MinFillInterval is the shortest token-bucket fill interval accepted, as in Envoy and in
// the proxy's local_ratelimit filter (which refuses shorter ones).
const MinFillInterval = 50 * time.Millisecond

// rateLimits reads a MetaRouter's localRateLimit and globalRateLimit into rt, checking them
// as Aeraki's validating webhook does, and more: what the proxy would refuse (a fill
// interval under 50ms) and a rate-limit service that names nothing in the configuration
// are errors here, with the field, rather than NACKs later.
func (b *builder) rateLimits(spec *aerakiv1alpha1.MetaRouterSpec, rt *Router, r config.Reporter) bool {
	if spec.LocalRateLimit == nil && spec.GlobalRateLimit == nil {
		return true
	}
	ok := true
	if spec.LocalRateLimit != nil {
		var rlOK bool
		rt.LocalRateLimit, rlOK = localRateLimit(spec.LocalRateLimit, "spec.localRateLimit", r)
		ok = ok && rlOK
		rt.Uses = append(rt.Uses, FeatureUse{FeatureLocalRateLimit, r.At("spec.localRateLimit")})
	}
	if spec.GlobalRateLimit != nil {
		var rlOK bool
		rt.GlobalRateLimit, rlOK = b.globalRateLimit(spec.GlobalRateLimit, rt.Namespace, "spec.globalRateLimit", r)
		ok = ok && rlOK
		rt.Uses = append(rt.Uses, FeatureUse{FeatureGlobalRateLimit, r.At("spec.globalRateLimit")})
	}
	// Rate limits run on the inbound listeners of the service's own proxies, which exist
	// only for workloads a workloadSelector picks. With inline endpoints no proxy serves the
	// service inbound, so the limits would silently apply nowhere.
	selected := false
	for _, svc := range b.m.servicesByHost[rt.Host] {
		if svc.Selector != nil {
			selected = true
		}
	}
	if !selected {
		field := "spec.localRateLimit"
		if spec.LocalRateLimit == nil {
			field = "spec.globalRateLimit"
		}
		r.Warnf(field, "select the service's instances with a workloadSelector (and WorkloadEntries), and run their proxies with matching labels and inbound_ports",
			"rate limits apply on the inbound listeners of %s's own proxies, but its ServiceEntry has no workloadSelector, so no proxy serves it inbound and the limits apply nowhere", rt.Host)
	}
	return ok
}

func localRateLimit(l *aerakiv1alpha1.LocalRateLimit, field string, r config.Reporter) (*LocalRateLimit, bool) {
	ok := true
	out := &LocalRateLimit{}
	if l.TokenBucket == nil && len(l.Conditions) == 0 {
		r.Errorf(field, "set tokenBucket, conditions or both", "the rate limit sets no bucket")
		return nil, false
	}
	if l.TokenBucket != nil {
		tb, tbOK := tokenBucket(l.TokenBucket, config.Field(field, "tokenBucket"), r)
		ok = ok && tbOK
		out.Default = &tb
	}
	for i, c := range l.Conditions {
		cf := config.Index(config.Field(field, "conditions"), i)
		if c == nil || c.Match == nil || len(c.Match.Attributes) == 0 {
			r.Errorf(config.Field(cf, "match"), "the bucket for every request is localRateLimit.tokenBucket", "a condition needs a match")
			ok = false
			continue
		}
		m, mOK := matches(c.Match, config.Field(cf, "match"), r)
		ok = ok && mOK
		if c.TokenBucket == nil {
			r.Errorf(config.Field(cf, "tokenBucket"), "", "required")
			ok = false
			continue
		}
		tb, tbOK := tokenBucket(c.TokenBucket, config.Field(cf, "tokenBucket"), r)
		ok = ok && tbOK
		out.Conditions = append(out.Conditions, RateLimitCondition{Match: m, Bucket: tb})
	}
	return out, ok
}

func tokenBucket(tb *aerakiv1alpha1.TokenBucket, field string, r config.Reporter) (TokenBucket, bool) {
	ok := true
	out := TokenBucket{MaxTokens: tb.MaxTokens, TokensPerFill: 1}
	if tb.MaxTokens == 0 {
		r.Errorf(config.Field(field, "maxTokens"), "", "must be at least 1")
		ok = false
	}
	if tb.TokensPerFill != nil {
		if *tb.TokensPerFill == 0 {
			r.Errorf(config.Field(field, "tokensPerFill"), "", "must be at least 1")
			ok = false
		}
		out.TokensPerFill = *tb.TokensPerFill
	}
	switch {
	case tb.FillInterval == nil || tb.FillInterval.Duration <= 0:
		r.Errorf(config.Field(field, "fillInterval"), "for example 1s", "a positive duration is required")
		ok = false
	case tb.FillInterval.Duration < MinFillInterval:
		r.Errorf(config.Field(field, "fillInterval"), "for a finer rate, add more tokensPerFill at a longer interval",
			"%v is shorter than the minimum, %v", tb.FillInterval.Duration, MinFillInterval)
		ok = false
	default:
		out.FillInterval = Duration(tb.FillInterval.Duration)
	}
	return out, ok
}

func (b *builder) globalRateLimit(g *aerakiv1alpha1.GlobalRateLimit, ns, field string, r config.Reporter) (*GlobalRateLimit, bool) {
	ok := true
	out := &GlobalRateLimit{Domain: g.Domain, DenyOnFail: g.DenyOnFail, RateLimitService: g.RateLimitService}
	if g.Match != nil {
		var mOK bool
		out.Match, mOK = matches(g.Match, config.Field(field, "match"), r)
		ok = ok && mOK
	}
	if g.Domain == "" {
		r.Errorf(config.Field(field, "domain"), "the domain of the rate-limit service's configuration", "required")
		ok = false
	}
	if g.RateLimitService == "" {
		r.Errorf(config.Field(field, "rateLimitService"), "the service's cluster, e.g. outbound|8081||ratelimit.ns.svc.cluster.local", "required")
		ok = false
	} else {
		addr, addrOK := b.rateLimitService(g.RateLimitService, ns, config.Field(field, "rateLimitService"), r)
		ok = ok && addrOK
		out.Address = addr
	}
	if g.RequestTimeout != nil {
		if g.RequestTimeout.Duration <= 0 {
			r.Errorf(config.Field(field, "requestTimeout"), "leave it out for the default, 20ms", "must be a positive duration")
			ok = false
		}
		out.RequestTimeout = Duration(g.RequestTimeout.Duration)
	}
	if len(g.Descriptors) == 0 {
		r.Errorf(config.Field(field, "descriptors"), "e.g. {property: method, descriptorKey: method}", "at least one descriptor is required")
		ok = false
	}
	keys := map[string]int{}
	for i, d := range g.Descriptors {
		df := config.Index(config.Field(field, "descriptors"), i)
		if d == nil || d.Property == "" {
			r.Errorf(config.Field(df, "property"), "", "required")
			ok = false
			continue
		}
		if d.DescriptorKey == "" {
			r.Errorf(config.Field(df, "descriptorKey"), "", "required")
			ok = false
			continue
		}
		if first, dup := keys[d.DescriptorKey]; dup {
			r.Errorf(config.Field(df, "descriptorKey"), "", "descriptor key %q is already used by descriptors[%d]", d.DescriptorKey, first)
			ok = false
			continue
		}
		keys[d.DescriptorKey] = i
		out.Descriptors = append(out.Descriptors, Descriptor{Property: d.Property, Key: d.DescriptorKey})
	}
	return out, ok
}

// hostEntry is a host as any ServiceEntry declares it, meta-protocol or not: what names the
// proxies dial themselves (the rate-limit service) are resolved with.
type hostEntry struct {
	namespace string
	source    string
	// dns: the host name itself resolves (resolution DNS or DNS_ROUND_ROBIN).
	dns       bool
	ports     []*networkingv1.ServicePort
	endpoints []hostEndpoint
}

type hostEndpoint struct {
	address string
	ports   map[string]uint32
}

// addHosts indexes an accepted ServiceEntry's hosts, ports and endpoints.
func (b *builder) addHosts(obj *config.Object) {
	spec := obj.ServiceEntry()
	res := spec.GetResolution()
	e := &hostEntry{namespace: obj.Namespace, source: obj.String(), ports: spec.GetPorts(),
		dns: res == networkingv1.ServiceEntry_DNS || res == networkingv1.ServiceEntry_DNS_ROUND_ROBIN}
	for _, we := range spec.GetEndpoints() {
		if we.GetAddress() != "" && !strings.HasPrefix(we.GetAddress(), "unix://") {
			e.endpoints = append(e.endpoints, hostEndpoint{we.GetAddress(), we.GetPorts()})
		}
	}
	if sel := spec.GetWorkloadSelector().GetLabels(); len(sel) > 0 {
		for _, key := range sortedKeys(b.m.Workloads) {
			if w := b.m.Workloads[key]; w.Namespace == obj.Namespace && labelsMatch(sel, w.Labels) {
				e.endpoints = append(e.endpoints, hostEndpoint{w.Address, w.Ports})
			}
		}
	}
	for _, h := range spec.GetHosts() {
		h = strings.ToLower(h)
		b.hosts[h] = append(b.hosts[h], e)
	}
}

// rateLimitService resolves globalRateLimit.rateLimitService into the host:port the proxy
// dials. It takes what Aeraki takes, an Envoy cluster name
// ("outbound|8081||ratelimit.ns.svc.cluster.local"), and also a service host with or
// without its port, or an address. Hosts are looked up in the ServiceEntries (one in the
// MetaRouter's namespace first): the first endpoint's address and port when it lists
// endpoints, else the host name itself when its resolution is DNS.
func (b *builder) rateLimitService(value, ns, field string, r config.Reporter) (string, bool) {
	const forms = "write the service's cluster (outbound|<port>||<host>), its host and port (<host>:<port>) or an address (10.0.0.1:8081)"
	if strings.Contains(value, "|") {
		parts := strings.Split(value, "|")
		if len(parts) != 4 {
			r.Errorf(field, forms, "%q is not a cluster name: a cluster is outbound|<port>|<subset>|<host>", value)
			return "", false
		}
		if parts[0] != Outbound {
			r.Errorf(field, "name the outbound cluster: outbound|"+parts[1]+"||"+parts[3], "%q: only an outbound cluster names a service to call", value)
			return "", false
		}
		port, err := strconv.ParseUint(parts[1], 10, 16)
		if err != nil || port == 0 {
			r.Errorf(field, forms, "%q: %q is not a port number (1-65535)", value, parts[1])
			return "", false
		}
		if parts[2] != "" {
			r.Errorf(field, "name the cluster without a subset: outbound|"+parts[1]+"||"+parts[3],
				"%q: Breeze does not support a subset of the rate-limit service", value)
			return "", false
		}
		return b.serviceAddress(parts[3], uint32(port), ns, true, field, r)
	}
	host, portText, err := net.SplitHostPort(value)
	if err != nil {
		// A host without a port: the service's only port.
		if !hostName.MatchString(value) {
			r.Errorf(field, forms, "%q is neither a cluster name, a host nor host:port", value)
			return "", false
		}
		return b.serviceAddress(value, 0, ns, true, field, r)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		r.Errorf(field, forms, "%q: %q is not a port number (1-65535)", value, portText)
		return "", false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.JoinHostPort(ip.String(), portText), true
	}
	if !hostName.MatchString(host) {
		r.Errorf(field, forms, "%q: %q is not a valid host name", value, host)
		return "", false
	}
	return b.serviceAddress(host, uint32(port), ns, false, field, r)
}

// serviceAddress resolves a host and port (0: the host's only port) through the
// ServiceEntries. A host no ServiceEntry declares is an error when declared says it must be
// (a cluster name or a bare host names a service); a host:port is then dialled as written,
// with a warning, since the proxies resolve it with DNS.
func (b *builder) serviceAddress(host string, port uint32, ns string, declared bool, field string, r config.Reporter) (string, bool) {
	host = strings.ToLower(host)
	entries := b.hosts[host]
	if len(entries) == 0 {
		if declared || port == 0 {
			r.Errorf(field, "declare it with a ServiceEntry (its port and endpoints, or resolution: DNS), or write the service's address as <ip>:<port>",
				"unknown host %q: no ServiceEntry declares it", host)
			return "", false
		}
		r.Warnf(field, "declare it with a ServiceEntry, or write an address as <ip>:<port>",
			"host %q is not declared by a ServiceEntry; proxies dial it as written, resolving it with DNS", host)
		return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10)), true
	}
	e := entries[0]
	for _, c := range entries {
		if c.namespace == ns {
			e = c
			break
		}
	}
	var sp *networkingv1.ServicePort
	var numbers []string
	for _, p := range e.ports {
		numbers = append(numbers, strconv.FormatUint(uint64(p.GetNumber()), 10))
		if p.GetNumber() == port {
			sp = p
		}
	}
	switch {
	case port == 0 && len(e.ports) == 1:
		sp = e.ports[0]
	case port == 0:
		r.Errorf(field, "name the port: "+host+":<port>, one of "+strings.Join(numbers, ", "),
			"host %q (%s) has %d ports; say which one", host, e.source, len(e.ports))
		return "", false
	case sp == nil:
		r.Errorf(field, "ports of "+host+": "+strings.Join(numbers, ", "), "host %q (%s) has no port %d", host, e.source, port)
		return "", false
	}
	if len(e.endpoints) > 0 {
		ep := e.endpoints[0]
		target := sp.GetNumber()
		if v := ep.ports[sp.GetName()]; v != 0 {
			target = v
		} else if sp.GetTargetPort() != 0 {
			target = sp.GetTargetPort()
		}
		addr := net.JoinHostPort(ep.address, strconv.FormatUint(uint64(target), 10))
		if len(e.endpoints) > 1 {
			r.Warnf(field, "give the rate-limit service one address (a load balancer or a DNS name with resolution: DNS) to spread the checks",
				"host %q (%s) has %d endpoints; proxies call the first, %s", host, e.source, len(e.endpoints), addr)
		}
		return addr, true
	}
	if e.dns {
		return net.JoinHostPort(host, strconv.FormatUint(uint64(sp.GetNumber()), 10)), true
	}
	r.Errorf(field, "add endpoints to the ServiceEntry, or set resolution: DNS to dial the host name",
		"host %q (%s) has no endpoints", host, e.source)
	return "", false
}
