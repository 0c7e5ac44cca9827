package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tutorialPath is the codec tutorial, relative to the repository root.
const tutorialPath = "docs/codec-tutorial.md"

// tutorialTimeout bounds the whole tutorial run (it builds the proxy and fuzzes for 10s): a
// failure deadline only.
const tutorialTimeout = 15 * time.Minute

// fencedBlock is one fenced code block of a Markdown file.
type fencedBlock struct {
	lang, text string
	line       int // of the opening fence
}

// fencedBlocks returns the fenced code blocks of doc, in order.
func fencedBlocks(doc string) ([]fencedBlock, error) {
	var blocks []fencedBlock
	var cur *fencedBlock
	var body []string
	for i, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "```") {
			if cur != nil {
				body = append(body, line)
			}
			continue
		}
		if cur == nil {
			cur = &fencedBlock{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: i + 1}
			body = nil
			continue
		}
		cur.text = strings.Join(body, "\n")
		blocks = append(blocks, *cur)
		cur = nil
	}
	if cur != nil {
		return nil, fmt.Errorf("the block opened at line %d is not closed", cur.line)
	}
	return blocks, nil
}

// TestCodecTutorial runs every command of docs/codec-tutorial.md: its sh blocks, in order,
// in one bash from the repository root (so variables carry over, as in a reader's shell),
// and checks that the lines of each text block (the output the tutorial shows) appear in
// that order in what the commands print. The code it shows must be the code in the
// repository: each go block is a piece of the kvrpc codec, its test, or cmd/breeze, and the
// routes it shows are those of examples/kvrpc/bootstrap.yaml.
func TestCodecTutorial(t *testing.T) {
	requireE2E(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, tutorialPath))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := fencedBlocks(string(doc))
	if err != nil {
		t.Fatalf("%s: %v", tutorialPath, err)
	}
	checkTutorialSnippets(t, root, blocks)

	// The tutorial uses fixed ports, as a reader would; say so plainly if one is taken.
	for _, port := range []int{7100, 7101, 7102, 7900} {
		ln, err := net.Listen("tcp", loopback(port))
		if err != nil {
			t.Fatalf("the tutorial needs 127.0.0.1:%d free: %v", port, err)
		}
		ln.Close()
	}

	var script strings.Builder
	// Stop at the first failing command, and stop whatever the commands started in the
	// background if one fails; trace the commands on stderr.
	script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nset -x\n")
	commands := 0
	for _, b := range blocks {
		if b.lang == "sh" {
			fmt.Fprintf(&script, "# %s:%d\n%s\n", tutorialPath, b.line, b.text)
			commands++
		}
	}
	if commands == 0 {
		t.Fatalf("%s has no sh blocks", tutorialPath)
	}

	ctx, cancel := context.WithTimeout(context.Background(), tutorialTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = root
	// Its own process group, so everything the commands start can be stopped together, and
	// killed with the test binary if that dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // anything left behind; normally nothing
	}
	if err != nil {
		t.Fatalf("the tutorial's commands failed: %v\n--- stdout ---\n%s\n--- stderr (commands traced) ---\n%s", err, stdout.String(), stderr.String())
	}

	out := strings.Split(stdout.String(), "\n")
	pos := 0
	for _, b := range blocks {
		if b.lang != "text" {
			continue
		}
		for _, want := range strings.Split(strings.TrimRight(b.text, "\n"), "\n") {
			found := false
			for pos < len(out) {
				pos++
				if strings.TrimRight(out[pos-1], " ") == want {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("%s:%d: output line %q not found (in order) in what the commands printed:\n%s", tutorialPath, b.line, want, stdout.String())
			}
		}
	}
}

// checkTutorialSnippets checks that the code the tutorial shows is the repository's.
func checkTutorialSnippets(t *testing.T, root string, blocks []fencedBlock) {
	t.Helper()
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	goSources := read("protocol/kvrpc/codec.go") + read("protocol/kvrpc/retriable.go") + read("protocol/kvrpc/codec_test.go") + read("cmd/breeze/codecs.go")
	bootstrap := read("examples/kvrpc/bootstrap.yaml")
	routesShown := false
	for _, b := range blocks {
		switch {
		case b.lang == "go" && !strings.Contains(goSources, b.text):
			t.Errorf("%s:%d: this go block is not in protocol/kvrpc or cmd/breeze/codecs.go:\n%s", tutorialPath, b.line, b.text)
		case b.lang == "yaml" && strings.Contains(b.text, "route_config:"):
			routesShown = true
			if !strings.Contains(bootstrap, b.text) {
				t.Errorf("%s:%d: these routes are not those of examples/kvrpc/bootstrap.yaml:\n%s", tutorialPath, b.line, b.text)
			}
		}
	}
	if !routesShown {
		t.Errorf("%s shows no route_config", tutorialPath)
	}
}
