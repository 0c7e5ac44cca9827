package translate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
	"github.com/breeze-mesh/breeze/control/source/file"
	"github.com/breeze-mesh/breeze/control/translate"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// goldenCase is a test case directory's case.yaml.
type goldenCase struct {
	// Config lists the configuration paths, relative to the case directory.
	Config []string `json:"config"`
	// AllFeatures also writes each proxy's resources with every feature switched on.
	AllFeatures bool `json:"allFeatures"`
	// Proxies are the proxies to translate for.
	Proxies []model.Proxy `json:"proxies"`
}

// TestGolden translates every case under testdata/ and compares the model, the problems and
// each proxy's resources with the golden files next to it. Run with -update to rewrite them
// after a deliberate change, and review the diff.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*/case.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, c := range cases {
		dir := filepath.Dir(c)
		t.Run(filepath.Base(dir), func(t *testing.T) { runCase(t, dir) })
	}
}

func loadCase(t *testing.T, dir string) (goldenCase, *model.Model, config.Problems) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var gc goldenCase
	if err := yaml.UnmarshalStrict(data, &gc); err != nil {
		t.Fatalf("case.yaml: %v", err)
	}
	if len(gc.Config) == 0 {
		gc.Config = []string{"config"}
	}
	var paths []string
	for _, p := range gc.Config {
		paths = append(paths, filepath.Join(dir, p))
	}
	objs, problems := file.New(paths...).Load()
	m := model.Build(objs, model.Options{Codecs: []string{"dubbo"}})
	problems = append(problems, m.Problems...)
	problems = append(problems, translate.Dropped(m, translate.ProxyFeatures)...)
	problems.Sort()
	return gc, m, problems
}

func runCase(t *testing.T, dir string) {
	gc, m, problems := loadCase(t, dir)

	modelJSON, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	compare(t, filepath.Join(dir, "golden", "model.json"), append(modelJSON, '\n'))
	compare(t, filepath.Join(dir, "golden", "problems.txt"), []byte(problemText(problems, dir)))

	for _, p := range gc.Proxies {
		p.ApplyDefaults()
		res := translate.ForProxy(m, &p, translate.ProxyFeatures)
		if err := res.Check(); err != nil {
			t.Errorf("proxy %s: inconsistent resources:\n%v", p.ID, err)
		}
		compare(t, filepath.Join(dir, "golden", p.ID+".yaml"), dump(t, res, dir))
		if gc.AllFeatures {
			all := translate.ForProxy(m, &p, translate.AllFeatures)
			if err := all.Check(); err != nil {
				t.Errorf("proxy %s, all features: inconsistent resources:\n%v", p.ID, err)
			}
			compare(t, filepath.Join(dir, "golden", p.ID+".all-features.yaml"), dump(t, all, dir))
		}
	}
}

// problemText lists problems one per line, with paths relative to the case directory so
// that the golden files do not depend on where the test runs.
func problemText(ps config.Problems, dir string) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(strings.ReplaceAll(p.String(), dir+string(filepath.Separator), ""))
		b.WriteString("\n")
	}
	return b.String()
}

// dump writes resources as YAML, each resource in protojson's form (as Envoy's config dumps
// show them).
func dump(t *testing.T, res *translate.Resources, dir string) []byte {
	t.Helper()
	list := func(msgs []proto.Message) []json.RawMessage {
		out := []json.RawMessage{}
		for _, m := range msgs {
			b, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	doc := map[string]any{
		"listeners":       list(asMessages(res.Listeners)),
		"routes":          list(asMessages(res.Routes)),
		"clusters":        list(asMessages(res.Clusters)),
		"loadAssignments": list(asMessages(res.LoadAssignments)),
	}
	if len(res.Problems) > 0 {
		doc["problems"] = strings.Split(strings.TrimSuffix(problemText(res.Problems, dir), "\n"), "\n")
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func asMessages[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

func compare(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; run go test ./control/translate -update and review the diff.\n--- got:\n%s", path, got)
	}
}
