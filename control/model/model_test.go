package model

import (
	"strings"
	"testing"

	networkingv1 "istio.io/api/networking/v1"

	aerakiv1alpha1 "github.com/breeze-mesh/breeze/api/aeraki/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
)

func TestParsePortName(t *testing.T) {
	for _, tc := range []struct {
		name     string
		protocol string
		isMeta   bool
		err      bool
	}{
		{"tcp-metaprotocol-dubbo", "dubbo", true, false},
		{"tcp-metaprotocol-thrift-hello-server", "thrift", true, false},
		{"TCP-MetaProtocol-BRPC", "brpc", true, false},
		{"tcp-metaprotocol", "", true, true},
		{"tcp-metaprotocol-", "", true, true},
		{"tcp-dubbo", "", false, false},
		{"http", "", false, false},
		{"tcp-metaprotocolx-dubbo", "", false, false},
		{"", "", false, false},
	} {
		protocol, isMeta, err := ParsePortName(tc.name)
		if protocol != tc.protocol || isMeta != tc.isMeta || (err != nil) != tc.err {
			t.Errorf("ParsePortName(%q) = %q, %v, %v; want %q, %v, error %v", tc.name, protocol, isMeta, err, tc.protocol, tc.isMeta, tc.err)
		}
	}
}

func TestParseExportTo(t *testing.T) {
	for _, tc := range []struct {
		list    []string
		visible map[string]bool
		err     string
	}{
		{nil, map[string]bool{"own": true, "other": true}, ""},
		{[]string{"*"}, map[string]bool{"own": true, "other": true}, ""},
		{[]string{"."}, map[string]bool{"own": true, "other": false}, ""},
		{[]string{"~"}, map[string]bool{"own": false, "other": false}, ""},
		{[]string{".", "other"}, map[string]bool{"own": true, "other": true, "third": false}, ""},
		{[]string{"*", "other"}, nil, `"*" cannot be combined`},
		{[]string{"~", "."}, nil, `"~" cannot be combined`},
		{[]string{"a", "a"}, nil, `"a" is listed twice`},
		{[]string{"Bad_NS"}, nil, "is not a namespace name"},
	} {
		v, err := parseExportTo(tc.list, "own")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.list, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.list, err)
			continue
		}
		for ns, want := range tc.visible {
			if got := v.VisibleFrom(ns); got != want {
				t.Errorf("%v visible from %s = %v, want %v", tc.list, ns, got, want)
			}
		}
	}
}

func serviceEntry(name string) *config.Object {
	return &config.Object{Kind: config.KindServiceEntry, Namespace: "ns", Name: name, Spec: &networkingv1.ServiceEntry{
		Hosts:      []string{name + ".ns"},
		Ports:      []*networkingv1.ServicePort{{Number: 20880, Name: "tcp-metaprotocol-dubbo"}},
		Resolution: networkingv1.ServiceEntry_STATIC,
		Endpoints:  []*networkingv1.WorkloadEntry{{Address: "10.0.0.1", Labels: map[string]string{"v": "1"}}},
	}}
}

func router(subset string) *config.Object {
	return &config.Object{Kind: config.KindMetaRouter, Namespace: "ns", Name: "r", Spec: &aerakiv1alpha1.MetaRouterSpec{
		Hosts: []string{"svc.ns"},
		Routes: []*aerakiv1alpha1.MetaRoute{{Name: "to-" + subset, Route: []*aerakiv1alpha1.MetaRouteDestination{
			{Destination: &aerakiv1alpha1.Destination{Host: "svc.ns", Subset: subset}},
		}}},
	}}
}

func destinationRule(subsets ...string) *config.Object {
	dr := &networkingv1.DestinationRule{Host: "svc.ns"}
	for _, s := range subsets {
		dr.Subsets = append(dr.Subsets, &networkingv1.Subset{Name: s, Labels: map[string]string{"v": s}})
	}
	return &config.Object{Kind: config.KindDestinationRule, Namespace: "ns", Name: "dr", Spec: dr}
}

func build(prev *Model, objs ...*config.Object) *Model {
	config.SortObjects(objs)
	return Build(objs, Options{Previous: prev})
}

