package api

import (
	"os/exec"
	"testing"
)

// TestGeneratedCodeIsCurrent runs verify.sh, which regenerates the Go code of the protos
// into a scratch directory and compares it with the committed files.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds protoc-gen-go and runs protoc")
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc is not installed (apt-get install -y protobuf-compiler)")
	}
	out, err := exec.Command("sh", "./verify.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("verify.sh: %v\n%s", err, out)
	}
}
