package model

import (
	"fmt"
	"regexp"

	"github.com/breeze-mesh/breeze/control/config"
)

// Options tune Build.
type Options struct {
	// Codecs lists the codecs this Breeze binary has, to warn about ApplicationProtocols
	// naming others; nil skips the check.
	Codecs []string
	// Previous is the model built before this one. When an object it accepted has become
	// invalid, and its previous version is still valid against the new configuration, the
	// previous version stays in effect (with a warning) instead of disappearing.
	Previous *Model
}

// Build makes a model from a set of objects, sorted as config.SortObjects sorts them. It
// never fails: each object is checked on its own, a bad one is reported in Model.Problems
// and left out, and everything that does not depend on it is built as usual.
func Build(objs []*config.Object, opts Options) *Model {
	b := &builder{
		m: &Model{
			Workloads:      map[string]*Workload{},
			accepted:       map[string]*config.Object{},
			servicesByHost: map[string][]*Service{},
			routersByHost:  map[string][]*Router{},
			policiesByHost: map[string][]*Policy{},
		},
		opts:  opts,
		hosts: map[string][]*hostEntry{},
	}
	byKind := map[string][]*config.Object{}
	for _, obj := range objs {
		byKind[obj.Kind] = append(byKind[obj.Kind], obj)
	}
	// The order follows the references: ports name protocols, services select workloads,
	// policies name hosts, routers name hosts and subsets.
	b.buildProtocols(byKind[config.KindApplicationProtocol])
	b.buildWorkloads(byKind[config.KindWorkloadEntry])
	b.buildServices(byKind[config.KindServiceEntry])
	b.buildPolicies(byKind[config.KindDestinationRule])
	b.buildRouters(byKind[config.KindMetaRouter])

	b.m.Problems = b.problems
	b.m.Problems.Sort()
	return b.m
}

type builder struct {
	m        *Model
	opts     Options
	problems config.Problems
	// hosts indexes every accepted ServiceEntry host, meta-protocol or not.
	hosts map[string][]*hostEntry
}

// accept checks obj with check, which adds the object to the model only when it returns
// true. When obj fails and the previous model accepted another version of it that passes
// now, that version is used instead.
func (b *builder) accept(obj *config.Object, check func(*config.Object, config.Reporter) bool) {
	var problems config.Problems
	ok := check(obj, config.NewReporter(obj, &problems))
	b.problems = append(b.problems, problems...)
	if ok {
		b.m.accepted[obj.Key()] = obj
		return
	}
	if b.opts.Previous == nil {
		return
	}
	prev := b.opts.Previous.accepted[obj.Key()]
	if prev == nil || prev == obj {
		return
	}
	var discarded config.Problems
	if check(prev, config.NewReporter(prev, &discarded)) {
		b.m.accepted[obj.Key()] = prev
		where := prev.Origin.File
		if prev.Origin.Line > 0 {
			where = fmt.Sprintf("%s:%d", where, prev.Origin.Line)
		}
		config.NewReporter(obj, &b.problems).Warnf("", "", "the last valid version (read from %s) stays in effect until the errors are fixed", where)
	}
}

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// hostName is a DNS-1123 subdomain, as Istio requires of hosts (upper case allowed on
	// read and compared without case).
	hostName = regexp.MustCompile(`^(?i)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)
