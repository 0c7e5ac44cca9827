package file

import (
	"fmt"
	"strings"

	yaml "gopkg.in/yaml.v3"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/internal/suggest"
)

// maxDocumentProblems bounds the problems reported for one document: past a screenful, more
// lines do not help, and a file of garbage should not produce megabytes of errors.
const maxDocumentProblems = 20

// maxDocumentNodes bounds the YAML nodes one document may expand to. Aliases are expanded
// when decoding, so a few lines of anchors referring to anchors (a "billion laughs") could
// otherwise make the decoder walk billions of nodes.
const maxDocumentNodes = 200_000

// fieldProblem is a problem in one decoded document, before it is tied to an object.
type fieldProblem struct {
	severity config.Severity
	line     int
	path     string
	message  string
	hint     string
}

// decoder walks the yaml.v3 node tree of one document, checking every field against the
// target type and recording where each field is. Both the Go-struct walker (Aeraki's types)
// and the proto walker (Istio's types) share it.
type decoder struct {
	problems  []fieldProblem
	truncated bool
	// lines maps each decoded field path to its line.
	lines map[string]int
	// nodes counts the nodes visited, aliases expanded, against maxDocumentNodes.
	nodes int
}

func newDecoder() *decoder { return &decoder{lines: map[string]int{}} }

func (d *decoder) errorf(n *yaml.Node, path, hint, format string, args ...any) {
	d.add(config.Error, n, path, hint, fmt.Sprintf(format, args...))
}

func (d *decoder) warnf(n *yaml.Node, path, hint, format string, args ...any) {
	d.add(config.Warning, n, path, hint, fmt.Sprintf(format, args...))
}

func (d *decoder) add(sev config.Severity, n *yaml.Node, path, hint, msg string) {
	if len(d.problems) >= maxDocumentProblems {
		d.truncated = true
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, fieldProblem{severity: sev, line: line, path: path, message: msg, hint: hint})
}

func (d *decoder) failed() bool {
	for _, p := range d.problems {
		if p.severity == config.Error {
			return true
		}
	}
	return false
}

// visit records the line of a path and resolves aliases; it returns nil for an explicit
// null, which leaves the field unset.
func (d *decoder) visit(n *yaml.Node, path string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	d.nodes++
	if d.nodes > maxDocumentNodes {
		if d.nodes == maxDocumentNodes+1 {
			d.errorf(n, path, "write the values out, or split the document",
				"the document expands to more than %d YAML nodes (through aliases); decoding stopped", maxDocumentNodes)
		}
		return nil
	}
	if path != "" {
		if _, seen := d.lines[path]; !seen {
			d.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	return n
}

// mapping returns the key/value pairs of a mapping node, reporting duplicate keys and
// non-string keys. ok is false when n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, path, what string) (pairs []keyValue, ok bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "", "must be %s, got %s", what, describe(n))
		return nil, false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "", "a key must be a string, got %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.errorf(k, path, "write the fields out; YAML merge keys (<<) are not supported", "merge keys are not supported")
			continue
		}
		if seen[k.Value] {
			d.errorf(k, config.MapKey(path, k.Value), "remove one of them", "key %q appears twice", k.Value)
			continue
		}
		seen[k.Value] = true
		pairs = append(pairs, keyValue{key: k.Value, keyNode: k, value: v})
	}
	return pairs, true
}

type keyValue struct {
	key     string
	keyNode *yaml.Node
	value   *yaml.Node
}

// describe names the YAML shape of a node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected YAML node"
}

// quoteHint suggests quoting a scalar YAML read as a number or boolean where a string is
// needed: version: 1.0 is the number 1.
func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool") {
		return fmt.Sprintf("quote it: %q", n.Value)
	}
	return ""
}

// unknownField reports a key that names no field, with the closest valid name.
func (d *decoder) unknownField(kv keyValue, path string, valid []string) {
	hint := ""
	if s := suggest.Closest(kv.key, valid); s != "" {
		hint = fmt.Sprintf("did you mean %q?", s)
	} else if len(valid) > 0 {
		hint = "valid fields here: " + strings.Join(valid, ", ")
	}
	d.errorf(kv.keyNode, config.MapKey(path, kv.key), hint, "unknown field")
}
