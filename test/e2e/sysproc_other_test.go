//go:build !linux

package e2e

import "syscall"

// childSysProcAttr: outside Linux there is no parent-death signal; t.Cleanup stops children.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
