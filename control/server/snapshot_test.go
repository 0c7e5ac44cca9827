package server

import (
	"fmt"
	"testing"

	networkingv1 "istio.io/api/networking/v1"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
	"github.com/breeze-mesh/breeze/control/translate"
)

func resourcesFor(n int, weightBump string) *translate.Resources {
	var objs []*config.Object
	for i := range n {
		objs = append(objs, &config.Object{Kind: config.KindServiceEntry, Namespace: "ns", Name: fmt.Sprintf("s%d", i),
			Spec: &networkingv1.ServiceEntry{
				Hosts:      []string{fmt.Sprintf("s%d.ns%s", i, weightBump)},
				Ports:      []*networkingv1.ServicePort{{Number: uint32(20000 + i), Name: "tcp-metaprotocol-dubbo"}},
				Resolution: networkingv1.ServiceEntry_STATIC,
				Endpoints:  []*networkingv1.WorkloadEntry{{Address: "10.0.0.1"}},
			}})
	}
	m := model.Build(objs, model.Options{})
	p := &model.Proxy{ID: "p", Namespace: "ns"}
	p.ApplyDefaults()
	return translate.ForProxy(m, p, translate.ProxyFeatures)
}

// TestSnapshotVersionsAreContentHashes: the same resources give the same versions, and a
// change to one type changes that type's version only.
func TestSnapshotVersionsAreContentHashes(t *testing.T) {
	a, err := newSnapshot(resourcesFor(3, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSnapshot(resourcesFor(3, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, typeURL := range typeURLs {
		if a.GetVersion(typeURL) == "" || a.GetVersion(typeURL) != b.GetVersion(typeURL) {
			t.Errorf("%s: versions %q and %q for the same resources", typeURL, a.GetVersion(typeURL), b.GetVersion(typeURL))
		}
	}
	res := resourcesFor(3, "")
	res.Routes[1].Routes[0].Name = "renamed"
	c, err := newSnapshot(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, typeURL := range typeURLs {
		changed := a.GetVersion(typeURL) != c.GetVersion(typeURL)
		if changed != (typeURL == translate.RouteType) {
			t.Errorf("%s: version changed = %v after a route change", typeURL, changed)
		}
	}
	name := res.Routes[1].GetName()
	for route, v := range c.GetVersionMap(translate.RouteType) {
		if (v != a.GetVersionMap(translate.RouteType)[route]) != (route == name) {
			t.Errorf("route %s: per-resource version changed = %v", route, v != a.GetVersionMap(translate.RouteType)[route])
		}
	}
	empty, err := newSnapshot(&translate.Resources{})
	if err != nil {
		t.Fatal(err)
	}
	if empty.GetVersion(translate.ListenerType) == "" {
		t.Error("an empty type has no version: a proxy's first request for it would never be answered")
	}
}

// BenchmarkSnapshot measures hashing one proxy's resources for a 1000-service mesh.
func BenchmarkSnapshot(b *testing.B) {
	res := resourcesFor(1000, "")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newSnapshot(res); err != nil {
			b.Fatal(err)
		}
	}
}
