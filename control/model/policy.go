package model

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	networkingv1 "istio.io/api/networking/v1"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/internal/suggest"
)

// Policy is a DestinationRule: the subsets of a host and how proxies treat each of its
// clusters.
type Policy struct {
	Name      string
	Namespace string
	// Source names the DestinationRule.
	Source   string
	Host     string
	ExportTo Visibility
	Subsets  []*Subset
	// Clusters holds the resolved policy of each cluster of the host, keyed by
	// "<port>|<subset>" ("20880|" for the whole service, "20880|v1" for a subset), for every
	// meta-protocol port the host has.
	Clusters map[string]ClusterPolicy
	// Uses lists the settings that need a feature.
	Uses []FeatureUse `json:"-"`

	top   layer
	ports map[uint32]layer
}

// Subset is a named group of a host's endpoints, selected by labels.
type Subset struct {
	Name   string
	Labels map[string]string

	top   layer
	ports map[uint32]layer
}

// LBPolicy is how a cluster picks an endpoint for each request.
type LBPolicy uint8

// Load-balancing policies.
const (
	RoundRobin LBPolicy = iota
	Random
	LeastRequest
)

func (p LBPolicy) String() string { return [...]string{"ROUND_ROBIN", "RANDOM", "LEAST_REQUEST"}[p] }

