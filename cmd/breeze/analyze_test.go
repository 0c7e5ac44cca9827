package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnalyzeExamples: the shipped mesh example has no problems.
func TestAnalyzeExamples(t *testing.T) {
	var out, summary bytes.Buffer
	if failed := report(&out, &summary, analyze([]string{"../../examples/mesh"}), true); failed {
		t.Errorf("examples/mesh has problems:\n%s", out.String())
	}
}

// TestAnalyzeReportsEveryProblem: problems of several files come out together, one per
// line with file and line, and fail the check; warnings fail it only with --strict.
func TestAnalyzeReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"router.yaml": `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: r, namespace: ns}
spec:
  hosts: [nowhere.ns]
  routes: [{route: [{destination: {host: nowhere.ns}}]}]
`,
		"service.yaml": `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: s, namespace: ns}
spec:
  hosts: [s.ns]
  ports: [{number: 1, name: tcp-metaprotocol-dubbo}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
  exportTo: [".", "other"]
  subjectAltNames: []
  bogus: 1
`,
		"warn.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, summary bytes.Buffer
	if failed := report(&out, &summary, analyze([]string{dir}), false); !failed {
		t.Error("a configuration with errors passed")
	}
	text := out.String()
	for _, want := range []string{
		"router.yaml:5: MetaRouter ns/r: spec.hosts[0]: unknown host \"nowhere.ns\"",
		"service.yaml:11: ServiceEntry ns/s: spec.bogus: unknown field",
		"warn.yaml:1: warning: apps/v1 Deployment is not read by Breeze; ignored",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(summary.String(), "2 error(s), 1 warning(s)") {
		t.Errorf("summary = %q", summary.String())
	}

	os.Remove(filepath.Join(dir, "router.yaml"))
	os.Remove(filepath.Join(dir, "service.yaml"))
	out.Reset()
	if report(&out, &summary, analyze([]string{dir}), false) {
		t.Errorf("warnings alone failed the check without --strict:\n%s", out.String())
	}
	if !report(&out, &summary, analyze([]string{dir}), true) {
		t.Error("warnings did not fail the check with --strict")
	}
}
