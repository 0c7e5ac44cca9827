package e2e

import "syscall"

// childSysProcAttr has the kernel kill a child process if the test binary dies before its
// cleanup runs (a panic, a timeout), so no server or proxy outlives a failed run.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
