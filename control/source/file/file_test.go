package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	aerakiv1alpha1 "github.com/breeze-mesh/breeze/api/aeraki/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
)

const goodRouter = `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: greeter, namespace: dubbo}
spec:
  hosts: [greeter.dubbo.svc.cluster.local]
  routes:
  - name: v1
    match: {attributes: {method: {exact: sayHello}}}
    route: [{destination: {host: greeter.dubbo.svc.cluster.local, subset: v1}}]
    timeout: 1.5s
`

const goodService = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: dubbo}
spec:
  hosts: [greeter.dubbo.svc.cluster.local]
  ports: [{number: 20880, name: tcp-metaprotocol-dubbo}]
  resolution: STATIC
`

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func problemLines(ps config.Problems) string {
	var lines []string
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

func TestLoadDecodesEveryKind(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", goodRouter+"---\n"+goodService)
	write(t, dir, "sub/b.yml", `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: ApplicationProtocol
metadata: {name: brpc}
spec: {protocol: brpc, codec: aeraki.meta_protocol.codec.brpc}
`)
	write(t, dir, "notes.txt", "not configuration")
	write(t, dir, ".hidden/c.yaml", "garbage: [")

	objs, problems := New(dir).Load()
	if len(problems) > 0 {
		t.Fatalf("problems:\n%s", problemLines(problems))
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key())
	}
	want := "ApplicationProtocol//brpc MetaRouter/dubbo/greeter ServiceEntry/dubbo/greeter"
	if got := strings.Join(keys, " "); got != want {
		t.Fatalf("objects = %s, want %s", got, want)
	}
	mr := objs[1].MetaRouter()
	if mr.Routes[0].Timeout.Duration != 1500*time.Millisecond || mr.Routes[0].Match.Attributes["method"].Exact != "sayHello" {
		t.Errorf("MetaRouter decoded as %+v", mr.Routes[0])
	}
	if line := objs[1].Origin.LineOf("spec.routes[0].timeout"); line != 10 {
		t.Errorf("line of spec.routes[0].timeout = %d, want 10", line)
	}
	if se := objs[2].ServiceEntry(); se.GetPorts()[0].GetNumber() != 20880 {
		t.Errorf("ServiceEntry decoded as %v", se)
	}
}

func TestProblemsNameFileLineFieldAndHint(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field", strings.Replace(goodRouter, "routes:", "rotues:", 1),
			`x.yaml:6: MetaRouter dubbo/greeter: spec.rotues: unknown field; hint: did you mean "routes"?`},
		{"number for a string", strings.Replace(goodRouter, "exact: sayHello", "exact: 2.0", 1),
			`x.yaml:8: MetaRouter dubbo/greeter: spec.routes[0].match.attributes.method.exact: must be a string, got the number 2.0; hint: quote it: "2.0"`},
		{"bad duration", strings.Replace(goodRouter, "1.5s", "soon", 1),
			`x.yaml:10: MetaRouter dubbo/greeter: spec.routes[0].timeout: invalid duration "soon"`},
		{"enum typo", strings.Replace(goodService, "STATIC", "STATIK", 1),
			`x.yaml:7: ServiceEntry dubbo/greeter: spec.resolution: unknown value "STATIK"; hint: did you mean "STATIC"?`},
		{"port out of range", strings.Replace(goodService, "20880", "-1", 1),
			`x.yaml:6: ServiceEntry dubbo/greeter: spec.ports[0].number: must be a whole number from 0 to 4294967295, got the number -1`},
		{"kind typo", strings.Replace(goodRouter, "kind: MetaRouter", "kind: MetaRoute", 1),
			`x.yaml:2: kind: unknown kind "MetaRoute"; hint: did you mean "MetaRouter"?`},
		{"wrong apiVersion", strings.Replace(goodRouter, "metaprotocol.aeraki.io/v1alpha1", "networking.istio.io/v1", 1),
			`x.yaml:1: apiVersion: networking.istio.io/v1 is not an apiVersion of MetaRouter; hint: use metaprotocol.aeraki.io/v1alpha1`},
		{"no name", strings.Replace(goodRouter, "name: greeter, ", "", 1),
			`x.yaml:3: metadata.name: required`},
		{"duplicate key", goodRouter + "  hosts: [x]\n",
			`x.yaml:11: MetaRouter dubbo/greeter: spec.hosts: key "hosts" appears twice; hint: remove one of them`},
		{"syntax", "a: [\n", `x.yaml:1: invalid YAML: did not find expected node content`},
		{"not a mapping", "- a\n- b\n", `x.yaml:1: must be a Kubernetes-style object (apiVersion, kind, metadata, spec), got a list`},
		{"oneof", strings.Replace(goodService, "resolution: STATIC", "resolution: STATIC\n  exportTo: [a]\n  workloadSelector: {labels: {a: b}, bad: 1}", 1),
			`x.yaml:9: ServiceEntry dubbo/greeter: spec.workloadSelector.bad: unknown field; hint: valid fields here: labels`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var problems config.Problems
			for _, p := range parseFile("x.yaml", []byte(tc.doc)) {
				problems = append(problems, p.problems...)
			}
			if got := problemLines(problems); !strings.Contains(got, tc.want) {
				t.Errorf("problems:\n%s\nwant a line containing:\n%s", got, tc.want)
			}
		})
	}
}

// TestBadDocumentLeavesTheOthers: one broken document does not take the other documents of
// its file, or the other files, with it; once a document was valid, its last valid version
// stays in effect while it is broken.
func TestBadDocumentLeavesTheOthers(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "router.yaml", goodRouter)
	write(t, dir, "service.yaml", goodService)
	src := New(dir)
	if objs, problems := src.Load(); len(objs) != 2 || len(problems) > 0 {
		t.Fatalf("first load: %d objects, problems:\n%s", len(objs), problemLines(problems))
	}

	broken := strings.Replace(goodRouter, "subset: v1", "subset: [v1]", 1)
	write(t, dir, "router.yaml", broken+"---\n"+strings.Replace(goodRouter, "name: greeter,", "name: second,", 1))
	objs, problems := src.Load()
	if len(objs) != 3 {
		t.Fatalf("objects = %d, want 3 (the service, the second router, the first router's last valid version)", len(objs))
	}
	lines := problemLines(problems)
	for _, want := range []string{
		`router.yaml:9: MetaRouter dubbo/greeter: spec.routes[0].route[0].destination.subset: must be a string, got a list`,
		`router.yaml:1: warning: MetaRouter dubbo/greeter: its last valid version stays in effect until its errors are fixed`,
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("problems:\n%s\nwant:\n%s", lines, want)
		}
	}
	for _, o := range objs {
		if o.Name == "greeter" && o.Kind == config.KindMetaRouter && o.MetaRouter().Routes[0].Route[0].Destination.Subset != "v1" {
			t.Errorf("the kept version is not the last valid one: %+v", o.MetaRouter())
		}
	}

	// Removing the file removes its objects, last valid versions included.
	if err := os.Remove(filepath.Join(dir, "router.yaml")); err != nil {
		t.Fatal(err)
	}
	if objs, _ := src.Load(); len(objs) != 1 {
		t.Errorf("after removing the file: %d objects, want 1", len(objs))
	}
}

func TestDuplicateObjectsAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", goodRouter)
	write(t, dir, "b.yaml", goodRouter)
	objs, problems := New(dir).Load()
	if len(objs) != 1 || objs[0].Origin.File != filepath.Join(dir, "a.yaml") {
		t.Fatalf("objects = %v, want the one from a.yaml", objs)
	}
	if want := "b.yaml:1: MetaRouter dubbo/greeter: metadata.name: also defined at "; !strings.Contains(problemLines(problems), want) {
		t.Errorf("problems:\n%s\nwant %q", problemLines(problems), want)
	}
}

func TestMissingPathAndOversizedFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "big.yaml", strings.Repeat("#", MaxFileSize+1))
	_, problems := New(filepath.Join(dir, "nope"), dir).Load()
	lines := problemLines(problems)
	for _, want := range []string{"nope: cannot read: no such file or directory", "big.yaml: the file is larger than 16 MiB"} {
		if !strings.Contains(lines, want) {
			t.Errorf("problems:\n%s\nwant %q", lines, want)
		}
	}
}

// TestWatchSeesChanges: the start of watching, creating a directory, writing into it and
// renaming a file all wake the watcher.
func TestWatchSeesChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "router.yaml", goodRouter)
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() {
		done <- New(dir).Watch(ctx, func() { changed <- struct{}{} })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(20 * time.Second):
			t.Fatalf("no change seen after %s", what)
		}
		for len(changed) > 0 {
			<-changed
		}
	}
	// Watch reports once when its watches are in place.
	wait("starting")
	if err := os.MkdirAll(filepath.Join(dir, "team"), 0o755); err != nil {
		t.Fatal(err)
	}
	wait("creating a directory")
	write(t, dir, "team/service.yaml", goodService)
	wait("writing into the new directory")
	if err := os.Rename(filepath.Join(dir, "team/service.yaml"), filepath.Join(dir, "service.yaml")); err != nil {
		t.Fatal(err)
	}
	wait("renaming")
}

func TestDurationForms(t *testing.T) {
	for in, want := range map[string]time.Duration{"1s": time.Second, "0.25s": 250 * time.Millisecond, "100ms": 100 * time.Millisecond, "1m30s": 90 * time.Second} {
		var d aerakiv1alpha1.Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || d.Duration != want {
			t.Errorf("%q = %v, %v; want %v", in, d.Duration, err, want)
		}
	}
	var d aerakiv1alpha1.Duration
	if err := d.UnmarshalText([]byte("-1s")); err == nil {
		t.Error("a negative duration was accepted")
	}
}
