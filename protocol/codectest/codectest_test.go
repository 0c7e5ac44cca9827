package codectest

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// toyBugEnv selects the bug TestToySuite builds its codec with, in a child test process.
const toyBugEnv = "CODECTEST_TOY_BUG"

// TestToySuite runs the kit on the correct toy codec; with toyBugEnv set (by
// TestKitCatchesBugs, in a child process) on a broken one.
func TestToySuite(t *testing.T) {
	Run(t, toySuite(os.Getenv(toyBugEnv)))
}

// TestKitCatchesBugs checks that every check fails for the bug it exists to catch. Each
// broken codec runs the check meant to catch it in a child process, so its failures do not
// fail this test; the child's verbose output must show that check failing.
func TestKitCatchesBugs(t *testing.T) {
	if os.Getenv(toyBugEnv) != "" {
		t.Skip("running as a child process")
	}
	if testing.Short() {
		t.Skip("starts a child process per bug")
	}
	bugs := make([]string, 0, len(toyBugs))
	for bug := range toyBugs {
		bugs = append(bugs, bug)
	}
	sort.Strings(bugs)
	for _, bug := range bugs {
		check := toyBugs[bug]
		t.Run(bug, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestToySuite$/^"+check+"$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), toyBugEnv+"="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a codec with bug %q", bug)
			}
			if want := "--- FAIL: TestToySuite/" + check; !strings.Contains(string(out), want) {
				t.Errorf("bug %q: output lacks %q:\n%s", bug, want, out)
			}
		})
	}
}

func TestSplitPoints(t *testing.T) {
	if got := splitPoints(4, true); len(got) != 4 || got[0] != 0 || got[3] != 3 {
		t.Errorf("splitPoints(4, true) = %v, want [0 1 2 3]", got)
	}
	big := splitPoints(100_000, false)
	if len(big) > 2*splitEdge+splitMiddle+2 {
		t.Errorf("splitPoints(100000) gives %d points, want at most about %d", len(big), 2*splitEdge+splitMiddle)
	}
	for i := 1; i < len(big); i++ {
		if big[i] <= big[i-1] || big[i] >= 100_000 {
			t.Fatalf("splitPoints not increasing within (0, size): %v", big[i-1:i+1])
		}
	}
}

func FuzzToy(f *testing.F) {
	Fuzz(f, toySuite(""))
}

// recorder is a testing.TB that records failures instead of reporting them.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestCheckUniqueKeys(t *testing.T) {
	var md protocol.Metadata
	md.Add("a", "1")
	md.Add("A", "2") // keys compare case-insensitively, but exact repeats are what Get hides
	r := &recorder{TB: t}
	checkUniqueKeys(r, &md)
	if len(r.failures) != 0 {
		t.Errorf("case variants reported: %v", r.failures)
	}
	md.Add("a", "3")
	checkUniqueKeys(r, &md)
	if len(r.failures) != 1 || !strings.Contains(r.failures[0], `"a" appears twice`) {
		t.Errorf("a repeated key gave %v", r.failures)
	}
}
