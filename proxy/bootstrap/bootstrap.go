// Package bootstrap loads the proxy's static configuration from a YAML file in Envoy's
// bootstrap layout, restricted to the subset Breeze implements (docs/bootstrap.md).
//
// Loading is strict, in four passes, each reporting every problem it finds with the file,
// the line and the field's full path:
//
//  1. YAML syntax, with the parser's line number.
//  2. Field names and value shapes, checked against the proto descriptors (Envoy's and
//     Breeze's, following each Any by its "@type"): an unknown field is reported with the
//     name that was probably meant.
//  3. protojson decodes the document into an Envoy Bootstrap message; then every field that
//     is set must be in the allow-list of supportedFields, so that a field Envoy has but
//     Breeze ignores (health_checks, listener_filters, TLS, ...) is refused instead of
//     silently dropped.
//  4. proxy/config converts the message into the runtime configuration (codec names, regular
//     expressions, weights, ...) and validates what spans resources (cluster references,
//     duplicate names and addresses).
package bootstrap

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoregistry"
	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"

	// Registers breeze.metaprotocol.v1alpha1 types, so typed_config's "@type" resolves, and
	// the built-in filters' config types, so meta_protocol_filters' configs do.
	_ "github.com/breeze-mesh/breeze/api/filters/accesslog/v1alpha1"
	_ "github.com/breeze-mesh/breeze/api/filters/fault/v1alpha1"
	_ "github.com/breeze-mesh/breeze/api/filters/globalratelimit/v1alpha1"
	_ "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	_ "github.com/breeze-mesh/breeze/api/filters/localratelimit/v1alpha1"
	_ "github.com/breeze-mesh/breeze/api/filters/metadataexchange/v1alpha1"
	_ "github.com/breeze-mesh/breeze/api/filters/tracing/v1alpha1"
	_ "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/internal/suggest"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// Load reads and parses the bootstrap file at path.
func Load(path string) (*config.Bootstrap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse parses a bootstrap document. source names it in error messages (usually the file
// path). The returned error is an *Error listing every problem found.
func Parse(data []byte, source string) (*config.Bootstrap, error) {
	doc := &document{}
	cfg, problems := doc.parse(data)
	if len(problems) > 0 {
		return nil, &Error{Source: source, Problems: problems}
	}
	return cfg, nil
}

// Error is a bootstrap file that cannot be loaded. Its message has one line per problem:
//
//	bootstrap.yaml:23: static_resources.clusters[0].health_checks: not supported by Breeze (supported fields here: ...)
type Error struct {
	// Source is the file (or the name given to Parse).
	Source string
	// Problems are in the order they were found, which is document order within a pass.
	Problems []Problem
}

// Problem is one thing wrong with a bootstrap file.
type Problem struct {
	// Line is the 1-based line of the offending YAML node, or 0 when unknown.
	Line int
	// Path is the field's location ("static_resources.listeners[0].name"), or "" when the
	// problem is not about one field.
	Path string
	// Message says what is wrong and, where possible, what would be right.
	Message string
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		var b strings.Builder
		b.WriteString(e.Source)
		if p.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
		lines[i] = b.String()
	}
	return strings.Join(lines, "\n")
}

// problem is a Problem before its line is looked up.
type problem struct {
	path    string
	message string
}

// maxProblems bounds the problems one pass reports: past a screenful, more lines do not
// help, and a file of garbage should not produce megabytes of errors.
const maxProblems = 20

// problemList collects the problems of one pass, up to maxProblems.
type problemList struct {
	problems []problem
	// truncated is set when a problem was left out. The checkers stop walking once the list
	// is full, so how many were left out is not known.
	truncated bool
}

func (l *problemList) report(path, format string, args ...any) {
	if l.full() {
		return
	}
	l.problems = append(l.problems, problem{path: path, message: fmt.Sprintf(format, args...)})
}

func (l *problemList) full() bool {
	if len(l.problems) >= maxProblems {
		l.truncated = true
		return true
	}
	return false
}

// document is one parse in progress.
type document struct {
	// root is the YAML node tree, used to find the line of a path.
	root *yamlv3.Node
}

func (d *document) parse(data []byte) (*config.Bootstrap, []Problem) {
	// sigs.k8s.io/yaml converts the YAML to JSON (refusing duplicate keys); the yaml.v3 node
	// tree is kept to find the line of each later problem. Both parsers report syntax
	// errors; sigs.k8s.io/yaml's are preferred, yaml.v3's used when only they have a line.
	jsonData, err := yaml.YAMLToJSONStrict(data)
	var root yamlv3.Node
	rootErr := yamlv3.Unmarshal(data, &root)
	if err != nil {
		problems := yamlProblems(err)
		if problems[0].Line == 0 && rootErr != nil {
			if located := yamlProblems(rootErr); located[0].Line > 0 {
				return nil, located
			}
		}
		return nil, problems
	}
	if rootErr == nil {
		d.root = &root
	}
	generic, err := decodeJSON(jsonData)
	if err != nil {
		return nil, []Problem{{Message: fmt.Sprintf("cannot read the document: %v", err)}}
	}
	if generic == nil {
		return nil, []Problem{{Message: "the document is empty"}}
	}

	pb := &bootstrapv3.Bootstrap{}
	types := protoregistry.GlobalTypes
	fc := &fieldChecker{types: types}
	fc.message("", pb.ProtoReflect().Descriptor(), generic)
	if len(fc.problems) > 0 {
		return nil, d.locate(fc.problemList)
	}

	if err := (protojson.UnmarshalOptions{Resolver: types}).Unmarshal(jsonData, pb); err != nil {
		// The field checker catches what it can name; this is what remains.
		return nil, []Problem{{Message: err.Error()}}
	}

	sc := &supportChecker{types: types}
	sc.message("", pb.ProtoReflect())
	if len(sc.problems) > 0 {
		return nil, d.locate(sc.problemList)
	}

	cfg, err := config.FromBootstrap(pb)
	if err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			return nil, d.locate(problemList{problems: []problem{{path: fe.Path, message: fe.Message}}})
		}
		return nil, []Problem{{Message: err.Error()}}
	}
	if err := config.Validate(cfg); err != nil {
		var problems []Problem
		for _, line := range strings.Split(err.Error(), "\n") {
			problems = append(problems, Problem{Message: line})
		}
		return nil, problems
	}
	return cfg, nil
}

