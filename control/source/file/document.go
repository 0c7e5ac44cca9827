package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	yaml "gopkg.in/yaml.v3"
	networkingv1 "istio.io/api/networking/v1"

	aerakiv1alpha1 "github.com/breeze-mesh/breeze/api/aeraki/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/internal/suggest"
)

// kindInfo says how to read one kind of object.
type kindInfo struct {
	apiVersions []string
	namespaced  bool
	newSpec     func() any
}

var istioVersions = []string{"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"}

var kinds = map[string]kindInfo{
	config.KindServiceEntry:    {istioVersions, true, func() any { return &networkingv1.ServiceEntry{} }},
	config.KindWorkloadEntry:   {istioVersions, true, func() any { return &networkingv1.WorkloadEntry{} }},
	config.KindDestinationRule: {istioVersions, true, func() any { return &networkingv1.DestinationRule{} }},
	config.KindMetaRouter: {[]string{aerakiv1alpha1.APIVersion}, true,
		func() any { return &aerakiv1alpha1.MetaRouterSpec{} }},
	config.KindApplicationProtocol: {[]string{aerakiv1alpha1.APIVersion}, false,
		func() any { return &aerakiv1alpha1.ApplicationProtocolSpec{} }},
}

func kindNames() []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// ownGroups are the API groups whose every kind Breeze should know: an unknown kind there is
// a typo, not someone else's object.
var ownGroups = []string{aerakiv1alpha1.GroupName}

// metadataIgnored are the metadata fields Kubernetes fills in (kubectl get -o yaml writes
// them); they are accepted and ignored so such output can be used as it is.
var metadataIgnored = []string{"uid", "resourceVersion", "generation", "creationTimestamp",
	"managedFields", "ownerReferences", "finalizers", "generateName", "selfLink",
	"deletionTimestamp", "deletionGracePeriodSeconds"}

// DefaultNamespace is the namespace of a namespaced object whose metadata names none, as
// with kubectl apply.
const DefaultNamespace = "default"

// parsed is the outcome of reading one document.
type parsed struct {
	obj *config.Object // nil when the document could not be used
	// key identifies the object when the envelope could be read, even if its spec could
	// not; it lets the source keep the last valid version.
	key      string
	problems config.Problems
}

// parseFile splits a file into YAML documents and decodes each one.
func parseFile(name string, data []byte) []parsed {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []parsed
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			// A syntax error ends the file: the parser cannot find the next document.
			out = append(out, parsed{problems: config.Problems{syntaxProblem(name, err)}})
			return out
		}
		if len(doc.Content) == 0 {
			continue // an empty document between two "---"
		}
		if p, ok := parseDocument(name, doc.Content[0]); ok {
			out = append(out, p)
		}
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxProblem turns a yaml.v3 error ("yaml: line 7: did not find expected key") into a
// problem with the line.
func syntaxProblem(file string, err error) config.Problem {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return config.Problem{Severity: config.Error, File: file, Line: line, Message: "invalid YAML: " + msg,
		Hint: "check the indentation and quoting around this line"}
}

// parseDocument reads one document's envelope and spec. ok is false for a document that is
// skipped on purpose (a kind Breeze does not read).
func parseDocument(file string, root *yaml.Node) (parsed, bool) {
	d := newDecoder()
	var out parsed
	finish := func() parsed {
		out.problems = append(out.problems, d.fileProblems(file, out.obj)...)
		if d.failed() {
			out.obj = nil
		}
		return out
	}

	root = d.visit(root, "")
	if root == nil {
		return out, false
	}
	pairs, ok := d.mapping(root, "", "a Kubernetes-style object (apiVersion, kind, metadata, spec)")
	if !ok {
		return finish(), true
	}
	fields := map[string]*yaml.Node{}
	for _, kv := range pairs {
		switch kv.key {
		case "apiVersion", "kind", "metadata", "spec":
			fields[kv.key] = kv.value
		case "status":
			// Written by controllers; not configuration.
		default:
			d.unknownField(kv, "", []string{"apiVersion", "kind", "metadata", "spec"})
		}
	}

	kind, _ := d.stringField(fields["kind"], root, "kind")
	apiVersion, _ := d.stringField(fields["apiVersion"], root, "apiVersion")
	if kind == "" || apiVersion == "" {
		return finish(), true
	}
	info, known := kinds[kind]
	if !known {
		group, _, _ := strings.Cut(apiVersion, "/")
		if s := suggest.Closest(kind, kindNames()); s != "" || slices.Contains(ownGroups, group) {
			hint := "Breeze reads " + strings.Join(kindNames(), ", ")
			if s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			}
			d.errorf(fields["kind"], "kind", hint, "unknown kind %q", kind)
			return finish(), true
		}
		// Someone else's object (a Deployment, a VirtualService) kept next to the mesh
		// config: not an error, but say that it has no effect.
		d.warnf(root, "", "Breeze reads "+strings.Join(kindNames(), ", "), "%s %s is not read by Breeze; ignored", apiVersion, kind)
		return finish(), true
	}
	if !slices.Contains(info.apiVersions, apiVersion) {
		d.errorf(fields["apiVersion"], "apiVersion", "use "+strings.Join(info.apiVersions, " or "),
			"%s is not an apiVersion of %s", apiVersion, kind)
		return finish(), true
	}

	obj := &config.Object{Kind: kind, APIVersion: apiVersion}
	d.metadata(fields["metadata"], root, obj, info.namespaced)
	if obj.Name != "" {
		out.key = obj.Key()
	}

	spec := info.newSpec()
	specNode := d.visit(fields["spec"], "spec")
	if specNode == nil {
		d.errorf(root, "spec", "", "required")
	} else if m, isProto := spec.(proto.Message); isProto {
		d.decodeProto(specNode, "spec", m)
	} else {
		d.decodeStruct(specNode, "spec", spec)
	}
	obj.Spec = spec
	obj.Origin = config.Origin{File: file, Line: root.Line, Fields: d.lines}
	out.obj = obj
	return finish(), true
}

