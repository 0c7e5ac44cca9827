package file

import (
	"encoding"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "gopkg.in/yaml.v3"

	"github.com/breeze-mesh/breeze/control/config"
)

// decodeStruct decodes n into v (a pointer to a Go struct with json tags, such as Aeraki's
// MetaRouterSpec), strictly: unknown fields, wrong shapes and out-of-range numbers are
// reported with their path and line, and the rest of the document is still checked.
func (d *decoder) decodeStruct(n *yaml.Node, path string, v any) {
	d.goValue(n, path, reflect.ValueOf(v).Elem())
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) goValue(n *yaml.Node, path string, v reflect.Value) {
	n = d.visit(n, path)
	if n == nil {
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshaler) {
		d.goText(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.goValue(n, path, elem.Elem())
		v.Set(elem)
	case reflect.Struct:
		d.goStruct(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "", "must be a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.goValue(item, config.Index(path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		pairs, ok := d.mapping(n, path, "a mapping")
		if !ok {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(pairs))
		for _, kv := range pairs {
			elem := reflect.New(v.Type().Elem()).Elem()
			d.goValue(kv.value, config.MapKey(path, kv.key), elem)
			m.SetMapIndex(reflect.ValueOf(kv.key).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.errorf(n, path, quoteHint(n), "must be a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := scalarBool(n)
		if !ok {
			d.errorf(n, path, "", "must be true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Uint32, reflect.Uint64:
		bits := v.Type().Bits()
		u, ok := scalarUint(n, bits)
		if !ok {
			d.errorf(n, path, "", "must be a whole number from 0 to %d, got %s", uint64(1)<<bits-1, describe(n))
			return
		}
		v.SetUint(u)
	case reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		i, ok := scalarInt(n, bits)
		if !ok {
			d.errorf(n, path, "", "must be a whole number of %d bits, got %s", bits, describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, ok := scalarFloat(n)
		if !ok {
			d.errorf(n, path, "", "must be a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "", "cannot decode a value of Go type %s (a Breeze bug)", v.Type())
	}
}

// goText decodes a scalar string through the type's UnmarshalText (durations).
func (d *decoder) goText(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		d.errorf(n, path, "write it as a string, like \"1s\"", "must be a string, got %s", describe(n))
		return
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
		d.errorf(n, path, "", "%v", err)
	}
}

func (d *decoder) goStruct(n *yaml.Node, path string, v reflect.Value) {
	pairs, ok := d.mapping(n, path, "a mapping of fields")
	if !ok {
		return
	}
	fields := structFields(v.Type())
	for _, kv := range pairs {
		idx, known := fields[kv.key]
		if !known {
			d.unknownField(kv, path, fieldNames(fields))
			continue
		}
		d.goValue(kv.value, config.Field(path, kv.key), v.Field(idx))
	}
}

// structFields maps the JSON names of a struct's fields to their indexes.
func structFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = i
	}
	return out
}

func fieldNames(fields map[string]int) []string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Scalars. YAML 1.1 spellings of booleans (yes/no) are refused: Kubernetes refuses them too.

func scalarBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, false
	}
	b, err := strconv.ParseBool(n.Value)
	return b, err == nil
}

func scalarUint(n *yaml.Node, bits int) (uint64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, false
	}
	u, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, bits)
	return u, err == nil
}

func scalarInt(n *yaml.Node, bits int) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, bits)
	return i, err == nil
}

func scalarFloat(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// reflectValue returns the settable value p points to.
func reflectValue[T any](p *T) reflect.Value { return reflect.ValueOf(p).Elem() }
