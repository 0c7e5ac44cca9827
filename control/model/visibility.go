package model

import (
	"fmt"
	"slices"
	"strings"
)

// Visibility is an exportTo list: the namespaces from which an object is seen.
type Visibility struct {
	// All is set for "*" (and for an empty exportTo).
	All bool `json:",omitempty"`
	// Namespaces lists the namespaces that see the object, "." resolved to the owner's.
	Namespaces []string `json:",omitempty"`
}

// VisibleFrom reports whether a proxy in namespace ns sees the object.
func (v Visibility) VisibleFrom(ns string) bool {
	return v.All || slices.Contains(v.Namespaces, ns)
}

// parseExportTo reads an exportTo list of an object in namespace own: empty or "*" is
// everywhere, "." the owner's namespace, "~" nowhere, anything else a namespace name.
func parseExportTo(list []string, own string) (Visibility, error) {
	if len(list) == 0 {
		return Visibility{All: true}, nil
	}
	seen := map[string]bool{}
	var v Visibility
	for _, e := range list {
		if seen[e] {
			return Visibility{}, fmt.Errorf("%q is listed twice", e)
		}
		seen[e] = true
		switch e {
		case "*":
			v.All = true
		case "~":
		case ".":
			v.Namespaces = append(v.Namespaces, own)
		default:
			if !dns1123Label.MatchString(e) {
				return Visibility{}, fmt.Errorf("%q is not a namespace name, \".\", \"*\" or \"~\"", e)
			}
			v.Namespaces = append(v.Namespaces, e)
		}
	}
	if (seen["*"] || seen["~"]) && len(list) > 1 {
		return Visibility{}, fmt.Errorf("%q cannot be combined with other entries", strings.Join(slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s != "*" && s != "~" }), ""))
	}
	if v.All {
		v.Namespaces = nil
	}
	slices.Sort(v.Namespaces)
	v.Namespaces = slices.Compact(v.Namespaces)
	return v, nil
}
