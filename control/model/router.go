package model

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"

	aerakiv1alpha1 "github.com/breeze-mesh/breeze/api/aeraki/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
)

// buildRouters reads the MetaRouters. Each is checked against the services and policies
// already built: a route to an unknown host, port or subset rejects the MetaRouter, naming
// what is missing.
func (b *builder) buildRouters(objs []*config.Object) {
	owner := map[string]string{} // "namespace/host" → MetaRouter
	for _, obj := range objs {
		b.accept(obj, func(obj *config.Object, r config.Reporter) bool {
			rt, ok := b.metaRouter(obj, r)
			if !ok {
				return false
			}
			key := rt.Namespace + "/" + rt.Host
			if other := owner[key]; other != "" {
				r.Errorf("spec.hosts[0]", "merge the two MetaRouters",
					"host %q already has %s in namespace %s; this one is ignored", rt.Host, other, rt.Namespace)
				return false
			}
			owner[key] = obj.String()
			b.m.Routers = append(b.m.Routers, rt)
			b.m.routersByHost[rt.Host] = append(b.m.routersByHost[rt.Host], rt)
			return true
		})
	}
}

func (b *builder) metaRouter(obj *config.Object, r config.Reporter) (*Router, bool) {
	spec := obj.MetaRouter()
	ok := true

	if len(spec.Hosts) != 1 {
		r.Errorf("spec.hosts", "one MetaRouter per host", "exactly one host is required, got %d", len(spec.Hosts))
		return nil, false
	}
	host := strings.ToLower(spec.Hosts[0])
	svc := b.anyService(host)
	if svc == nil {
		r.Errorf("spec.hosts[0]", b.hostHint(host), "unknown host %q: no meta-protocol ServiceEntry declares it", spec.Hosts[0])
		return nil, false
	}
	if len(spec.Gateways) > 0 {
		r.Warnf("spec.gateways", "", "gateways are not supported by Breeze yet; the routes apply to sidecar proxies only")
	}
	if len(spec.Routes) == 0 && spec.LocalRateLimit == nil && spec.GlobalRateLimit == nil {
		r.Errorf("spec", "add routes, localRateLimit or globalRateLimit", "the MetaRouter sets nothing")
		ok = false
	}
	exportTo, err := parseExportTo(spec.ExportTo, obj.Namespace)
	if err != nil {
		r.Errorf("spec.exportTo", "", "%v", err)
		ok = false
	}
	rt := &Router{Name: obj.Name, Namespace: obj.Namespace, Source: obj.String(), Host: host, ExportTo: exportTo}

	names := map[string]int{}
	for i, mr := range spec.Routes {
		field := config.Index("spec.routes", i)
		if mr == nil {
			r.Errorf(field, "", "a route must not be empty")
			ok = false
			continue
		}
		if mr.Name != "" {
			if first, dup := names[mr.Name]; dup {
				r.Errorf(config.Field(field, "name"), "", "route name %q is already used by routes[%d]", mr.Name, first)
				ok = false
			}
			names[mr.Name] = i
		}
		if mr.Match == nil && i < len(spec.Routes)-1 {
			r.Warnf(field, "put the catch-all route last", "this route matches every request, so the routes after it are never used")
		}
		route, routeOK := b.route(mr, host, svc, field, r)
		ok = ok && routeOK
		rt.Routes = append(rt.Routes, route)
		if route.Mirror != nil {
			rt.Uses = append(rt.Uses, FeatureUse{FeatureMirror, r.At(config.Field(field, "mirror"))})
		}
	}
	if !b.rateLimits(spec, rt, r) {
		ok = false
	}
	return rt, ok
}

// anyService returns a service with the host, whatever its namespace (visibility is checked
// per proxy).
func (b *builder) anyService(host string) *Service {
	if s := b.m.servicesByHost[host]; len(s) > 0 {
		return s[0]
	}
	return nil
}

