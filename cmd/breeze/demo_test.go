package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/examples/demo"
)

// TestDemoChildCommand: the command `breeze demo` starts its servers with is registered
// under the name the demo uses, hidden from help, and refuses a server it cannot run.
func TestDemoChildCommand(t *testing.T) {
	cmd := newDemoChildCommand()
	if cmd.Name() != demo.ChildCommand || !cmd.Hidden {
		t.Errorf("command %q (hidden %v), want %q hidden", cmd.Name(), cmd.Hidden, demo.ChildCommand)
	}
	// The flags are those demo.Child.Args writes.
	args := demo.Child{Protocol: "smtp", Name: "v1", Port: 1}.Args()
	if args[0] != demo.ChildCommand {
		t.Fatalf("Child.Args = %v", args)
	}
	var out bytes.Buffer
	cmd.SetArgs(args[1:])
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), `protocol "smtp"`) {
		t.Errorf("demo-child --protocol smtp: %v, want the protocol refused", err)
	}
}
