// Package grafana holds Breeze's Grafana dashboard (breeze.json); its test keeps the
// dashboard in step with the metrics the proxy exports.
package grafana

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/proxy/stats"
)

type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

var (
	metricName = regexp.MustCompile(`\b(?:istio|breeze|process|go)_[a-z_]+\b`)
	variable   = regexp.MustCompile(`\$(\w+)`)
)

// TestDashboardUsesExportedMetrics: every metric a panel queries is one Breeze defines (its
// name appears in the proxy's source) or one the proxy's registry serves (Go and process
// metrics), every variable a query uses is defined, and panels are well formed.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("breeze.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("breeze.json: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("breeze.json has no uid or no panels")
	}
	source := proxySource(t)
	served := map[string]bool{}
	fams, err := stats.New().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		served[f.GetName()] = true
	}
	vars := map[string]bool{"__rate_interval": true, "__interval": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}

	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, target := range p.Targets {
			if target.Expr == "" || refs[target.RefID] {
				t.Errorf("panel %q: empty query or repeated refId %q", p.Title, target.RefID)
			}
			refs[target.RefID] = true
			for _, name := range metricName.FindAllString(target.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !served[base] && !strings.Contains(source, `"`+base+`"`) {
					t.Errorf("panel %q queries %s, which Breeze does not export", p.Title, name)
				}
			}
			for _, m := range variable.FindAllStringSubmatch(target.Expr, -1) {
				if !vars[m[1]] {
					t.Errorf("panel %q uses $%s, which the dashboard does not define", p.Title, m[1])
				}
			}
		}
	}
}

// proxySource is the Go source of the proxy (non-test files), where metrics are defined.
func proxySource(t *testing.T) string {
	var b strings.Builder
	err := filepath.WalkDir("../../proxy", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		b.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