// MarshalText names the policy in dumps.
func (p LBPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ClusterPolicy is the resolved traffic policy of one cluster: the DestinationRule's
// settings with port-level and subset-level settings laid over them, as Istio does.
type ClusterPolicy struct {
	LB LBPolicy
	// HashKey is the request attribute whose value picks the endpoint by consistent
	// hashing (Istio's consistentHash.httpHeaderName, as Aeraki reads it); "" for none.
	HashKey        string   `json:",omitempty"`
	ConnectTimeout Duration `json:",omitempty"`
	// Limits are the connection pool's limits; zero values mean unset.
	Limits  Limits            `json:",omitzero"`
	Outlier *OutlierDetection `json:",omitempty"`
}

// Limits are circuit-breaking thresholds from connectionPool.
type Limits struct {
	MaxConnections           uint32 `json:",omitempty"`
	MaxPendingRequests       uint32 `json:",omitempty"`
	MaxRequests              uint32 `json:",omitempty"`
	MaxRequestsPerConnection uint32 `json:",omitempty"`
	MaxRetries               uint32 `json:",omitempty"`
}

// OutlierDetection ejects endpoints that fail repeatedly.
type OutlierDetection struct {
	ConsecutiveErrors  uint32
	Interval           Duration `json:",omitempty"`
	BaseEjectionTime   Duration `json:",omitempty"`
	MaxEjectionPercent uint32   `json:",omitempty"`
	MinHealthPercent   uint32   `json:",omitempty"`
}

// layer is one level of a DestinationRule's settings; nil parts are not set at that level
// and come from the level below. As in Istio, a part set at a higher level replaces the
// whole part below it.
type layer struct {
	lb      *lbSettings
	pool    *Limits
	timeout *Duration
	outlier *OutlierDetection
}

type lbSettings struct {
	policy  LBPolicy
	hashKey string
}

func (l layer) over(base layer) layer {
	if l.lb == nil {
		l.lb = base.lb
	}
	if l.pool == nil {
		l.pool, l.timeout = base.pool, base.timeout
	}
	if l.outlier == nil {
		l.outlier = base.outlier
	}
	return l
}

func (l layer) resolve() ClusterPolicy {
	var cp ClusterPolicy
	if l.lb != nil {
		cp.LB, cp.HashKey = l.lb.policy, l.lb.hashKey
	}
	if l.pool != nil {
		cp.Limits = *l.pool
	}
	if l.timeout != nil {
		cp.ConnectTimeout = *l.timeout
	}
	cp.Outlier = l.outlier
	return cp
}

// For returns the policy of the cluster for port and subset ("" for the whole service).
func (p *Policy) For(port uint32, subset string) ClusterPolicy {
	if cp, ok := p.Clusters[clusterKey(port, subset)]; ok {
		return cp
	}
	return p.resolve(port, subset)
}

func (p *Policy) resolve(port uint32, subset string) ClusterPolicy {
	l := p.ports[port].over(p.top)
	if s := p.Subset(subset); s != nil {
		l = s.ports[port].over(s.top.over(l))
	}
	return l.resolve()
}

// Subset returns the named subset, or nil.
func (p *Policy) Subset(name string) *Subset {
	if p == nil || name == "" {
		return nil
	}
	for _, s := range p.Subsets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SubsetNames lists the subsets' names, for messages.
func (p *Policy) SubsetNames() []string {
	names := make([]string, len(p.Subsets))
	for i, s := range p.Subsets {
		names[i] = s.Name
	}
	return names
}

func clusterKey(port uint32, subset string) string {
	return strconv.FormatUint(uint64(port), 10) + "|" + subset
}

// buildPolicies reads the DestinationRules.
func (b *builder) buildPolicies(objs []*config.Object) {
	owner := map[string]string{} // "namespace/host" → DestinationRule
	for _, obj := range objs {
		b.accept(obj, func(obj *config.Object, r config.Reporter) bool {
			p, ok := b.destinationRule(obj, r)
			if !ok {
				return false
			}
			key := p.Namespace + "/" + p.Host
			if other := owner[key]; other != "" {
				r.Errorf("spec.host", "merge the two DestinationRules",
					"host %q already has %s in namespace %s; this one is ignored", p.Host, other, p.Namespace)
				return false
			}
			owner[key] = obj.String()
			b.m.Policies = append(b.m.Policies, p)
			b.m.policiesByHost[p.Host] = append(b.m.policiesByHost[p.Host], p)
			return true
		})
	}
}

func (b *builder) destinationRule(obj *config.Object, r config.Reporter) (*Policy, bool) {
	spec := obj.DestinationRule()
	ok := true
	host := strings.ToLower(spec.GetHost())
	switch {
	case host == "":
		r.Errorf("spec.host", "", "required")
		return nil, false
	case !hostName.MatchString(host):
		r.Errorf("spec.host", "", "%q is not a valid host name", spec.GetHost())
		return nil, false
	}
	if spec.GetWorkloadSelector() != nil {
		r.Errorf("spec.workloadSelector", "remove it; the rule then applies to every proxy that sees it",
			"DestinationRules scoped to workloads are not supported by Breeze")
		ok = false
	}
	exportTo, err := parseExportTo(spec.GetExportTo(), obj.Namespace)
	if err != nil {
		r.Errorf("spec.exportTo", "", "%v", err)
		ok = false
	}
	p := &Policy{Name: obj.Name, Namespace: obj.Namespace, Source: obj.String(), Host: host, ExportTo: exportTo}

	var layerOK bool
	p.top, p.ports, layerOK = trafficPolicy(spec.GetTrafficPolicy(), "spec.trafficPolicy", r, &p.Uses)
	ok = ok && layerOK
	names := map[string]bool{}
	for i, s := range spec.GetSubsets() {
		field := config.Index("spec.subsets", i)
		switch {
		case s.GetName() == "":
			r.Errorf(config.Field(field, "name"), "", "required")
			ok = false
			continue
		case names[s.GetName()]:
			r.Errorf(config.Field(field, "name"), "", "subset %q is defined twice", s.GetName())
			ok = false
			continue
		case strings.Contains(s.GetName(), "|"):
			r.Errorf(config.Field(field, "name"), "", "a subset name cannot contain '|' (it is part of cluster names)")
			ok = false
			continue
		}
		names[s.GetName()] = true
		sub := &Subset{Name: s.GetName(), Labels: s.GetLabels()}
		sub.top, sub.ports, layerOK = trafficPolicy(s.GetTrafficPolicy(), config.Field(field, "trafficPolicy"), r, &p.Uses)
		ok = ok && layerOK
		p.Subsets = append(p.Subsets, sub)
	}
	if !ok {
		return nil, false
	}

	services := b.m.servicesByHost[host]
	if len(services) == 0 {
		r.Warnf("spec.host", b.hostHint(host), "no meta-protocol ServiceEntry declares host %q; the rule has no effect yet", spec.GetHost())
	}
	p.Clusters = map[string]ClusterPolicy{}
	for _, svc := range services {
		for _, port := range svc.Ports {
			p.Clusters[clusterKey(port.Number, "")] = p.resolve(port.Number, "")
			for _, s := range p.Subsets {
				p.Clusters[clusterKey(port.Number, s.Name)] = p.resolve(port.Number, s.Name)
			}
		}
	}
	return p, true
}

// trafficPolicy converts a TrafficPolicy into its top layer and its port-level layers.
func trafficPolicy(tp *networkingv1.TrafficPolicy, field string, r config.Reporter, uses *[]FeatureUse) (layer, map[uint32]layer, bool) {
	if tp == nil {
		return layer{}, nil, true
	}
	ok := true
	top := policyLayer(tp.GetLoadBalancer(), tp.GetConnectionPool(), tp.GetOutlierDetection(), tp.GetTls(), field, r, uses)
	for _, part := range []struct {
		set  bool
		name string
	}{
		{tp.GetTunnel() != nil, "tunnel"},
		{tp.GetProxyProtocol() != nil, "proxyProtocol"},
		{tp.GetRetryBudget() != nil, "retryBudget"},
	} {
		if part.set {
			r.Warnf(config.Field(field, part.name), "", "not supported by Breeze; ignored")
		}
	}
	var ports map[uint32]layer
	for i, pl := range tp.GetPortLevelSettings() {
		pf := config.Index(config.Field(field, "portLevelSettings"), i)
		number := pl.GetPort().GetNumber()
		if number == 0 || number > 65535 {
			r.Errorf(config.Field(pf, "port.number"), "", "a port number (1-65535) is required")
			ok = false
			continue
		}
		if _, dup := ports[number]; dup {
			r.Errorf(config.Field(pf, "port.number"), "", "port %d has settings twice", number)
			ok = false
			continue
		}
		l := policyLayer(pl.GetLoadBalancer(), pl.GetConnectionPool(), pl.GetOutlierDetection(), pl.GetTls(), pf, r, uses)
		if ports == nil {
			ports = map[uint32]layer{}
		}
		ports[number] = l
	}
	return top, ports, ok
}

func policyLayer(lb *networkingv1.LoadBalancerSettings, pool *networkingv1.ConnectionPoolSettings,
	od *networkingv1.OutlierDetection, tls *networkingv1.ClientTLSSettings, field string, r config.Reporter, uses *[]FeatureUse) layer {
	var l layer
	if lb != nil {
		l.lb = loadBalancer(lb, config.Field(field, "loadBalancer"), r)
		if l.lb.hashKey != "" {
			*uses = append(*uses, FeatureUse{FeatureHashPolicy, r.At(config.Field(field, "loadBalancer.consistentHash"))})
		}
	}
	if pool != nil {
		pf := config.Field(field, "connectionPool")
		l.pool, l.timeout = connectionPool(pool, pf, r)
		if *l.pool != (Limits{}) {
			*uses = append(*uses, FeatureUse{FeatureCircuitBreakers, r.At(pf)})
		}
	}
	if od != nil {
		of := config.Field(field, "outlierDetection")
		l.outlier = outlierDetection(od, of, r)
		*uses = append(*uses, FeatureUse{FeatureOutlierDetection, r.At(of)})
	}
	if tls != nil && tls.GetMode() != networkingv1.ClientTLSSettings_DISABLE {
		// Warned, not refused: refusing the rule would not encrypt anything either.
		r.Warnf(config.Field(field, "tls"), "remove it, or set mode: DISABLE",
			"upstream TLS (%s) is not supported by Breeze yet: traffic to this host is sent in plaintext", tls.GetMode())
	}
	return l
}

func loadBalancer(lb *networkingv1.LoadBalancerSettings, field string, r config.Reporter) *lbSettings {
	out := &lbSettings{}
	switch {
	case lb.GetConsistentHash() != nil:
		ch := lb.GetConsistentHash()
		cf := config.Field(field, "consistentHash")
		switch {
		case ch.GetHttpHeaderName() != "":
			// Aeraki's reading: the "header" is the request attribute to hash on.
			out.hashKey = ch.GetHttpHeaderName()
		case ch.GetHttpCookie() != nil, ch.GetUseSourceIp(), ch.GetHttpQueryParameterName() != "":
			r.Warnf(cf, "hash on a request attribute with httpHeaderName: <attribute>",
				"only httpHeaderName (a request attribute) can be hashed on by Breeze; ignored")
		default:
			r.Warnf(cf, "set httpHeaderName: <attribute>", "no hash key is set; ignored")
		}
		//nolint:staticcheck // minimumRingSize is deprecated in Istio, still written by users
		if ch.GetRingHash() != nil || ch.GetMaglev() != nil || ch.GetMinimumRingSize() != 0 {
			r.Warnf(cf, "", "the hash algorithm cannot be chosen in Breeze; its settings are ignored")
		}
	default:
		switch s := lb.GetSimple(); s {
		case networkingv1.LoadBalancerSettings_UNSPECIFIED, networkingv1.LoadBalancerSettings_ROUND_ROBIN:
			out.policy = RoundRobin
		case networkingv1.LoadBalancerSettings_RANDOM:
			out.policy = Random
		case networkingv1.LoadBalancerSettings_LEAST_REQUEST, networkingv1.LoadBalancerSettings_LEAST_CONN:
			out.policy = LeastRequest
		default:
			r.Warnf(config.Field(field, "simple"), "use ROUND_ROBIN, RANDOM or LEAST_REQUEST",
				"%s is not supported by Breeze; ROUND_ROBIN is used", s)
		}
	}
	for _, part := range []struct {
		set  bool
		name string
	}{
		{lb.GetLocalityLbSetting() != nil, "localityLbSetting"},
		{lb.GetZoneAwareLbSetting() != nil, "zoneAwareLbSetting"},
		{lb.GetWarmupDurationSecs() != nil, "warmupDurationSecs"},
		{lb.GetWarmup() != nil, "warmup"},
	} {
		if part.set {
			r.Warnf(config.Field(field, part.name), "", "not supported by Breeze; ignored")
		}
	}
	return out
}

func connectionPool(pool *networkingv1.ConnectionPoolSettings, field string, r config.Reporter) (*Limits, *Duration) {
	limits := &Limits{}
	var timeout *Duration
	if tcp := pool.GetTcp(); tcp != nil {
		tf := config.Field(field, "tcp")
		limits.MaxConnections = nonNegative(tcp.GetMaxConnections(), config.Field(tf, "maxConnections"), r)
		if d := tcp.GetConnectTimeout(); d != nil {
			v := Duration(d.AsDuration())
			if v <= 0 {
				r.Warnf(config.Field(tf, "connectTimeout"), "", "must be positive; ignored")
			} else {
				timeout = &v
			}
		}
		for _, part := range []struct {
			set  bool
			name string
		}{
			{tcp.GetTcpKeepalive() != nil, "tcpKeepalive"},
			{tcp.GetMaxConnectionDuration() != nil, "maxConnectionDuration"},
			{tcp.GetIdleTimeout() != nil, "idleTimeout"},
		} {
			if part.set {
				r.Warnf(config.Field(tf, part.name), "", "not supported by Breeze; ignored")
			}
		}
	}
	if http := pool.GetHttp(); http != nil {
		// The HTTP settings are Istio's request-level limits; for RPC they mean the same
		// thing per request.
		hf := config.Field(field, "http")
		limits.MaxPendingRequests = nonNegative(http.GetHttp1MaxPendingRequests(), config.Field(hf, "http1MaxPendingRequests"), r)
		limits.MaxRequests = nonNegative(http.GetHttp2MaxRequests(), config.Field(hf, "http2MaxRequests"), r)
		limits.MaxRequestsPerConnection = nonNegative(http.GetMaxRequestsPerConnection(), config.Field(hf, "maxRequestsPerConnection"), r)
		limits.MaxRetries = nonNegative(http.GetMaxRetries(), config.Field(hf, "maxRetries"), r)
		for _, part := range []struct {
			set  bool
			name string
		}{
			{http.GetIdleTimeout() != nil, "idleTimeout"},
			{http.GetH2UpgradePolicy() != networkingv1.ConnectionPoolSettings_HTTPSettings_DEFAULT, "h2UpgradePolicy"},
			{http.GetUseClientProtocol(), "useClientProtocol"},
			{http.GetMaxConcurrentStreams() != 0, "maxConcurrentStreams"},
			{http.GetHttp2KeepAlive() != nil, "http2KeepAlive"},
		} {
			if part.set {
				r.Warnf(config.Field(hf, part.name), "", "not supported by Breeze; ignored")
			}
		}
	}
	return limits, timeout
}

func nonNegative(v int32, field string, r config.Reporter) uint32 {
	if v < 0 {
		r.Warnf(field, "", "%d is negative; ignored", v)
		return 0
	}
	return uint32(v)
}

func outlierDetection(od *networkingv1.OutlierDetection, field string, r config.Reporter) *OutlierDetection {
	out := &OutlierDetection{
		Interval:         Duration(od.GetInterval().AsDuration()),
		BaseEjectionTime: Duration(od.GetBaseEjectionTime().AsDuration()),
	}
	// Breeze's proxies see RPC errors, not HTTP status codes: every error-count field means
	// consecutive failed requests. The first one set wins, newest field first.
	switch {
	case od.GetConsecutive_5XxErrors() != nil:
		out.ConsecutiveErrors = od.GetConsecutive_5XxErrors().GetValue()
	case od.GetConsecutiveGatewayErrors() != nil:
		out.ConsecutiveErrors = od.GetConsecutiveGatewayErrors().GetValue()
	case od.GetConsecutiveLocalOriginFailures() != nil:
		out.ConsecutiveErrors = od.GetConsecutiveLocalOriginFailures().GetValue()
	case od.GetConsecutiveErrors() > 0: //nolint:staticcheck // deprecated in Istio, still written by users
		out.ConsecutiveErrors = uint32(od.GetConsecutiveErrors()) //nolint:staticcheck // see above
	default:
		out.ConsecutiveErrors = 5 // Istio's default
	}
	if v := od.GetMaxEjectionPercent(); v < 0 || v > 100 {
		r.Warnf(config.Field(field, "maxEjectionPercent"), "", "%d is not a percentage; ignored", v)
	} else {
		out.MaxEjectionPercent = uint32(v)
	}
	if v := od.GetMinHealthPercent(); v < 0 || v > 100 {
		r.Warnf(config.Field(field, "minHealthPercent"), "", "%d is not a percentage; ignored", v)
	} else {
		out.MinHealthPercent = uint32(v)
	}
	if len(od.GetOutlierDetectionHttpErrorCodes()) > 0 {
		r.Warnf(config.Field(field, "outlierDetectionHttpErrorCodes"), "", "HTTP status codes do not apply to RPC protocols; ignored")
	}
	return out
}

// hostHint suggests a known host close to host, or lists a few.
func (b *builder) hostHint(host string) string {
	hosts := slices.Sorted(maps.Keys(b.m.servicesByHost))
	if len(hosts) == 0 {
		return "no meta-protocol service is defined; declare one with a ServiceEntry whose port is named tcp-metaprotocol-<protocol>"
	}
	best, dist := "", 0
	for _, h := range hosts {
		if d := suggest.Distance(host, h); best == "" || d < dist {
			best, dist = h, d
		}
	}
	if dist <= max(2, len(host)/5) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(hosts) > 8 {
		hosts = append(hosts[:8], "...")
	}
	return "known hosts: " + strings.Join(hosts, ", ")
}
