package file

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	yaml "gopkg.in/yaml.v3"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/internal/suggest"
)

// decodeProto decodes n into m (an Istio API message), strictly, the way Kubernetes reads
// Istio's CRDs: field names in their JSON form (the proto form is accepted too, as protojson
// does), enums by name, durations as strings. Every problem is reported with its path and
// line, and the rest of the document is still checked.
func (d *decoder) decodeProto(n *yaml.Node, path string, m proto.Message) {
	n = d.visit(n, path)
	if n == nil {
		return
	}
	d.message(n, path, m.ProtoReflect())
}

func (d *decoder) message(n *yaml.Node, path string, m protoreflect.Message) {
	pairs, ok := d.mapping(n, path, "a mapping of fields")
	if !ok {
		return
	}
	md := m.Descriptor()
	fields := md.Fields()
	oneofSet := map[protoreflect.FullName]string{}
	for _, kv := range pairs {
		fd := fields.ByJSONName(kv.key)
		if fd == nil {
			fd = fields.ByTextName(kv.key)
		}
		if fd == nil {
			d.unknownField(kv, path, jsonNames(md))
			continue
		}
		fp := config.Field(path, fd.JSONName())
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if other, set := oneofSet[od.FullName()]; set {
				d.errorf(kv.keyNode, fp, "keep one of them", "%s and %s cannot both be set", other, fd.JSONName())
				continue
			}
			oneofSet[od.FullName()] = fd.JSONName()
		}
		d.field(kv.value, fp, m, fd)
	}
}

func (d *decoder) field(n *yaml.Node, path string, m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	n = d.visit(n, path)
	if n == nil {
		return
	}
	switch {
	case fd.IsMap():
		pairs, ok := d.mapping(n, path, "a mapping")
		if !ok {
			return
		}
		mp := m.Mutable(fd).Map()
		for _, kv := range pairs {
			kp := config.MapKey(path, kv.key)
			key, ok := d.mapKey(kv, kp, fd.MapKey())
			if !ok {
				continue
			}
			vn := d.visit(kv.value, kp)
			if vn == nil {
				continue
			}
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				val := mp.NewValue()
				d.message(vn, kp, val.Message())
				mp.Set(key, val)
			} else if val, ok := d.scalar(vn, kp, fd.MapValue()); ok {
				mp.Set(key, val)
			}
		}
	case fd.IsList():
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "", "must be a list, got %s", describe(n))
			return
		}
		list := m.Mutable(fd).List()
		for i, item := range n.Content {
			ip := config.Index(path, i)
			item = d.visit(item, ip)
			if item == nil {
				d.errorf(n, ip, "", "a list element must not be null")
				continue
			}
			if fd.Kind() == protoreflect.MessageKind {
				val := list.NewElement()
				if d.messageValue(item, ip, val.Message()) {
					list.Append(val)
				}
			} else if val, ok := d.scalar(item, ip, fd); ok {
				list.Append(val)
			}
		}
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		val := m.NewField(fd)
		if d.messageValue(n, path, val.Message()) {
			m.Set(fd, val)
		}
	default:
		if val, ok := d.scalar(n, path, fd); ok {
			m.Set(fd, val)
		}
	}
}

// messageValue decodes a message-typed value, handling the well-known types whose JSON form
// is a scalar. It reports whether the value is usable.
func (d *decoder) messageValue(n *yaml.Node, path string, m protoreflect.Message) bool {
	before := len(d.problems)
	switch m.Descriptor().FullName() {
	case "google.protobuf.Duration":
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.errorf(n, path, "write it as a string, like \"1s\"", "must be a duration, got %s", describe(n))
			return false
		}
		v, err := time.ParseDuration(n.Value)
		if err != nil {
			d.errorf(n, path, "", "invalid duration %q (want a number with a unit, like 1s or 250ms)", n.Value)
			return false
		}
		if v < 0 {
			d.errorf(n, path, "", "duration %q must not be negative", n.Value)
			return false
		}
		proto.Merge(m.Interface(), durationpb.New(v))
		return true
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		fd := m.Descriptor().Fields().ByName("value")
		if val, ok := d.scalar(n, path, fd); ok {
			m.Set(fd, val)
			return true
		}
		return false
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any":
		d.errorf(n, path, "", "%s fields are not supported by Breeze", m.Descriptor().FullName())
		return false
	}
	d.message(n, path, m)
	return len(d.problems) == before
}

