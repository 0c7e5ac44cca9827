package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// routesLine matches the demo table's line of the proxy's route counts (the routes of
// examples/mesh/greeter-metarouter.yaml).
var routesLine = regexp.MustCompile(`routes\s+default (\d+) · say-hi (\d+) · v2-callers (\d+)`)

// startedLine matches the demo's report of a process it started and its port.
var startedLine = regexp.MustCompile(`started (greeter v1|greeter v2|breeze control|breeze proxy) on 127\.0\.0\.1:(\d+)`)

// helloRow matches the table row of sayHello calls on route default: sent, from v1, from
// v2, errors, and where they go now.
var helloRow = regexp.MustCompile(`sayHello  version 1\.0\.0\s+default\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)`)

// totalRow matches the table's total row: sent, from v1, from v2, errors.
var totalRow = regexp.MustCompile(`total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`)

// TestBreezeDemo runs `breeze demo` as a user would: the control plane reads the mesh
// configuration (a copy of examples/mesh, given with --mesh), and the table must show
// traffic on every route of its MetaRouter. Editing the MetaRouter while it runs moves the
// default route's calls from v1 to v2 without a failed call. On Ctrl-C (SIGINT) the demo
// stops everything it started and exits cleanly.
func TestBreezeDemo(t *testing.T) {
	requireE2E(t)
	meshDir := t.TempDir()
	if err := os.CopyFS(meshDir, os.DirFS(filepath.Join("..", "..", "examples", "mesh"))); err != nil {
		t.Fatal(err)
	}
	demo := startChild(t, "breeze demo", exec.Command(binaries.breeze, "demo", "--mesh", meshDir), "the proxy's count")

	waitFor(t, "traffic on every route in the demo's table", func() error {
		demo.alive(t)
		all := routesLine.FindAllStringSubmatch(demo.output.String(), -1)
		if len(all) == 0 {
			return fmt.Errorf("no routes line yet")
		}
		last := all[len(all)-1]
		for _, n := range last[1:] {
			if n == "0" {
				return fmt.Errorf("a route has no traffic yet: %q", last[0])
			}
		}
		return nil
	})

	// Send the default route to v2, as a user editing the file would (a new file renamed
	// over the old one, as editors save).
	routerPath := filepath.Join(meshDir, "greeter-metarouter.yaml")
	router, err := os.ReadFile(routerPath)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(router, []byte("  - name: default"))
	if i < 0 {
		t.Fatalf("no default route in %s", routerPath)
	}
	edited := append(slices.Clone(router[:i]), bytes.ReplaceAll(router[i:], []byte("subset: v1"), []byte("subset: v2"))...)
	if err := os.WriteFile(routerPath+".new", edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(routerPath+".new", routerPath); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the default route's calls moved to v2 in the table", func() error {
		demo.alive(t)
		all := helloRow.FindAllStringSubmatch(demo.output.String(), -1)
		if len(all) == 0 {
			return fmt.Errorf("no sayHello row yet")
		}
		if last := all[len(all)-1]; strings.TrimSpace(last[5]) != "v2 100%" {
			return fmt.Errorf("row %q", last[0])
		}
		return nil
	})
	totals := totalRow.FindAllStringSubmatch(demo.output.String(), -1)
	if len(totals) == 0 || totals[len(totals)-1][4] != "0" {
		t.Errorf("the demo's client saw failed calls: %v", totals[len(totals)-1:])
	}

	ports := map[string]int{}
	for _, m := range startedLine.FindAllStringSubmatch(demo.output.String(), -1) {
		port, _ := strconv.Atoi(m[2])
		ports[m[1]] = port
	}
	if len(ports) != 4 {
		t.Fatalf("the demo reported starting %v, want greeter v1, greeter v2, breeze control and breeze proxy", ports)
	}

	if err := demo.signal(t, os.Interrupt); err != nil {
		t.Fatalf("breeze demo after Ctrl-C: %v\n%s", err, demo.output)
	}
	out := demo.output.String()
	for _, want := range []string{"stopping the client", "stopping proxy", "stopping control plane", "stopping greeter v1", "stopping greeter v2", "removing"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's shutdown does not say %q:\n%s", want, out)
		}
	}
	for name, port := range ports {
		if c, err := net.DialTimeout("tcp", loopback(port), time.Second); err == nil {
			c.Close()
			t.Errorf("%s's port %d still accepts connections after the demo exited", name, port)
		}
	}
}
