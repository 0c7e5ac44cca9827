package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// enableEnv turns the end-to-end tests on. They build binaries and start processes, which
// takes tens of seconds: too slow for every `go test ./...`. CI sets it.
const enableEnv = "BREEZE_E2E"

// binaries are built once by TestMain.
var binaries struct {
	// breeze is cmd/breeze; greeter is examples/dubbo/server.
	breeze, greeter string
}

func TestMain(m *testing.M) {
	if os.Getenv(enableEnv) != "1" {
		// Tests skip themselves (requireE2E) so `go test -v` says why.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "breeze-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := 1
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	} else {
		// The test process itself uses dubbo-go clients; keep their logs off the output.
		_ = greeter.SetLogging(io.Discard, "error")
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinaries builds the proxy and the Greeter server into dir with `go build`.
func buildBinaries(dir string) error {
	builds := []struct {
		dst *string
		pkg string
	}{
		{&binaries.breeze, "github.com/breeze-mesh/breeze/cmd/breeze"},
		{&binaries.greeter, "github.com/breeze-mesh/breeze/examples/dubbo/server"},
	}
	for _, b := range builds {
		out := filepath.Join(dir, filepath.Base(b.pkg))
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", out, b.pkg)
		if output, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, output)
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", b.pkg, time.Since(start).Round(time.Millisecond))
		*b.dst = out
	}
	return nil
}

// requireE2E skips the test unless the end-to-end tests are enabled.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv(enableEnv) != "1" {
		t.Skipf("end-to-end test: set %s=1 to run it (see test/e2e/README.md)", enableEnv)
	}
}
