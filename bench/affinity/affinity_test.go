package affinity

import (
	"os/exec"
	"slices"
	"testing"
)

func TestStartPinned(t *testing.T) {
	cpus, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) == 0 {
		t.Fatal("no CPUs allowed")
	}
	want := cpus[len(cpus)-1:]
	cmd := exec.Command("sleep", "10")
	if err := StartPinned(cmd, want); err != nil {
		t.Skipf("pinning not permitted here: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	got, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("child runs on %v, want %v", got, want)
	}
	// This process keeps its own mask.
	if self, _ := Allowed(); !slices.Equal(self, cpus) {
		t.Fatalf("own mask changed from %v to %v", cpus, self)
	}
	// Widening it again works on a running process.
	if err := PinProcess(cmd.Process.Pid, cpus); err != nil {
		t.Fatal(err)
	}
	if got, _ := Of(cmd.Process.Pid); !slices.Equal(got, cpus) {
		t.Fatalf("after PinProcess: %v, want %v", got, cpus)
	}
}
