package translate_test

import (
	"fmt"
	"testing"

	networkingv1 "istio.io/api/networking/v1"

	aerakiv1alpha1 "github.com/breeze-mesh/breeze/api/aeraki/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
	"github.com/breeze-mesh/breeze/control/translate"
)

// meshObjects makes a mesh of n services, each with two subsets, ten endpoints and a
// MetaRouter with a weighted split.
func meshObjects(n int) []*config.Object {
	var objs []*config.Object
	for i := range n {
		host := fmt.Sprintf("svc-%d.ns.svc.cluster.local", i)
		se := &networkingv1.ServiceEntry{
			Hosts:      []string{host},
			Ports:      []*networkingv1.ServicePort{{Number: uint32(20000 + i), Name: "tcp-metaprotocol-dubbo"}},
			Resolution: networkingv1.ServiceEntry_STATIC,
		}
		for j := range 10 {
			se.Endpoints = append(se.Endpoints, &networkingv1.WorkloadEntry{
				Address: fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j), Labels: map[string]string{"version": fmt.Sprintf("v%d", j%2+1)},
			})
		}
		objs = append(objs,
			&config.Object{Kind: config.KindServiceEntry, Namespace: "ns", Name: fmt.Sprintf("svc-%d", i), Spec: se},
			&config.Object{Kind: config.KindDestinationRule, Namespace: "ns", Name: fmt.Sprintf("svc-%d", i), Spec: &networkingv1.DestinationRule{
				Host: host,
				Subsets: []*networkingv1.Subset{
					{Name: "v1", Labels: map[string]string{"version": "v1"}},
					{Name: "v2", Labels: map[string]string{"version": "v2"}},
				},
			}},
			&config.Object{Kind: config.KindMetaRouter, Namespace: "ns", Name: fmt.Sprintf("svc-%d", i), Spec: &aerakiv1alpha1.MetaRouterSpec{
				Hosts: []string{host},
				Routes: []*aerakiv1alpha1.MetaRoute{{
					Name:  "split",
					Match: &aerakiv1alpha1.MetaRouteMatch{Attributes: map[string]*aerakiv1alpha1.StringMatch{"method": {Exact: "sayHello"}}},
					Route: []*aerakiv1alpha1.MetaRouteDestination{
						{Destination: &aerakiv1alpha1.Destination{Host: host, Subset: "v1"}, Weight: 90},
						{Destination: &aerakiv1alpha1.Destination{Host: host, Subset: "v2"}, Weight: 10},
					},
				}},
			}},
		)
	}
	config.SortObjects(objs)
	return objs
}

// BenchmarkBuild measures building the model of a 1000-service mesh (one rebuild).
func BenchmarkBuild(b *testing.B) {
	objs := meshObjects(1000)
	b.ReportAllocs()
	for b.Loop() {
		model.Build(objs, model.Options{})
	}
}

// BenchmarkForProxy measures translating that mesh for one proxy (done per proxy per
// rebuild): 1000 listeners and route tables, 3000 clusters and load assignments.
func BenchmarkForProxy(b *testing.B) {
	m := model.Build(meshObjects(1000), model.Options{})
	p := &model.Proxy{ID: "bench", Namespace: "ns"}
	p.ApplyDefaults()
	b.ReportAllocs()
	for b.Loop() {
		res := translate.ForProxy(m, p, translate.ProxyFeatures)
		if len(res.Listeners) != 1000 {
			b.Fatalf("%d listeners", len(res.Listeners))
		}
	}
}
