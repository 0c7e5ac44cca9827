package bootstrap

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/breeze-mesh/breeze/internal/suggest"
)

// fieldChecker walks the decoded document against the proto descriptors before protojson
// sees it. protojson stops at the first problem and names it by its JSON offset; the checker
// reports every unknown field, unknown type and wrongly shaped value with its path and,
// where it can, the name that was probably meant.
type fieldChecker struct {
	types *protoregistry.Types
	problemList
}

// specialJSON are the google.protobuf messages with a JSON form of their own. Inside an Any,
// their JSON sits under a "value" member.
var specialJSON = map[protoreflect.FullName]bool{
	"google.protobuf.Any": true, "google.protobuf.Duration": true, "google.protobuf.Timestamp": true,
	"google.protobuf.FieldMask": true, "google.protobuf.Struct": true, "google.protobuf.Value": true,
	"google.protobuf.ListValue": true, "google.protobuf.Empty": true,
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true,
	"google.protobuf.Int64Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value": true, "google.protobuf.UInt32Value": true,
	"google.protobuf.BoolValue": true, "google.protobuf.StringValue": true,
	"google.protobuf.BytesValue": true,
}

// message checks v as the JSON form of a message of type md.
func (c *fieldChecker) message(path string, md protoreflect.MessageDescriptor, v any) {
	if v == nil || c.full() {
		return // protojson reads null as "unset"; a full list has said enough
	}
	if specialJSON[md.FullName()] {
		c.wellKnown(path, md, v)
		return
	}
	obj, ok := v.(*object)
	if !ok {
		c.report(path, "expected a mapping (a %s), got %s", md.Name(), describe(v))
		return
	}
	c.members(path, md, obj.members)
}

// members checks an object's members as the fields of md.
func (c *fieldChecker) members(path string, md protoreflect.MessageDescriptor, members []member) {
	setAs := map[protoreflect.FieldNumber]string{}
	oneofSetBy := map[protoreflect.FullName]string{}
	for _, m := range members {
		fp := field(path, m.key)
		fd := md.Fields().ByJSONName(m.key)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(m.key))
		}
		if fd == nil {
			c.report(fp, "unknown field%s", unknownFieldHint(md, m.key))
			continue
		}
		if prev, dup := setAs[fd.Number()]; dup {
			c.report(fp, "set twice (also as %q)", prev)
			continue
		}
		setAs[fd.Number()] = m.key
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && m.value != nil {
			if prev, set := oneofSetBy[od.FullName()]; set {
				c.report(fp, "cannot be set together with %q (only one of %s)", prev, oneofFieldNames(od))
				continue
			}
			oneofSetBy[od.FullName()] = m.key
		}
		c.field(fp, fd, m.value)
	}
}

// unknownFieldHint suggests the field that was probably meant or, failing that, lists the
// fields Breeze supports in this message.
func unknownFieldHint(md protoreflect.MessageDescriptor, key string) string {
	var names []string
	for i := 0; i < md.Fields().Len(); i++ {
		names = append(names, string(md.Fields().Get(i).Name()))
	}
	if guess := suggest.Closest(key, names); guess != "" {
		return fmt.Sprintf(" (did you mean %q?)", guess)
	}
	if rule, ok := allowList()[md.FullName()]; ok {
		return fmt.Sprintf(" (supported fields here: %s)", rule.names())
	}
	if len(names) <= 12 {
		return fmt.Sprintf(" (fields here: %s)", strings.Join(names, ", "))
	}
	return ""
}

func oneofFieldNames(od protoreflect.OneofDescriptor) string {
	names := make([]string, od.Fields().Len())
	for i := range names {
		names[i] = string(od.Fields().Get(i).Name())
	}
	return strings.Join(names, ", ")
}

// field checks the value of one field: a map, a list, or a single value.
func (c *fieldChecker) field(path string, fd protoreflect.FieldDescriptor, v any) {
	if v == nil {
		return
	}
	switch {
	case fd.IsMap():
		obj, ok := v.(*object)
		if !ok {
			c.report(path, "expected a mapping, got %s", describe(v))
			return
		}
		for _, m := range obj.members {
			c.mapKey(field(path, m.key), fd.MapKey(), m.key)
			c.single(field(path, m.key), fd.MapValue(), m.value)
		}
	case fd.IsList():
		list, ok := v.([]any)
		if !ok {
			c.report(path, "expected a list, got %s", describe(v))
			return
		}
		for i, x := range list {
			if x == nil && (fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Value") {
				c.report(elem(path, i), "null is not allowed in a list")
				continue
			}
			c.single(elem(path, i), fd, x)
		}
	default:
		c.single(path, fd, v)
	}
}

func (c *fieldChecker) mapKey(path string, fd protoreflect.FieldDescriptor, key string) {
	switch fd.Kind() {
	case protoreflect.StringKind:
	case protoreflect.BoolKind:
		if key != "true" && key != "false" {
			c.report(path, "map key must be true or false")
		}
	default:
		c.integer(path, fd.Kind(), json.Number(key))
	}
}

// single checks one value (not a list or map) of field fd.
func (c *fieldChecker) single(path string, fd protoreflect.FieldDescriptor, v any) {
	if v == nil {
		return
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		c.message(path, fd.Message(), v)
	case protoreflect.EnumKind:
		c.enum(path, fd.Enum(), v)
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			c.report(path, "expected true or false, got %s", describe(v))
		}
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			c.report(path, "expected a string, got %s (quote it)", describe(v))
		}
	case protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			c.report(path, "expected base64-encoded bytes as a string, got %s", describe(v))
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		c.float(path, v)
	default:
		c.integer(path, fd.Kind(), v)
	}
}

