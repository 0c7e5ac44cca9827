package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// routesLine matches the demo table's line of the proxy's route counts.
var routesLine = regexp.MustCompile(`routes\s+default (\d+) · hi-to-v2 (\d+) · to-v2 (\d+)`)

// startedLine matches the demo's report of a process it started and its port.
var startedLine = regexp.MustCompile(`started (greeter v1|greeter v2|breeze proxy) on 127\.0\.0\.1:(\d+)`)

// TestBreezeDemo runs `breeze demo` as a user would: it must show traffic on every route
// of its bootstrap, then stop everything it started on Ctrl-C (SIGINT) and exit cleanly.
func TestBreezeDemo(t *testing.T) {
	requireE2E(t)
	demo := startChild(t, "breeze demo", exec.Command(binaries.breeze, "demo"), "the proxy's count")

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
		if !strings.Contains(demo.output.String(), "route_not_found") {
			return fmt.Errorf("no unrouted calls counted yet")
		}
		return nil
	})

	ports := map[string]int{}
	for _, m := range startedLine.FindAllStringSubmatch(demo.output.String(), -1) {
		port, _ := strconv.Atoi(m[2])
		ports[m[1]] = port
	}
	if len(ports) != 3 {
		t.Fatalf("the demo reported starting %v, want greeter v1, greeter v2 and breeze proxy", ports)
	}

	if err := demo.signal(t, os.Interrupt); err != nil {
		t.Fatalf("breeze demo after Ctrl-C: %v\n%s", err, demo.output)
	}
	out := demo.output.String()
	for _, want := range []string{"stopping the client", "stopping proxy", "stopping greeter v1", "stopping greeter v2", "removing"} {
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
