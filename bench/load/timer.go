package load

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// preciseTimer sleeps with microsecond precision. Go's own timers wake up to a
// millisecond late when the process is otherwise idle (the network poller waits in whole
// milliseconds), which an open-loop generator would add to every latency it measures. A
// timerfd is a file the network poller watches, so the goroutine sleeping on it wakes as
// soon as the kernel timer fires, without holding an OS thread.
type preciseTimer struct {
	fd   int
	file *os.File
	buf  [8]byte
}

func newPreciseTimer() (*preciseTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	// A non-blocking descriptor makes os.File use the network poller.
	return &preciseTimer{fd: fd, file: os.NewFile(uintptr(fd), "timerfd")}, nil
}

// Sleep blocks the calling goroutine for d.
func (t *preciseTimer) Sleep(d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(d, time.Microsecond)))}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	_, err := t.file.Read(t.buf[:])
	return err
}

func (t *preciseTimer) Close() error { return t.file.Close() }
