package xdscontract

import (
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// filterPackages are the proxy/filters packages a Go file imports.
func filterPackages(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p, "github.com/breeze-mesh/breeze/proxy/filters/") {
			out[p] = true
		}
	}
	return out
}

// TestBreezeProxyHasTheFilters: every filter this test registers to accept the control
// plane's listeners (the filters the control plane sends) is compiled into breeze proxy
// (cmd/breeze/filters.go), so that a proxy never receives a filter it cannot run.
func TestBreezeProxyHasTheFilters(t *testing.T) {
	sent := filterPackages(t, "contract_test.go")
	linked := filterPackages(t, "../../cmd/breeze/filters.go")
	if len(sent) == 0 || len(linked) == 0 {
		t.Fatalf("no filter imports found (sent %v, linked %v): the test reads the wrong files", sent, linked)
	}
	for p := range sent {
		if !linked[p] {
			t.Errorf("the control plane sends the filter of %s, which cmd/breeze/filters.go does not import", p)
		}
	}
}
