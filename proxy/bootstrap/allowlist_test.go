package bootstrap

import (
	"os"
	"regexp"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestAllowListNamesRealFields keeps the allow-list honest: every message, field, enum
// value and Any type it names exists, so a typo in the table cannot silently refuse (or
// fail to refuse) a field.
func TestAllowListNamesRealFields(t *testing.T) {
	for msgName, rule := range allowList() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(msgName)
		if err != nil {
			t.Errorf("%s: %v", msgName, err)
			continue
		}
		md, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			t.Errorf("%s is not a message", msgName)
			continue
		}
		for name, fr := range rule.fields {
			fd := md.Fields().ByName(name)
			if fd == nil {
				t.Errorf("%s has no field %q", msgName, name)
				continue
			}
			for _, v := range fr.enumValues {
				if fd.Enum() == nil || fd.Enum().Values().ByName(protoreflect.Name(v)) == nil {
					t.Errorf("%s.%s: no enum value %q", msgName, name, v)
				}
			}
			if fr.mapKeys != nil && !fd.IsMap() {
				t.Errorf("%s.%s: map keys given for a field that is not a map", msgName, name)
			}
			if fr.anyTypes != nil || fr.anyOpaque {
				if fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Any" {
					t.Errorf("%s.%s: Any types given for a field that is not an Any", msgName, name)
				}
			}
			for _, typ := range fr.anyTypes {
				if _, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ)); err != nil {
					t.Errorf("%s.%s: Any type %s: %v", msgName, name, typ, err)
				}
				if _, ok := allowList()[protoreflect.FullName(typ)]; !ok {
					t.Errorf("%s.%s: Any type %s has no entry of its own", msgName, name, typ)
				}
			}
			// A message field leads to a message that needs its own entry (or is a leaf).
			if m := fd.Message(); m != nil && !fd.IsMap() && m.ParentFile().Package() != "google.protobuf" {
				if _, ok := allowList()[m.FullName()]; !ok {
					t.Errorf("%s.%s leads to %s, which has no entry", msgName, name, m.FullName())
				}
			}
		}
	}
}

// TestDocsListEverySupportedField keeps docs/bootstrap.md in step with the allow-list.
func TestDocsListEverySupportedField(t *testing.T) {
	doc, err := os.ReadFile("../../docs/bootstrap.md")
	if err != nil {
		t.Fatal(err)
	}
	for msgName, rule := range allowList() {
		for _, name := range rule.order {
			// The name as a whole word inside a code span: `name` or `parent.name`.
			mentioned := regexp.MustCompile("`[^`]*\\b" + regexp.QuoteMeta(name) + "\\b[^`]*`")
			if !mentioned.Match(doc) {
				t.Errorf("docs/bootstrap.md does not mention `%s` (of %s)", name, msgName)
			}
		}
	}
}
