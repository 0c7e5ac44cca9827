package model

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	networkingv1 "istio.io/api/networking/v1"

	"github.com/breeze-mesh/breeze/control/config"
)

// buildWorkloads reads the WorkloadEntries.
func (b *builder) buildWorkloads(objs []*config.Object) {
	for _, obj := range objs {
		b.accept(obj, func(obj *config.Object, r config.Reporter) bool {
			spec := obj.WorkloadEntry()
			addr, ok := endpointAddress(spec.GetAddress(), "spec.address", r)
			if !ok {
				return false
			}
			if !checkPortMap(spec.GetPorts(), "spec.ports", r) {
				return false
			}
			b.m.Workloads[obj.Namespace+"/"+obj.Name] = &Workload{
				Name: obj.Name, Namespace: obj.Namespace, Address: addr,
				Ports: spec.GetPorts(), Labels: spec.GetLabels(), Weight: spec.GetWeight(),
			}
			return true
		})
	}
}

// endpointAddress checks an endpoint address: Breeze proxies dial IP addresses only.
func endpointAddress(addr, field string, r config.Reporter) (string, bool) {
	switch {
	case addr == "":
		r.Errorf(field, "", "required")
		return "", false
	case strings.HasPrefix(addr, "unix://"):
		r.Errorf(field, "", "Unix domain socket endpoints are not supported by Breeze")
		return "", false
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		r.Errorf(field, "write the instance's IP address", "%q is not an IP address; Breeze does not resolve host names yet", addr)
		return "", false
	}
	return ip.String(), true
}

func checkPortMap(ports map[string]uint32, field string, r config.Reporter) bool {
	ok := true
	for _, name := range slices.Sorted(maps.Keys(ports)) {
		if p := ports[name]; p == 0 || p > 65535 {
			r.Errorf(config.MapKey(field, name), "", "%d is not a port number (1-65535)", p)
			ok = false
		}
	}
	return ok
}

// buildServices reads the ServiceEntries: one Service per host that has a meta-protocol
// port.
func (b *builder) buildServices(objs []*config.Object) {
	owner := map[string]string{} // "namespace/host" → ServiceEntry that defined it
	for _, obj := range objs {
		b.accept(obj, func(obj *config.Object, r config.Reporter) bool {
			services, ok := b.serviceEntry(obj, r)
			if !ok {
				return false
			}
			for _, svc := range services {
				key := svc.Namespace + "/" + svc.Host
				if other := owner[key]; other != "" {
					r.Errorf("spec.hosts", "give each host one ServiceEntry per namespace",
						"host %q is already defined in namespace %s by %s; this one is ignored", svc.Host, svc.Namespace, other)
					return false
				}
			}
			for _, svc := range services {
				owner[svc.Namespace+"/"+svc.Host] = obj.String()
				b.m.Services = append(b.m.Services, svc)
				b.m.servicesByHost[svc.Host] = append(b.m.servicesByHost[svc.Host], svc)
			}
			b.addHosts(obj)
			return true
		})
	}
	slices.SortStableFunc(b.m.Services, func(a, c *Service) int {
		return strings.Compare(a.Host+"\x00"+a.Namespace, c.Host+"\x00"+c.Namespace)
	})
}