func (b *builder) route(mr *aerakiv1alpha1.MetaRoute, host string, svc *Service, field string, r config.Reporter) (*Route, bool) {
	ok := true
	route := &Route{Name: mr.Name}
	if mr.Match != nil {
		var matchOK bool
		route.Match, matchOK = matches(mr.Match, config.Field(field, "match"), r)
		ok = ok && matchOK
	}

	if len(mr.Route) == 0 {
		r.Errorf(config.Field(field, "route"), "add a destination", "at least one destination is required")
		ok = false
	}
	var total uint64
	seen := map[Destination]int{}
	for i, rd := range mr.Route {
		df := config.Index(config.Field(field, "route"), i)
		if rd == nil || rd.Destination == nil {
			r.Errorf(config.Field(df, "destination"), "", "required")
			ok = false
			continue
		}
		dest, destOK := b.destination(rd.Destination, host, svc, config.Field(df, "destination"), r)
		if !destOK {
			ok = false
			continue
		}
		if first, dup := seen[dest]; dup {
			r.Errorf(config.Field(df, "destination"), "add the weights together in one entry",
				"the same destination is already listed at route[%d]", first)
			ok = false
			continue
		}
		seen[dest] = i
		weight := rd.Weight
		if len(mr.Route) == 1 && weight == 0 {
			weight = 100
		}
		total += uint64(weight)
		route.Destinations = append(route.Destinations, WeightedDestination{Destination: dest, Weight: weight})
	}
	if len(mr.Route) > 1 && total == 0 && ok {
		r.Errorf(config.Field(field, "route"), "give each destination its share, e.g. weight: 80 and weight: 20", "the weights must not all be zero")
		ok = false
	}
	if total > math.MaxUint32 {
		r.Errorf(config.Field(field, "route"), "", "the weights add up to more than 2^32-1")
		ok = false
	}

	if mr.Mirror != nil {
		dest, destOK := b.destination(mr.Mirror, host, svc, config.Field(field, "mirror"), r)
		ok = ok && destOK
		route.Mirror = &dest
		route.MirrorPercent = 100
		if mr.MirrorPercentage != nil {
			v := mr.MirrorPercentage.Value
			if v <= 0 || v > 100 {
				r.Errorf(config.Field(field, "mirrorPercentage.value"), "", "must be greater than 0 and at most 100, got %v", v)
				ok = false
			}
			route.MirrorPercent = v
		}
	} else if mr.MirrorPercentage != nil {
		r.Errorf(config.Field(field, "mirrorPercentage"), "set mirror too, or remove it", "mirrorPercentage without mirror")
		ok = false
	}

	var mutOK bool
	route.RequestMutation, mutOK = mutation(mr.RequestMutation, config.Field(field, "requestMutation"), r)
	ok = ok && mutOK
	route.ResponseMutation, mutOK = mutation(mr.ResponseMutation, config.Field(field, "responseMutation"), r)
	ok = ok && mutOK
	if mr.Timeout != nil {
		route.Timeout = Duration(mr.Timeout.Duration)
	}
	return route, ok
}

// destination checks that a destination names a known host, port and subset. The port
// stays 0 when it was not given and the destination is the router's own host (the port
// being routed is meant); for another host with one meta-protocol port, that port is used.
func (b *builder) destination(d *aerakiv1alpha1.Destination, routerHost string, routerSvc *Service, field string, r config.Reporter) (Destination, bool) {
	host := strings.ToLower(d.Host)
	if host == "" {
		r.Errorf(config.Field(field, "host"), "", "required")
		return Destination{}, false
	}
	svc := b.anyService(host)
	if svc == nil {
		r.Errorf(config.Field(field, "host"), b.hostHint(host), "unknown host %q: no meta-protocol ServiceEntry declares it", d.Host)
		return Destination{}, false
	}
	out := Destination{Host: host, Subset: d.Subset}
	ok := true
	if d.Port != nil && d.Port.Number != 0 {
		port := svc.port(d.Port.Number)
		if port == nil {
			r.Errorf(config.Field(field, "port.number"), "meta-protocol ports of "+host+": "+svc.portList(),
				"host %q has no meta-protocol port %d", host, d.Port.Number)
			return Destination{}, false
		}
		out.Port = port.Number
	} else if host != routerHost {
		if len(svc.Ports) > 1 {
			r.Errorf(config.Field(field, "port"), "set port.number to one of "+svc.portList(),
				"host %q has several meta-protocol ports; say which one", host)
			return Destination{}, false
		}
		out.Port = svc.Ports[0].Number
	}
	// The codec must be the same at both ends: a proxy cannot send Dubbo frames to a
	// Thrift server.
	for _, p := range routerSvc.Ports {
		if out.Port != 0 {
			if dp := svc.port(out.Port); dp != nil && dp.Codec != p.Codec {
				r.Errorf(field, "", "host %q speaks %s on port %d but %q speaks %s", host, dp.Protocol, dp.Number, routerHost, p.Protocol)
				ok = false
				break
			}
		}
	}
	if d.Subset != "" {
		if !b.subsetDefined(host, d.Subset) {
			r.Errorf(config.Field(field, "subset"), b.subsetHint(host),
				"subset %q is not defined for host %q", d.Subset, host)
			ok = false
		}
	}
	return out, ok
}

