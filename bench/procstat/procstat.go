// Package procstat reads CPU time and memory from /proc, for benchmarks that charge each
// process (proxy, load generator, upstream server) for its own work, and notice when
// something else on the machine took CPU during a run.
package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, 100 on every Linux the benchmarks run on.
const clockTick = 10 * time.Millisecond

// Sample is a process's cumulative CPU time and current size.
type Sample struct {
	CPU     time.Duration // utime + stime
	RSS     int64         // resident bytes
	Threads int
}

// Read samples process pid (0 means this process).
func Read(pid int) (Sample, error) {
	name := "self"
	if pid != 0 {
		name = strconv.Itoa(pid)
	}
	stat, err := os.ReadFile("/proc/" + name + "/stat")
	if err != nil {
		return Sample{}, err
	}
	return parseStat(stat)
}

func parseStat(stat []byte) (Sample, error) {
	// The command name (field 2) may hold spaces; fields after it start past the ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Sample{}, fmt.Errorf("unexpected /proc stat line %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15, num_threads 20, rss (pages) 24.
	if len(f) < 22 {
		return Sample{}, fmt.Errorf("short /proc stat line %q", s)
	}
	var v [4]int64
	for k, idx := range [...]int{11, 12, 17, 21} {
		n, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil {
			return Sample{}, fmt.Errorf("/proc stat field %d: %w", idx+3, err)
		}
		v[k] = n
	}
	return Sample{
		CPU:     time.Duration(v[0]+v[1]) * clockTick,
		Threads: int(v[2]),
		RSS:     v[3] * int64(os.Getpagesize()),
	}, nil
}

// Machine is the whole machine's cumulative CPU time, summed over its CPUs.
type Machine struct {
	// Busy is time spent in processes (user, nice, system): comparable with the sum of
	// every process's utime+stime.
	Busy time.Duration
	// Interrupts is irq and softirq time, which the kernel charges to no process (much of
	// a loopback benchmark's TCP work runs there).
	Interrupts time.Duration
	// Steal is time the hypervisor gave to other virtual machines.
	Steal time.Duration
	// Total is all of the above plus idle and iowait.
	Total time.Duration
}

// ReadMachine samples the first line of /proc/stat.
func ReadMachine() (Machine, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return Machine{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var m Machine
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Machine{}, fmt.Errorf("/proc/stat: %w", err)
		}
		d := time.Duration(n) * clockTick
		m.Total += d
		switch i {
		case 0, 1, 2:
			m.Busy += d
		case 5, 6:
			m.Interrupts += d
		case 7:
			m.Steal += d
		}
	}
	return m, nil
}

// CPUModel returns the processor's model name from /proc/cpuinfo, or "".
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