func (c *fieldChecker) enum(path string, ed protoreflect.EnumDescriptor, v any) {
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		names = append(names, string(ed.Values().Get(i).Name()))
	}
	switch t := v.(type) {
	case string:
		if ed.Values().ByName(protoreflect.Name(t)) != nil {
			return
		}
		if guess := suggest.Closest(t, names); guess != "" {
			c.report(path, "unknown value %q (did you mean %q?)", t, guess)
			return
		}
		c.report(path, "unknown value %q (values: %s)", t, strings.Join(names, ", "))
	case json.Number:
		c.integer(path, protoreflect.Int32Kind, t)
	default:
		c.report(path, "expected one of %s, got %s", strings.Join(names, ", "), describe(v))
	}
}

// integer checks an integer field: protojson takes a number or a string holding one.
func (c *fieldChecker) integer(path string, kind protoreflect.Kind, v any) {
	var text string
	switch t := v.(type) {
	case json.Number:
		text = t.String()
	case string:
		text = t
	default:
		c.report(path, "expected an integer, got %s", describe(v))
		return
	}
	var lo, hi float64
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		lo, hi = math.MinInt32, math.MaxInt32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		lo, hi = 0, math.MaxUint32
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		lo, hi = 0, math.MaxUint64
	default:
		lo, hi = math.MinInt64, math.MaxInt64
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || f < lo || f > hi {
		c.report(path, "expected an integer from %.0f to %.0f, got %s", lo, hi, describe(v))
	}
}

func (c *fieldChecker) float(path string, v any) {
	switch t := v.(type) {
	case json.Number:
		return
	case string:
		if t == "NaN" || t == "Infinity" || t == "-Infinity" {
			return
		}
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return
		}
	}
	c.report(path, "expected a number, got %s", describe(v))
}

// protoDuration is the JSON form protojson accepts for google.protobuf.Duration.
var protoDuration = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,9})?s$`)

// wellKnown checks the JSON forms of google.protobuf's special messages.
func (c *fieldChecker) wellKnown(path string, md protoreflect.MessageDescriptor, v any) {
	switch md.FullName() {
	case "google.protobuf.Any":
		c.anyValue(path, v)
	case "google.protobuf.Duration":
		c.duration(path, v)
	case "google.protobuf.Timestamp", "google.protobuf.FieldMask":
		if _, ok := v.(string); !ok {
			c.report(path, "expected a string, got %s", describe(v))
		}
	case "google.protobuf.Struct", "google.protobuf.Empty":
		obj, ok := v.(*object)
		if !ok {
			c.report(path, "expected a mapping, got %s", describe(v))
			return
		}
		if md.FullName() == "google.protobuf.Empty" && len(obj.members) > 0 {
			c.report(field(path, obj.members[0].key), "unknown field (this message has no fields; write {})")
		}
	case "google.protobuf.ListValue":
		if _, ok := v.([]any); !ok {
			c.report(path, "expected a list, got %s", describe(v))
		}
	case "google.protobuf.Value":
		// Any JSON value.
	default:
		// A wrapper (UInt32Value, BoolValue, ...): written as its bare value.
		c.single(path, md.Fields().ByName("value"), v)
	}
}

func (c *fieldChecker) duration(path string, v any) {
	s, ok := v.(string)
	if !ok {
		c.report(path, `expected a duration such as "5s", got %s`, describe(v))
		return
	}
	if protoDuration.MatchString(s) {
		return
	}
	if d, err := time.ParseDuration(s); err == nil {
		c.report(path, "invalid duration %q (write it in seconds: %q)", s, strconv.FormatFloat(d.Seconds(), 'f', -1, 64)+"s")
		return
	}
	c.report(path, `invalid duration %q (write seconds with an "s" suffix, e.g. "5s" or "0.25s")`, s)
}

// anyValue checks a google.protobuf.Any: an "@type" naming a known message, and the
// message's fields (or, for a well-known type, its JSON under "value").
func (c *fieldChecker) anyValue(path string, v any) {
	obj, ok := v.(*object)
	if !ok {
		c.report(path, `expected a mapping with an "@type", got %s`, describe(v))
		return
	}
	var typeURL any
	rest := make([]member, 0, len(obj.members))
	for _, m := range obj.members {
		if m.key == "@type" {
			typeURL = m.value
		} else {
			rest = append(rest, m)
		}
	}
	url, ok := typeURL.(string)
	if !ok {
		if typeURL == nil {
			c.report(path, `missing "@type" (e.g. "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy)`)
		} else {
			c.report(field(path, "@type"), "expected a type URL string, got %s", describe(typeURL))
		}
		return
	}
	mt, err := c.types.FindMessageByURL(url)
	if err != nil {
		c.report(field(path, "@type"), "unknown type %q%s", url, c.unknownTypeHint(url))
		return
	}
	md := mt.Descriptor()
	if !specialJSON[md.FullName()] {
		c.members(path, md, rest)
		return
	}
	for _, m := range rest {
		if m.key != "value" {
			c.report(field(path, m.key), `unknown field (a %s inside an Any is written under "value")`, md.FullName())
			continue
		}
		c.message(field(path, "value"), md, m.value)
	}
}

// unknownTypeHint suggests a registered message whose type URL is close to url.
func (c *fieldChecker) unknownTypeHint(url string) string {
	prefix, name := "type.googleapis.com/", url
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		prefix, name = url[:i+1], url[i+1:]
	}
	var candidates []string
	c.types.RangeMessages(func(mt protoreflect.MessageType) bool {
		candidates = append(candidates, string(mt.Descriptor().FullName()))
		return true
	})
	if guess := suggest.Closest(name, candidates); guess != "" {
		return fmt.Sprintf(" (did you mean %q?)", prefix+guess)
	}
	return ""
}
