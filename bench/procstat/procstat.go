// Package procstat reads a process's CPU time and memory from /proc, for benchmarks that
// charge the proxy process alone for its work.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, 100 on every Linux the benchmarks run on.
const clockTick = 10 * time.Millisecond

// Sample is a process's cumulative CPU time and current resident memory.
type Sample struct {
	CPU time.Duration // utime + stime
	RSS int64         // bytes
}

// Read samples process pid.
func Read(pid int) (Sample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Sample{}, err
	}
	// The command name (field 2) may hold spaces; fields after it start past the ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Sample{}, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15, rss (pages) 24.
	if len(f) < 22 {
		return Sample{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return Sample{CPU: time.Duration(utime+stime) * clockTick, RSS: rss * int64(os.Getpagesize())}, nil
}