func (b *builder) subsetDefined(host, subset string) bool {
	for _, p := range b.m.policiesByHost[host] {
		if p.Subset(subset) != nil {
			return true
		}
	}
	return false
}

func (b *builder) subsetHint(host string) string {
	var names []string
	for _, p := range b.m.policiesByHost[host] {
		for _, n := range p.SubsetNames() {
			names = append(names, n+" ("+p.Source+")")
		}
	}
	if len(names) == 0 {
		return "define it in the subsets of a DestinationRule for host " + host
	}
	return "defined subsets: " + strings.Join(names, ", ")
}

func (s *Service) port(number uint32) *Port {
	for _, p := range s.Ports {
		if p.Number == number {
			return p
		}
	}
	return nil
}

func (s *Service) portList() string {
	list := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		list[i] = fmt.Sprint(p.Number)
	}
	return strings.Join(list, ", ")
}

// matches converts attribute conditions, sorted by attribute name.
func matches(m *aerakiv1alpha1.MetaRouteMatch, field string, r config.Reporter) ([]Match, bool) {
	ok := true
	af := config.Field(field, "attributes")
	var out []Match
	for _, key := range slices.Sorted(maps.Keys(m.Attributes)) {
		kf := config.MapKey(af, key)
		if key == "" {
			r.Errorf(kf, "", "an attribute name must not be empty")
			ok = false
			continue
		}
		sm := m.Attributes[key]
		if sm == nil {
			out = append(out, Match{Key: key, Kind: MatchPresent})
			continue
		}
		set := 0
		for _, v := range []string{sm.Exact, sm.Prefix, sm.Regex} {
			if v != "" {
				set++
			}
		}
		switch {
		case set > 1:
			r.Errorf(kf, "keep one of exact, prefix and regex", "only one of exact, prefix and regex may be set")
			ok = false
		case sm.Exact != "":
			out = append(out, Match{Key: key, Kind: MatchExact, Value: sm.Exact})
		case sm.Prefix != "":
			out = append(out, Match{Key: key, Kind: MatchPrefix, Value: sm.Prefix})
		case sm.Regex == "*":
			out = append(out, Match{Key: key, Kind: MatchPresent})
		case sm.Regex != "":
			if _, err := regexp.Compile(sm.Regex); err != nil {
				r.Errorf(config.Field(kf, "regex"), "the syntax is RE2's (https://github.com/google/re2/wiki/Syntax)",
					"invalid regular expression: %v", err)
				ok = false
				continue
			}
			out = append(out, Match{Key: key, Kind: MatchRegex, Value: sm.Regex})
		default:
			// An empty condition means "present", as in Aeraki.
			out = append(out, Match{Key: key, Kind: MatchPresent})
		}
	}
	return out, ok
}

func mutation(kvs []*aerakiv1alpha1.KeyValue, field string, r config.Reporter) ([]KeyValue, bool) {
	ok := true
	var out []KeyValue
	for i, kv := range kvs {
		kf := config.Index(field, i)
		switch {
		case kv == nil || kv.Key == "":
			r.Errorf(config.Field(kf, "key"), "", "required")
			ok = false
		case kv.Value == "":
			r.Errorf(config.Field(kf, "value"), "", "required")
			ok = false
		default:
			out = append(out, KeyValue{Key: kv.Key, Value: kv.Value})
		}
	}
	return out, ok
}
