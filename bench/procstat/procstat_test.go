package procstat

import (
	"os"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	// Burn some CPU so the counters move past one clock tick.
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU <= 0 || s.RSS <= 0 || s.Threads <= 0 {
		t.Fatalf("implausible sample %+v", s)
	}
	self, err := Read(0)
	if err != nil || self.RSS <= 0 {
		t.Fatalf("Read(0) = %+v, %v", self, err)
	}
	m, err := ReadMachine()
	if err != nil || m.Busy <= 0 || m.Total < m.Busy {
		t.Fatalf("ReadMachine = %+v, %v", m, err)
	}
}

// A command name with spaces and parentheses does not shift the fields.
func TestParseStatOddName(t *testing.T) {
	line := "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 1000000 300 18446744073709551615"
	s, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != 3*time.Second || s.Threads != 7 || s.RSS != 300*int64(os.Getpagesize()) {
		t.Fatalf("parsed %+v", s)
	}
	if _, err := parseStat([]byte("42 (x) S 1 2")); err == nil {
		t.Fatal("short line accepted")
	}
}
