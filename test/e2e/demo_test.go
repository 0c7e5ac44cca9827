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
	"syscall"
	"testing"
	"time"
)

// The demo table's lines of the proxy's route counts per protocol (the routes of
// examples/mesh/greeter-metarouter.yaml and thrift-greeter-metarouter.yaml), and the
// Thrift subsets line that follows its routes line.
var (
	dubboRoutesLine   = regexp.MustCompile(`dubbo\s+routes\s+default (\d+) · say-hi (\d+) · v2-callers (\d+)\n`)
	thriftRoutesLine  = regexp.MustCompile(`thrift\s+routes\s+beta (\d+) · canary (\d+) · say-hi (\d+)\n`)
	thriftSubsetsLine = regexp.MustCompile(`thrift\s+routes[^\n]*\n\s+subsets\s+v1 (\d+) · v2 (\d+)\n`)
)

// startedLine matches the demo's report of a process it started, its port and pid;
// proxyLine its report of the proxy: the Dubbo and Thrift listeners, the admin port, the pid.
var (
	startedLine = regexp.MustCompile(`started ((?:dubbo|thrift) greeter v[12]|breeze control) on 127\.0\.0\.1:(\d+) \(pid (\d+)\)`)
	proxyLine   = regexp.MustCompile(`started breeze proxy on 127\.0\.0\.1:(\d+) \(dubbo\) and 127\.0\.0\.1:(\d+) \(thrift\), admin on http://127\.0\.0\.1:(\d+) \(pid (\d+)\)`)
)

// The table rows of Dubbo sayHello calls on route default and of Thrift sayHello calls on
// route canary: sent, from v1, from v2, errors, and where they go now.
var (
	dubboHelloRow  = regexp.MustCompile(`dubbo\s+sayHello  version 1\.0\.0\s+default\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)`)
	thriftHelloRow = regexp.MustCompile(`thrift\s+sayHello\s+canary\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)`)
)

// totalRow matches the table's total row: sent, from v1, from v2, errors.
var totalRow = regexp.MustCompile(`total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`)

// TestBreezeDemo runs `breeze demo` as a user would: the control plane reads the mesh
// configuration (a copy of examples/mesh, given with --mesh), and the table must show
// Dubbo and Thrift traffic on every route of their MetaRouters, Thrift traffic on both
// versions. Editing each MetaRouter while it runs moves calls to v2 — Dubbo's default
// route by subset, Thrift's canary route by weight — without a failed call. On Ctrl-C
// (SIGINT) the demo stops everything it started, leaving no process and no port, and exits
// cleanly.
func TestBreezeDemo(t *testing.T) {
	requireE2E(t)
	meshDir := t.TempDir()
	if err := os.CopyFS(meshDir, os.DirFS(filepath.Join("..", "..", "examples", "mesh"))); err != nil {
		t.Fatal(err)
	}
	demo := startChild(t, "breeze demo", exec.Command(binaries.breeze, "demo", "--mesh", meshDir), "the proxy's count")

	waitFor(t, "traffic on every route of both protocols, and Thrift on both versions", func() error {
		demo.alive(t)
		out := demo.output.String()
		for _, re := range []*regexp.Regexp{dubboRoutesLine, thriftRoutesLine, thriftSubsetsLine} {
			all := re.FindAllStringSubmatch(out, -1)
			if len(all) == 0 {
				return fmt.Errorf("no line matching %s yet", re)
			}
			last := all[len(all)-1]
			if slices.Contains(last[1:], "0") {
				return fmt.Errorf("no traffic yet somewhere in %q", last[0])
			}
		}
		return nil
	})

	// Send Dubbo's default route to v2, as a user editing the file would (a new file
	// renamed over the old one, as editors save).
	editFile(t, filepath.Join(meshDir, "greeter-metarouter.yaml"), func(router []byte) []byte {
		i := bytes.Index(router, []byte("  - name: default"))
		if i < 0 {
			t.Fatal("no default route in greeter-metarouter.yaml")
		}
		return append(slices.Clone(router[:i]), bytes.ReplaceAll(router[i:], []byte("subset: v1"), []byte("subset: v2"))...)
	})
	waitForNow(t, demo, "Dubbo's default route", dubboHelloRow, "v2 100%")

	// Finish the Thrift canary: weights 90/10 become 0/100.
	editFile(t, filepath.Join(meshDir, "thrift-greeter-metarouter.yaml"), func(router []byte) []byte {
		i := bytes.Index(router, []byte("  - name: canary"))
		if i < 0 || !bytes.Contains(router[i:], []byte("weight: 90")) || !bytes.Contains(router[i:], []byte("weight: 10\n")) {
			t.Fatal("no canary route weighted 90/10 in thrift-greeter-metarouter.yaml")
		}
		tail := bytes.Replace(router[i:], []byte("weight: 90"), []byte("weight: 0"), 1)
		tail = bytes.Replace(tail, []byte("weight: 10\n"), []byte("weight: 100\n"), 1)
		return append(slices.Clone(router[:i]), tail...)
	})
	waitForNow(t, demo, "Thrift's canary route", thriftHelloRow, "v2 100%")

	totals := totalRow.FindAllStringSubmatch(demo.output.String(), -1)
	if len(totals) == 0 {
		t.Fatal("no total row")
	}
	if last := totals[len(totals)-1]; last[4] != "0" {
		t.Errorf("the demo's client saw failed calls: %q", last[0])
	}

	ports := map[string]int{}
	pids := map[string]int{}
	for _, m := range startedLine.FindAllStringSubmatch(demo.output.String(), -1) {
		ports[m[1]], _ = strconv.Atoi(m[2])
		pids[m[1]], _ = strconv.Atoi(m[3])
	}
	if len(ports) != 5 {
		t.Fatalf("the demo reported starting %v, want 4 greeters and breeze control", ports)
	}
	m := proxyLine.FindStringSubmatch(demo.output.String())
	if m == nil {
		t.Fatal("the demo did not report the proxy's ports")
	}
	ports["proxy dubbo listener"], _ = strconv.Atoi(m[1])
	ports["proxy thrift listener"], _ = strconv.Atoi(m[2])
	ports["proxy admin"], _ = strconv.Atoi(m[3])
	pids["breeze proxy"], _ = strconv.Atoi(m[4])

	if err := demo.signal(t, os.Interrupt); err != nil {
		t.Fatalf("breeze demo after Ctrl-C: %v\n%s", err, demo.output)
	}
	out := demo.output.String()
	for _, want := range []string{"stopping the client", "stopping proxy", "stopping control plane",
		"stopping dubbo greeter v1", "stopping dubbo greeter v2", "stopping thrift greeter v1", "stopping thrift greeter v2", "removing"} {
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
	for name, pid := range pids {
		// Signal 0 checks that a process exists; the demo reaped its children, so none
		// should be left, not even as a zombie.
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
			t.Errorf("%s (pid %d) still runs after the demo exited", name, pid)
		}
	}
}

// editFile rewrites path with edit, as an editor saves: a new file renamed over the old.
func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".new", edit(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// waitForNow waits until the last table row matching row shows want in its now column.
func waitForNow(t *testing.T, demo *child, what string, row *regexp.Regexp, want string) {
	t.Helper()
	waitFor(t, what+"'s calls moved ("+want+") in the table", func() error {
		demo.alive(t)
		all := row.FindAllStringSubmatch(demo.output.String(), -1)
		if len(all) == 0 {
			return fmt.Errorf("no row matching %s yet", row)
		}
		if last := all[len(all)-1]; strings.TrimSpace(last[5]) != want {
			return fmt.Errorf("row %q", last[0])
		}
		return nil
	})
}