// stringField reads a required string at the top of a document.
func (d *decoder) stringField(n, parent *yaml.Node, path string) (string, bool) {
	n = d.visit(n, path)
	if n == nil {
		d.errorf(parent, path, "", "required")
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || n.Value == "" {
		d.errorf(n, path, "", "must be a non-empty string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// metadata reads name, namespace, labels and annotations.
func (d *decoder) metadata(n, parent *yaml.Node, obj *config.Object, namespaced bool) {
	n = d.visit(n, "metadata")
	if n == nil {
		d.errorf(parent, "metadata", "add metadata: {name: ..., namespace: ...}", "required")
		return
	}
	pairs, ok := d.mapping(n, "metadata", "a mapping")
	if !ok {
		return
	}
	var nameNode *yaml.Node
	for _, kv := range pairs {
		path := config.Field("metadata", kv.key)
		switch kv.key {
		case "name":
			nameNode = kv.value
			if v, ok := d.stringField(kv.value, n, path); ok {
				if !dns1123Subdomain.MatchString(v) || len(v) > 253 {
					d.errorf(kv.value, path, "use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
						"%q is not a valid object name", v)
				}
				obj.Name = v
			}
		case "namespace":
			if v, ok := d.stringField(kv.value, n, path); ok {
				if !namespaced {
					d.warnf(kv.value, path, "remove it", "%s is cluster-scoped; the namespace is ignored", obj.Kind)
					continue
				}
				if !dns1123Label.MatchString(v) || len(v) > 63 {
					d.errorf(kv.value, path, "use lower-case letters, digits and '-', starting and ending with a letter or digit",
						"%q is not a valid namespace name", v)
				}
				obj.Namespace = v
			}
		case "labels", "annotations":
			m := map[string]string{}
			d.goValue(kv.value, path, reflectValue(&m))
			if kv.key == "labels" {
				obj.Labels = m
			} else {
				obj.Annotations = m
			}
		default:
			if slices.Contains(metadataIgnored, kv.key) {
				continue
			}
			d.unknownField(kv, "metadata", []string{"name", "namespace", "labels", "annotations"})
		}
	}
	if nameNode == nil {
		d.errorf(n, "metadata.name", "", "required")
	}
	if namespaced && obj.Namespace == "" {
		obj.Namespace = DefaultNamespace
	}
}

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// fileProblems turns the decoder's problems into config problems for the object (or for the
// file, when the envelope could not be read).
func (d *decoder) fileProblems(file string, obj *config.Object) config.Problems {
	var out config.Problems
	object := ""
	if obj != nil && obj.Name != "" {
		object = obj.String()
	}
	for _, p := range d.problems {
		out = append(out, config.Problem{Severity: p.severity, File: file, Line: p.line,
			Object: object, Field: p.path, Message: p.message, Hint: p.hint})
	}
	if d.truncated {
		out = append(out, config.Problem{Severity: config.Error, File: file, Object: object,
			Message: fmt.Sprintf("more problems in this document were not listed (the first %d are)", maxDocumentProblems)})
	}
	return out
}
