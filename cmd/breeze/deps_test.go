package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoDubboGoInBinary keeps dubbo-go out of the breeze binary. Every sidecar is this
// binary, and dubbo-go's network layer (github.com/apache/dubbo-getty) starts a
// process-wide timer wheel (github.com/dubbogo/gost/time) from an init function: linked in,
// it costs every idle proxy about 1% of a core and ~480 context switches a second. `breeze
// demo` therefore runs its Dubbo servers and client on examples/dubbo/hessiangreeter, not
// on dubbo-go; the end-to-end tests keep using the real dubbo-go (examples/dubbo/greeter)
// from their own processes.
//
// Of the github.com/dubbogo modules only the two gost packages that
// github.com/apache/dubbo-go-hessian2 itself imports are allowed (a buffer pool and big
// decimals; neither starts anything): anything else from there is new weight to look at.
func TestNoDubboGoInBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/dubbogo/gost/bytes":    true,
		"github.com/dubbogo/gost/math/big": true,
	}
	forbidden := []string{"dubbo.apache.org/", "github.com/apache/dubbo-getty", "github.com/dubbogo/"}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !slices.Contains(deps, "github.com/breeze-mesh/breeze/examples/demo") {
		t.Fatalf("go list -deps printed %d packages without examples/demo; is this cmd/breeze?", len(deps))
	}
	for _, pkg := range deps {
		if allowed[pkg] {
			continue
		}
		for _, prefix := range forbidden {
			if strings.HasPrefix(pkg, prefix) {
				t.Errorf("cmd/breeze depends on %s (run `go list -deps ./cmd/breeze` and see which package imports it)", pkg)
			}
		}
	}
}
