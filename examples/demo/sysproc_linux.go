package demo

import "syscall"

// childSysProcAttr puts a child in its own process group (the terminal's Ctrl-C goes to the
// demo alone, which stops its children in order) and has the kernel kill it if the demo
// dies first, so no server outlives a crashed demo.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
