// Package config holds what every control-plane source delivers and every later stage
// consumes: configuration objects as users wrote them (a ServiceEntry, a MetaRouter, ...),
// each with the place it came from, and the problems found in them.
//
// A source (a directory of YAML files, Kubernetes informers) produces Objects whose Spec is
// already the typed API value; the model reads them without knowing where they came from,
// and reports problems against their Origin so that a user sees the file and line.
package config

import (
	"sort"
	"strings"

	aerakiv1alpha1 "github.com/breeze-mesh/breeze/api/aeraki/metaprotocol/v1alpha1"
	networkingv1 "istio.io/api/networking/v1"
)

// Kinds of object Breeze reads.
const (
	KindServiceEntry        = "ServiceEntry"
	KindWorkloadEntry       = "WorkloadEntry"
	KindDestinationRule     = "DestinationRule"
	KindMetaRouter          = aerakiv1alpha1.KindMetaRouter
	KindApplicationProtocol = aerakiv1alpha1.KindApplicationProtocol
)

// Object is one configuration object. Spec holds the typed spec for its kind:
//
//	ServiceEntry         *networkingv1.ServiceEntry
//	WorkloadEntry        *networkingv1.WorkloadEntry
//	DestinationRule      *networkingv1.DestinationRule
//	MetaRouter           *aerakiv1alpha1.MetaRouterSpec
//	ApplicationProtocol  *aerakiv1alpha1.ApplicationProtocolSpec (cluster-scoped: no namespace)
type Object struct {
	Kind        string
	APIVersion  string
	Namespace   string
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	Spec        any
	Origin      Origin
}

// Key identifies an object among all objects of all kinds: "Kind/namespace/name".
func (o *Object) Key() string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// String names the object for messages: "MetaRouter dubbo/greeter", or
// "ApplicationProtocol brpc" for cluster-scoped kinds.
func (o *Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// The typed specs, for the model's convenience; each returns nil for another kind.

// ServiceEntry returns the spec of a ServiceEntry.
func (o *Object) ServiceEntry() *networkingv1.ServiceEntry {
	s, _ := o.Spec.(*networkingv1.ServiceEntry)
	return s
}

// WorkloadEntry returns the spec of a WorkloadEntry.
func (o *Object) WorkloadEntry() *networkingv1.WorkloadEntry {
	s, _ := o.Spec.(*networkingv1.WorkloadEntry)
	return s
}

// DestinationRule returns the spec of a DestinationRule.
func (o *Object) DestinationRule() *networkingv1.DestinationRule {
	s, _ := o.Spec.(*networkingv1.DestinationRule)
	return s
}

// MetaRouter returns the spec of a MetaRouter.
func (o *Object) MetaRouter() *aerakiv1alpha1.MetaRouterSpec {
	s, _ := o.Spec.(*aerakiv1alpha1.MetaRouterSpec)
	return s
}

// ApplicationProtocol returns the spec of an ApplicationProtocol.
func (o *Object) ApplicationProtocol() *aerakiv1alpha1.ApplicationProtocolSpec {
	s, _ := o.Spec.(*aerakiv1alpha1.ApplicationProtocolSpec)
	return s
}

// Origin is where an object came from, precise enough to point at one of its fields.
type Origin struct {
	// File is the file the object was read from, "" for sources without files.
	File string
	// Line is the 1-based line where the object starts, 0 when unknown.
	Line int
	// Fields maps a field path ("spec.routes[0].match") to its line, for the fields the
	// source saw. Paths use the names users write (JSON names) and [i] for list elements.
	Fields map[string]int
}

// LineOf returns the line of a field, or of its closest ancestor the source located, or the
// object's own line.
func (o Origin) LineOf(path string) int {
	for p := path; p != ""; p = parent(p) {
		if line, ok := o.Fields[p]; ok {
			return line
		}
	}
	return o.Line
}

// parent strips the last element of a field path: "a.b[2]" → "a.b", "a.b" → "a".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// SortObjects orders objects by kind, namespace and name, the order every later stage
// relies on for deterministic output.
func SortObjects(objs []*Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
