//go:build !linux

package demo

import "syscall"

// childSysProcAttr: outside Linux there is no parent-death signal; children only stop when
// the demo stops them.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