// yamlProblems turns a YAML parser error into problems with line numbers. The parsers
// write "yaml: line 3: message", or a list of "line N: message" after "unmarshal errors:".
func yamlProblems(err error) []Problem {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	if rest, ok := strings.CutPrefix(msg, "yaml: unmarshal errors:\n"); ok {
		var out []Problem
		for _, line := range strings.Split(rest, "\n") {
			out = append(out, yamlProblem(strings.TrimSpace(line)))
		}
		return out
	}
	return []Problem{yamlProblem(strings.TrimPrefix(msg, "yaml: "))}
}

// yamlLine matches the location prefix of one YAML parser error.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

func yamlProblem(msg string) Problem {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Message: "invalid YAML: " + msg[len(m[0]):]}
	}
	return Problem{Message: "invalid YAML: " + msg}
}

// locate looks up the line of each problem and puts them in document order. (The JSON the
// checkers walk has its keys sorted, so their own order is not the file's.)
func (d *document) locate(ps problemList) []Problem {
	out := make([]Problem, len(ps.problems))
	for i, p := range ps.problems {
		out[i] = Problem{Line: d.line(p.path), Path: p.path, Message: p.message}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	if ps.truncated {
		out = append(out, Problem{Message: fmt.Sprintf("more problems not shown (only the first %d are listed)", maxProblems)})
	}
	return out
}

// line returns the line of the YAML node at path, or of its deepest ancestor that exists
// in the file (a field that is reported missing has no line of its own).
func (d *document) line(path string) int {
	n := d.root
	if n == nil {
		return 0
	}
	if n.Kind == yamlv3.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, seg := range parsePath(path) {
		n = resolveAlias(n)
		var next *yamlv3.Node
		switch {
		case seg.isIndex && n.Kind == yamlv3.SequenceNode && seg.index < len(n.Content):
			next = n.Content[seg.index]
		case !seg.isIndex && n.Kind == yamlv3.MappingNode:
			next = mappingKey(n, seg.key)
		}
		if next == nil {
			break
		}
		line = next.Line
		if !seg.isIndex {
			// Step from the key node to its value.
			if next = mappingValue(n, next); next == nil {
				break
			}
		}
		n = next
	}
	return line
}

func resolveAlias(n *yamlv3.Node) *yamlv3.Node {
	for n.Kind == yamlv3.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// mappingKey finds the key node for key in a mapping. The path uses proto field names where
// the file may use the JSON (camelCase) name, so a second pass ignores case and underscores.
func mappingKey(n *yamlv3.Node, key string) *yamlv3.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if suggest.SameName(n.Content[i].Value, key) {
			return n.Content[i]
		}
	}
	return nil
}

func mappingValue(n, key *yamlv3.Node) *yamlv3.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i] == key {
			return n.Content[i+1]
		}
	}
	return nil
}