func (d *decoder) mapKey(kv keyValue, path string, fd protoreflect.FieldDescriptor) (protoreflect.MapKey, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(kv.key).MapKey(), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		u, err := strconv.ParseUint(kv.key, 10, 32)
		if err != nil {
			d.errorf(kv.keyNode, path, "", "key must be a whole number")
			return protoreflect.MapKey{}, false
		}
		return protoreflect.ValueOfUint32(uint32(u)).MapKey(), true
	}
	d.errorf(kv.keyNode, path, "", "map keys of kind %s are not supported (a Breeze bug)", fd.Kind())
	return protoreflect.MapKey{}, false
}

// scalar decodes a scalar field value.
func (d *decoder) scalar(n *yaml.Node, path string, fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "", "must be a single value, got %s", describe(n))
		return protoreflect.Value{}, false
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if n.Tag != "!!str" {
			d.errorf(n, path, quoteHint(n), "must be a string, got %s", describe(n))
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfString(n.Value), true
	case protoreflect.BytesKind:
		b, err := base64.StdEncoding.DecodeString(n.Value)
		if n.Tag != "!!str" || err != nil {
			d.errorf(n, path, "", "must be a base64 string")
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfBytes(b), true
	case protoreflect.BoolKind:
		b, ok := scalarBool(n)
		if !ok {
			d.errorf(n, path, "", "must be true or false, got %s", describe(n))
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfBool(b), true
	case protoreflect.EnumKind:
		return d.enum(n, path, fd.Enum())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if i, ok := intOrString(n, 32); ok {
			return protoreflect.ValueOfInt32(int32(i)), true
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if i, ok := intOrString(n, 64); ok {
			return protoreflect.ValueOfInt64(i), true
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if u, ok := uintOrString(n, 32); ok {
			return protoreflect.ValueOfUint32(uint32(u)), true
		}
		d.errorf(n, path, "", "must be a whole number from 0 to 4294967295, got %s", describe(n))
		return protoreflect.Value{}, false
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if u, ok := uintOrString(n, 64); ok {
			return protoreflect.ValueOfUint64(u), true
		}
		d.errorf(n, path, "", "must be a whole number of at least 0, got %s", describe(n))
		return protoreflect.Value{}, false
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if f, ok := scalarFloat(n); ok {
			if fd.Kind() == protoreflect.FloatKind {
				return protoreflect.ValueOfFloat32(float32(f)), true
			}
			return protoreflect.ValueOfFloat64(f), true
		}
		d.errorf(n, path, "", "must be a number, got %s", describe(n))
		return protoreflect.Value{}, false
	default:
		d.errorf(n, path, "", "fields of kind %s are not supported (a Breeze bug)", fd.Kind())
		return protoreflect.Value{}, false
	}
	d.errorf(n, path, "", "must be a whole number, got %s", describe(n))
	return protoreflect.Value{}, false
}

// intOrString reads an integer; 64-bit integers may be strings, as in protojson.
func intOrString(n *yaml.Node, bits int) (int64, bool) {
	if i, ok := scalarInt(n, bits); ok {
		return i, true
	}
	if bits == 64 && n.Tag == "!!str" {
		i, err := strconv.ParseInt(n.Value, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func uintOrString(n *yaml.Node, bits int) (uint64, bool) {
	if u, ok := scalarUint(n, bits); ok {
		return u, true
	}
	if bits == 64 && n.Tag == "!!str" {
		u, err := strconv.ParseUint(n.Value, 10, 64)
		return u, err == nil
	}
	return 0, false
}

func (d *decoder) enum(n *yaml.Node, path string, ed protoreflect.EnumDescriptor) (protoreflect.Value, bool) {
	values := ed.Values()
	if n.Tag == "!!str" {
		if ev := values.ByName(protoreflect.Name(n.Value)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), true
		}
	} else if i, ok := scalarInt(n, 32); ok {
		if ev := values.ByNumber(protoreflect.EnumNumber(i)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), true
		}
	}
	names := make([]string, values.Len())
	for i := range names {
		names[i] = string(values.Get(i).Name())
	}
	hint := "valid values: " + strings.Join(names, ", ")
	if s := suggest.Closest(n.Value, names); s != "" {
		hint = "did you mean " + strconv.Quote(s) + "?"
	}
	d.errorf(n, path, hint, "unknown value %q", n.Value)
	return protoreflect.Value{}, false
}

// jsonNames lists the JSON names of a message's fields, for hints.
func jsonNames(md protoreflect.MessageDescriptor) []string {
	fields := md.Fields()
	names := make([]string, fields.Len())
	for i := range names {
		names[i] = fields.Get(i).JSONName()
	}
	return names
}
