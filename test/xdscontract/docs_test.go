package xdscontract

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// docsRow is a row of docs/xds.md's "Fields sent" table: | `message` | `field`, `field` |.
var docsRow = regexp.MustCompile("^\\| `([A-Za-z0-9_.]+)` \\| (.*) \\|$")

// TestDocsListTheContract: the "Fields sent" table of docs/xds.md lists exactly the messages
// and fields of contractFields, so the page users read and the list the test enforces cannot
// drift apart.
func TestDocsListTheContract(t *testing.T) {
	data, err := os.ReadFile("../../docs/xds.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## Fields sent\n")
	if start < 0 {
		t.Fatal(`docs/xds.md has no "## Fields sent" section`)
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	documented := map[protoreflect.FullName][]protoreflect.Name{}
	for _, line := range strings.Split(section, "\n") {
		m := docsRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var fields []protoreflect.Name
		for _, f := range strings.Split(m[2], ",") {
			if f = strings.Trim(strings.TrimSpace(f), "`"); f != "" && f != "(none)" {
				fields = append(fields, protoreflect.Name(f))
			}
		}
		documented[protoreflect.FullName(m[1])] = fields
	}
	if len(documented) == 0 {
		t.Fatal(`no rows found in docs/xds.md's "Fields sent" table`)
	}
	for msg, fields := range contractFields {
		got, ok := documented[msg]
		if !ok {
			t.Errorf("docs/xds.md does not list %s (fields %v)", msg, fields)
			continue
		}
		if !slices.Equal(sortedNames(got), sortedNames(fields)) {
			t.Errorf("docs/xds.md lists %s fields %v, the contract has %v", msg, got, fields)
		}
	}
	for msg := range documented {
		if _, ok := contractFields[msg]; !ok {
			t.Errorf("docs/xds.md lists %s, which is not in contractFields", msg)
		}
	}
}

func sortedNames(in []protoreflect.Name) []protoreflect.Name {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}
