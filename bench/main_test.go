package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/bench/report"
)

func names(s []scenario) []string {
	var out []string
	for _, sc := range s {
		out = append(out, sc.name)
	}
	return out
}

func TestSelectScenarios(t *testing.T) {
	all := allScenarios()
	for _, tc := range []struct {
		patterns []string
		want     []string
	}{
		{[]string{"dubbo/small"}, []string{"dubbo/small/1x1", "dubbo/small/16x4", "dubbo/small/64x8"}},
		{[]string{"*/small/16x4"}, []string{"dubbo/small/16x4", "thrift/small/16x4", "brpc/small/16x4", "trpc/small/16x4", "kvrpc/small/16x4"}},
		{[]string{"idle", "open/thrift"}, []string{"open/thrift/small", "idle/dubbo"}},
	} {
		got, err := selectScenarios(all, tc.patterns)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("%v selects %v, want %v", tc.patterns, names(got), tc.want)
		}
	}
	// A prefix must end at a segment boundary, and a pattern that selects nothing is an
	// error rather than an empty run.
	if _, err := selectScenarios(all, []string{"dub"}); err == nil {
		t.Error(`"dub" selected something`)
	}
	if got, _ := selectScenarios(all, nil); len(got) != len(all) {
		t.Errorf("no pattern selects %d of %d", len(got), len(all))
	}
	// Every protocol has its closed-loop shapes; the names are unique.
	seen := map[string]bool{}
	for _, n := range names(all) {
		if seen[n] {
			t.Errorf("scenario %s listed twice", n)
		}
		seen[n] = true
	}
	for _, want := range []string{"dubbo/16KiB/64x8", "thrift/small/1x1", "open/dubbo/small", "route-change/dubbo"} {
		if !seen[want] {
			t.Errorf("no scenario %s", want)
		}
	}
}

func TestUpdateReadme(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	before := "# Title\n\nintro\n\n" + readmeBegin + "\nold table\n" + readmeEnd + "\n\nhow to\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := &report.Report{Closed: []report.Closed{{Scenario: "dubbo/small/16x4"}}}
	if err := updateReadme(path, rep, []string{"throughput.png"}, "results"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	s := string(data)
	if strings.Contains(s, "old table") || !strings.Contains(s, "| dubbo/small/16x4 |") || !strings.Contains(s, "(results/throughput.png)") {
		t.Fatalf("README after update:\n%s", s)
	}
	if !strings.HasPrefix(s, "# Title\n\nintro\n\n"+readmeBegin) || !strings.HasSuffix(s, readmeEnd+"\n\nhow to\n") {
		t.Fatalf("text outside the markers changed:\n%s", s)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(path, rep, nil, "."); err == nil {
		t.Fatal("a README without markers was accepted")
	}
}

func TestParseFlags(t *testing.T) {
	o, rest, err := parseFlags([]string{"-quick", "-open-load", "0.2,0.8", "dubbo"})
	if err != nil {
		t.Fatal(err)
	}
	if o.runs != 1 || o.idleConns != 200 || !slices.Equal(o.fractions, []float64{0.5}) || !slices.Equal(rest, []string{"dubbo"}) {
		t.Fatalf("options %+v, rest %v", o, rest)
	}
	for _, bad := range [][]string{
		{"-proxy-cmd", "envoy -c x"}, // no -proxy-addr
		{"-open-load", "0.5,seven"},  // not a number
		{"-pin", "sometimes"},        // not a mode
	} {
		if _, _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
