package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Severity says whether a problem stops an object from taking effect.
type Severity uint8

const (
	// Error means the object (or the part named) is not used.
	Error Severity = iota
	// Warning means the object is used, but something in it does not take effect as written.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with the configuration, located as precisely as the source
// allows.
type Problem struct {
	Severity Severity
	// File and Line locate the problem; both may be empty.
	File string
	Line int
	// Object names the object ("MetaRouter dubbo/greeter"), "" for a problem with a whole
	// file (a YAML syntax error).
	Object string
	// Field is the field's path within the object ("spec.routes[0].route[0].weight").
	Field string
	// Message says what is wrong.
	Message string
	// Hint says what would be right, when that is known.
	Hint string
}

// String formats the problem on one line:
//
//	mesh/router.yaml:14: MetaRouter dubbo/greeter: spec.routes[0].route[0].destination.subset: subset "v3" is not defined; hint: ...
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Severity == Warning {
		b.WriteString("warning: ")
	}
	if p.Object != "" {
		b.WriteString(p.Object)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString("; hint: ")
		b.WriteString(p.Hint)
	}
	return b.String()
}

// Problems is a list of problems, in the order they were found until Sort is called.
type Problems []Problem

// Errors counts the problems of severity Error.
func (ps Problems) Errors() int {
	n := 0
	for _, p := range ps {
		if p.Severity == Error {
			n++
		}
	}
	return n
}

// Sort orders the problems by file, line, object, field and message, and drops exact
// duplicates (the same problem found for several proxies).
func (ps *Problems) Sort() {
	slices.SortStableFunc(*ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Object, b.Object),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Severity, b.Severity),
			cmp.Compare(a.Message, b.Message),
		)
	})
	*ps = slices.Compact(*ps)
}

// Reporter records problems found in one object, filling in its file and the line of the
// field.
type Reporter struct {
	obj  *Object
	list *Problems
}

// NewReporter returns a reporter that appends to list.
func NewReporter(obj *Object, list *Problems) Reporter { return Reporter{obj: obj, list: list} }

// Errorf reports an error in field (a path from the object's root, "" for the object).
func (r Reporter) Errorf(field, hint, format string, args ...any) {
	r.add(Error, field, hint, fmt.Sprintf(format, args...))
}

// Warnf reports a warning in field.
func (r Reporter) Warnf(field, hint, format string, args ...any) {
	r.add(Warning, field, hint, fmt.Sprintf(format, args...))
}

func (r Reporter) add(sev Severity, field, hint, msg string) {
	*r.list = append(*r.list, Problem{
		Severity: sev,
		File:     r.obj.Origin.File,
		Line:     r.obj.Origin.LineOf(field),
		Object:   r.obj.String(),
		Field:    field,
		Message:  msg,
		Hint:     hint,
	})
}

// At returns a problem located at field, with no message yet: for findings that become
// problems later (a setting the proxies cannot run yet).
func (r Reporter) At(field string) Problem {
	return Problem{File: r.obj.Origin.File, Line: r.obj.Origin.LineOf(field), Object: r.obj.String(), Field: field}
}
