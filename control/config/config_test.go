package config

import (
	"testing"
)

func TestProblemString(t *testing.T) {
	p := Problem{Severity: Warning, File: "mesh/r.yaml", Line: 7, Object: "MetaRouter ns/r", Field: "spec.routes[0]",
		Message: "this route matches every request", Hint: "put it last"}
	want := "mesh/r.yaml:7: warning: MetaRouter ns/r: spec.routes[0]: this route matches every request; hint: put it last"
	if got := p.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := (Problem{Message: "m"}).String(); got != "m" {
		t.Errorf("bare problem = %q", got)
	}
}

func TestProblemsSortDropsDuplicates(t *testing.T) {
	ps := Problems{
		{File: "b.yaml", Line: 1, Message: "x"},
		{File: "a.yaml", Line: 9, Message: "y"},
		{File: "a.yaml", Line: 2, Message: "z", Severity: Warning},
		{File: "b.yaml", Line: 1, Message: "x"},
	}
	ps.Sort()
	if len(ps) != 3 || ps[0].Line != 2 || ps[1].Line != 9 || ps[2].File != "b.yaml" {
		t.Errorf("sorted = %v", ps)
	}
	if ps.Errors() != 2 {
		t.Errorf("errors = %d, want 2", ps.Errors())
	}
}

func TestLineOfFallsBackToAncestors(t *testing.T) {
	o := Origin{Line: 1, Fields: map[string]int{"spec": 4, "spec.routes[0]": 6, `spec.a["x.y"]`: 9}}
	for path, want := range map[string]int{
		"spec.routes[0].route[1].weight": 6,
		"spec.routes[3]":                 4,
		"metadata.name":                  1,
		"":                               1,
	} {
		if got := o.LineOf(path); got != want {
			t.Errorf("LineOf(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestMapKey(t *testing.T) {
	if got := MapKey("spec.ports", "tcp-metaprotocol-dubbo"); got != "spec.ports.tcp-metaprotocol-dubbo" {
		t.Errorf("plain key: %s", got)
	}
	if got := MapKey("spec.ports", "6104"); got != `spec.ports["6104"]` {
		t.Errorf("quoted key: %s", got)
	}
}
