package translate_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// meshKinds recognises a file holding objects the control plane reads.
var meshKinds = regexp.MustCompile(`(?m)^apiVersion:\s*(metaprotocol\.aeraki\.io|networking\.istio\.io)/`)

// TestEveryExampleHasAGoldenCase: each directory under examples/ that holds mesh
// configuration is translated by a golden case, so that an example cannot break unnoticed.
func TestEveryExampleHasAGoldenCase(t *testing.T) {
	const examples = "../../examples"
	var cases strings.Builder
	caseFiles, _ := filepath.Glob("testdata/*/case.yaml")
	for _, c := range caseFiles {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		cases.Write(data)
	}
	found := 0
	err := filepath.WalkDir(examples, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil || !meshKinds.Match(data) {
			return err
		}
		found++
		dir, _ := filepath.Rel(examples, filepath.Dir(path))
		if !strings.Contains(cases.String(), "examples/"+filepath.ToSlash(dir)) {
			t.Errorf("%s holds mesh configuration but no testdata/*/case.yaml translates examples/%s", path, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no mesh configuration found under examples/: the test looks in the wrong place")
	}
}