// TestLastValidVersionStays: a MetaRouter edited into an invalid state keeps its previous
// version while that one is still valid; when the previous one is invalid too, the router
// is dropped, and the problems say so.
func TestLastValidVersionStays(t *testing.T) {
	svc, dr := serviceEntry("svc"), destinationRule("a", "b")
	m1 := build(nil, svc, dr, router("a"))
	if len(m1.Routers) != 1 || len(m1.Problems) != 0 {
		t.Fatalf("first build: %d routers, problems %v", len(m1.Routers), m1.Problems)
	}

	m2 := build(m1, svc, dr, router("c"))
	if len(m2.Routers) != 1 || m2.Routers[0].Routes[0].Name != "to-a" {
		t.Fatalf("the previous router was not kept: %+v", m2.Routers)
	}
	text := problemText(m2.Problems)
	if !strings.Contains(text, `subset "c" is not defined`) || !strings.Contains(text, "the last valid version") {
		t.Errorf("problems:\n%s", text)
	}

	// Subset a disappears: the kept version is no longer valid either.
	m3 := build(m2, svc, destinationRule("b"), router("c"))
	if len(m3.Routers) != 0 {
		t.Errorf("an invalid router was kept: %+v", m3.Routers[0])
	}

	// A fixed router replaces the kept one.
	m4 := build(m3, svc, destinationRule("b"), router("b"))
	if len(m4.Routers) != 1 || m4.Routers[0].Routes[0].Name != "to-b" || len(m4.Problems) != 0 {
		t.Errorf("after the fix: routers %+v, problems %v", m4.Routers, m4.Problems)
	}
}

func problemText(ps config.Problems) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

// TestObjectsAreIndependent: the error of one object never removes another's services.
func TestObjectsAreIndependent(t *testing.T) {
	bad := serviceEntry("bad")
	bad.ServiceEntry().Ports[0].Name = "tcp-metaprotocol"
	m := build(nil, serviceEntry("svc"), bad, serviceEntry("other"))
	var hosts []string
	for _, s := range m.Services {
		hosts = append(hosts, s.Host)
	}
	if got := strings.Join(hosts, " "); got != "other.ns svc.ns" {
		t.Errorf("services = %s, want other.ns svc.ns", got)
	}
	if m.Problems.Errors() != 1 {
		t.Errorf("problems:\n%s", problemText(m.Problems))
	}
}

func TestPolicyLayers(t *testing.T) {
	dr := destinationRule("a")
	spec := dr.DestinationRule()
	spec.TrafficPolicy = &networkingv1.TrafficPolicy{
		LoadBalancer: &networkingv1.LoadBalancerSettings{LbPolicy: &networkingv1.LoadBalancerSettings_Simple{Simple: networkingv1.LoadBalancerSettings_RANDOM}},
		PortLevelSettings: []*networkingv1.TrafficPolicy_PortTrafficPolicy{{
			Port:         &networkingv1.PortSelector{Number: 20880},
			LoadBalancer: &networkingv1.LoadBalancerSettings{LbPolicy: &networkingv1.LoadBalancerSettings_Simple{Simple: networkingv1.LoadBalancerSettings_LEAST_REQUEST}},
		}},
	}
	spec.Subsets[0].TrafficPolicy = &networkingv1.TrafficPolicy{
		LoadBalancer: &networkingv1.LoadBalancerSettings{LbPolicy: &networkingv1.LoadBalancerSettings_ConsistentHash{
			ConsistentHash: &networkingv1.LoadBalancerSettings_ConsistentHashLB{HashKey: &networkingv1.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName{HttpHeaderName: "user"}},
		}},
	}
	m := build(nil, serviceEntry("svc"), dr)
	p := m.Policies[0]
	if got := p.For(20880, ""); got.LB != LeastRequest {
		t.Errorf("port-level setting: LB = %v, want LEAST_REQUEST", got.LB)
	}
	if got := p.For(9999, ""); got.LB != Random {
		t.Errorf("top-level setting: LB = %v, want RANDOM", got.LB)
	}
	if got := p.For(20880, "a"); got.LB != RoundRobin || got.HashKey != "user" {
		t.Errorf("subset setting: %+v, want ROUND_ROBIN hashing on user", got)
	}
}