// serviceEntry checks one ServiceEntry and returns its services (none when it has no
// meta-protocol port, which is not an error: the entry is someone else's).
func (b *builder) serviceEntry(obj *config.Object, r config.Reporter) ([]*Service, bool) {
	spec := obj.ServiceEntry()
	ok := true

	if len(spec.GetHosts()) == 0 {
		r.Errorf("spec.hosts", "", "at least one host is required")
		ok = false
	}
	var hosts []string
	for i, h := range spec.GetHosts() {
		field := config.Index("spec.hosts", i)
		switch {
		case strings.HasPrefix(h, "*"):
			r.Errorf(field, "list the hosts one by one", "wildcard hosts cannot be meta-protocol services")
			ok = false
		case !hostName.MatchString(h) || len(h) > 253:
			r.Errorf(field, "", "%q is not a valid host name", h)
			ok = false
		case slices.Contains(hosts, strings.ToLower(h)):
			r.Errorf(field, "", "host %q is listed twice", h)
			ok = false
		default:
			hosts = append(hosts, strings.ToLower(h))
		}
	}

	exportTo, err := parseExportTo(spec.GetExportTo(), obj.Namespace)
	if err != nil {
		r.Errorf("spec.exportTo", "", "%v", err)
		ok = false
	}

	ports, portsOK := b.servicePorts(spec, r)
	if !portsOK {
		ok = false
	}
	if len(ports) == 0 {
		return nil, ok // not a meta-protocol service
	}

	if spec.GetResolution() == networkingv1.ServiceEntry_NONE {
		what := "resolution NONE"
		if _, written := obj.Origin.Fields["spec.resolution"]; !written && obj.Origin.Fields != nil {
			what = "resolution is not set, so it is NONE, which"
		}
		r.Errorf("spec.resolution", "set resolution: STATIC (or DNS), with endpoints or a workloadSelector",
			"%s passes connections through unrouted; a meta-protocol port must be routed", what)
		ok = false
	}
	if len(spec.GetEndpoints()) > 0 && spec.GetWorkloadSelector() != nil {
		r.Errorf("spec.workloadSelector", "keep endpoints or workloadSelector", "endpoints and workloadSelector cannot both be set")
		ok = false
	}

	var endpoints []*Endpoint
	for i, we := range spec.GetEndpoints() {
		field := config.Index("spec.endpoints", i)
		addr, addrOK := endpointAddress(we.GetAddress(), config.Field(field, "address"), r)
		if !checkPortMap(we.GetPorts(), config.Field(field, "ports"), r) || !addrOK {
			ok = false
			continue
		}
		checkPortNames(we.GetPorts(), ports, config.Field(field, "ports"), r)
		endpoints = append(endpoints, &Endpoint{Address: addr, Ports: we.GetPorts(), Labels: we.GetLabels(), Weight: we.GetWeight()})
	}
	var selector map[string]string
	if sel := spec.GetWorkloadSelector(); sel != nil {
		selector = sel.GetLabels()
		if len(selector) == 0 {
			r.Errorf("spec.workloadSelector.labels", "", "at least one label is required")
			ok = false
		}
		for _, key := range slices.Sorted(maps.Keys(b.m.Workloads)) {
			w := b.m.Workloads[key]
			if w.Namespace != obj.Namespace || !labelsMatch(selector, w.Labels) {
				continue
			}
			endpoints = append(endpoints, &Endpoint{Address: w.Address, Ports: w.Ports, Labels: w.Labels,
				Weight: w.Weight, Workload: key})
		}
	}
	if !ok {
		return nil, false
	}
	if len(endpoints) == 0 {
		what := "it lists no endpoints"
		if selector != nil {
			what = "no WorkloadEntry in namespace " + obj.Namespace + " matches its workloadSelector"
		}
		r.Warnf("spec", "add endpoints, or WorkloadEntries with matching labels",
			"%s: calls to it will fail until instances appear (Breeze does not resolve host names)", what)
	}

	services := make([]*Service, len(hosts))
	for i, h := range hosts {
		services[i] = &Service{Host: h, Namespace: obj.Namespace, Source: obj.String(), ExportTo: exportTo,
			Ports: ports, Selector: selector, Endpoints: endpoints}
	}
	return services, true
}

// servicePorts returns the meta-protocol ports of a ServiceEntry, sorted by number.
func (b *builder) servicePorts(spec *networkingv1.ServiceEntry, r config.Reporter) ([]*Port, bool) {
	ok := true
	var ports []*Port
	numbers := map[uint32]bool{}
	names := map[string]bool{}
	for i, sp := range spec.GetPorts() {
		field := config.Index("spec.ports", i)
		if sp.GetNumber() == 0 || sp.GetNumber() > 65535 {
			r.Errorf(config.Field(field, "number"), "", "%d is not a port number (1-65535)", sp.GetNumber())
			ok = false
			continue
		}
		if numbers[sp.GetNumber()] {
			r.Errorf(config.Field(field, "number"), "", "port %d is listed twice", sp.GetNumber())
			ok = false
			continue
		}
		numbers[sp.GetNumber()] = true
		if sp.GetName() != "" && names[sp.GetName()] {
			r.Errorf(config.Field(field, "name"), "", "port name %q is used twice", sp.GetName())
			ok = false
			continue
		}
		names[sp.GetName()] = true
		if sp.GetTargetPort() > 65535 {
			r.Errorf(config.Field(field, "targetPort"), "", "%d is not a port number (1-65535)", sp.GetTargetPort())
			ok = false
			continue
		}
		protocol, isMeta, err := ParsePortName(sp.GetName())
		if !isMeta {
			continue
		}
		if err != nil {
			r.Errorf(config.Field(field, "name"), "name it tcp-metaprotocol-<protocol>, e.g. tcp-metaprotocol-dubbo", "%v", err)
			ok = false
			continue
		}
		p := b.m.Protocols[protocol]
		if p == nil {
			r.Errorf(config.Field(field, "name"),
				fmt.Sprintf("add an ApplicationProtocol with spec.protocol: %s and the codec that speaks it (known protocols: %s)",
					protocol, strings.Join(slices.Sorted(maps.Keys(b.m.Protocols)), ", ")),
				"unknown application protocol %q", protocol)
			ok = false
			continue
		}
		ports = append(ports, &Port{Number: sp.GetNumber(), Name: sp.GetName(), Protocol: protocol, Codec: p.Codec, TargetPort: sp.GetTargetPort()})
	}
	slices.SortFunc(ports, func(a, c *Port) int { return int(a.Number) - int(c.Number) })
	return ports, ok
}

// checkPortNames warns about endpoint ports that name no port of the service: Istio keys
// them by port name, and a port number used as a key is a common mistake.
func checkPortNames(endpointPorts map[string]uint32, ports []*Port, field string, r config.Reporter) {
	for _, name := range slices.Sorted(maps.Keys(endpointPorts)) {
		if !slices.ContainsFunc(ports, func(p *Port) bool { return p.Name == name }) {
			names := make([]string, len(ports))
			for i, p := range ports {
				names[i] = p.Name
			}
			r.Warnf(config.MapKey(field, name), "keys are port names: "+strings.Join(names, ", "),
				"%q names no meta-protocol port of this service; it is not used", name)
		}
	}
}

// labelsMatch reports whether every selector label is set to the same value in labels.
func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
