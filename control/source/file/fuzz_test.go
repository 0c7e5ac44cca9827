package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseFile feeds arbitrary bytes to the document parser: it must never panic, and a
// document it accepts must carry a kind, a name and a spec. The seeds are the example
// configuration and the translation test cases.
func FuzzParseFile(f *testing.F) {
	for _, pattern := range []string{"../../../examples/mesh/*.yaml", "../../translate/testdata/*/config/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(goodRouter))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range parseFile("fuzz.yaml", data) {
			if p.obj == nil {
				continue
			}
			if p.obj.Kind == "" || p.obj.Name == "" || p.obj.Spec == nil {
				t.Fatalf("accepted an object without kind, name or spec: %+v", p.obj)
			}
		}
	})
}

// TestAliasBomb: aliases multiply what the decoder walks (here 1000 routes of 1000
// destinations each, in a few kilobytes); decoding stops at a bound with an error instead of
// walking them all.
func TestAliasBomb(t *testing.T) {
	doc := `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: bomb, namespace: ns}
spec:
  hosts: [a]
  routes:
  - &r1
    route: [` + strings.Repeat("&d0 {destination: {host: a}}, ", 1) + strings.Repeat("*d0, ", 998) + `*d0]
` + strings.Repeat("  - *r1\n", 999)
	parsed := parseFile("bomb.yaml", []byte(doc))
	if len(parsed) != 1 || parsed[0].obj != nil {
		t.Fatalf("parsed = %+v", parsed)
	}
	found := false
	for _, p := range parsed[0].problems {
		found = found || strings.Contains(p.Message, "expands to more than")
	}
	if !found {
		t.Errorf("problems = %v", parsed[0].problems)
	}
}
