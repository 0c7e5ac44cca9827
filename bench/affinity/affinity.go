// Package affinity pins processes to CPUs, so that on a small machine the proxy under test
// gets a core of its own and the load generator cannot steal it.
//
// Linux sets affinity per thread and a new thread or process inherits the mask of the
// thread that creates it. So a whole running process is pinned by pinning each of its
// threads, and a child is started pinned by forking it from a thread locked to the mask.
package affinity

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Allowed returns the CPUs this process may run on.
func Allowed() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	set.Zero()
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

// PinSelf restricts every thread of this process, and so every thread and child created
// from now on, to cpus.
func PinSelf(cpus []int) error { return PinProcess(os.Getpid(), cpus) }

// PinProcess restricts every thread of process pid to cpus. Threads created while it runs
// are caught by listing the threads again until a pass finds no new one.
func PinProcess(pid int, cpus []int) error {
	set := cpuSet(cpus)
	done := map[int]bool{}
	for {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("sched_setaffinity(%d): %w", tid, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
}

// StartPinned starts cmd with every thread it will ever have restricted to cpus: it forks
// from an OS thread locked to that mask. The thread is discarded afterwards (the goroutine
// exits still locked), so no other goroutine ever runs with the mask.
func StartPinned(cmd *exec.Cmd, cpus []int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends the thread with the goroutine
		set := cpuSet(cpus)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("sched_setaffinity: %w", err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// Of returns the CPUs process pid's main thread may run on.
func Of(pid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}
