package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is how long a child may take to exit after SIGTERM before it is killed.
const stopTimeout = 10 * time.Second

// process is a child process the demo started and must stop.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	// exited is closed once the process has exited; waitErr is then its exit status.
	exited  chan struct{}
	waitErr error
}

// startProcess starts cmd as the child called name. Its stderr (and its stdout, after any
// line readyLine waits for) go to logPath. The child runs in its own process group, so the
// terminal's Ctrl-C reaches only the demo, which then stops children in order; on Linux it
// is also killed if the demo dies without stopping it.
//
// If readyLine is not empty, startProcess returns once the child prints a stdout line
// containing it; otherwise at once.
func startProcess(ctx context.Context, name string, cmd *exec.Cmd, logPath, readyLine string, timeout time.Duration) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	cmd.SysProcAttr = childSysProcAttr()
	// The ready line is read from a pipe of our own rather than cmd.StdoutPipe, which Wait
	// would close under the reader.
	var stdoutR, stdoutW *os.File
	if readyLine != "" {
		if stdoutR, stdoutW, err = os.Pipe(); err != nil {
			logFile.Close()
			return nil, err
		}
		cmd.Stdout = stdoutW
	} else {
		cmd.Stdout = logFile
	}
	err = cmd.Start()
	if stdoutW != nil {
		stdoutW.Close() // the child holds its own copy
	}
	if err != nil {
		logFile.Close()
		if stdoutR != nil {
			stdoutR.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}

	ready := make(chan struct{})
	copied := make(chan struct{})
	if stdoutR != nil {
		go func() {
			// Copy the child's stdout to its log, noticing the ready line on the way, until
			// the child exits (EOF).
			defer close(copied)
			defer stdoutR.Close()
			scanner := bufio.NewScanner(stdoutR)
			seen := false
			for scanner.Scan() {
				line := scanner.Text()
				fmt.Fprintln(logFile, line)
				if !seen && strings.Contains(line, readyLine) {
					seen = true
					close(ready)
				}
			}
		}()
	} else {
		close(ready)
		close(copied)
	}
	go func() {
		p.waitErr = cmd.Wait()
		<-copied
		logFile.Close()
		close(p.exited)
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited during start (%w); see %s", name, exitCause(p.waitErr), logPath)
	case <-timer.C:
		_ = p.stop(io.Discard) // already failing: the start error is what the user needs
		return nil, fmt.Errorf("%s not ready after %s; see %s", name, timeout, logPath)
	case <-ctx.Done():
		_ = p.stop(io.Discard) // already failing: the start error is what the user needs
		return nil, ctx.Err()
	}
}

// pid is the child's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// stop asks the child to exit (SIGTERM), kills it if it has not after stopTimeout, and
// reports on out. A child that has already exited is only reported.
func (p *process) stop(out io.Writer) error {
	select {
	case <-p.exited:
		fmt.Fprintf(out, "  %s (pid %d) had already exited: %v\n", p.name, p.pid(), p.waitErr)
		return p.waitErr
	default:
	}
	fmt.Fprintf(out, "  stopping %s (pid %d) ... ", p.name, p.pid())
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintf(out, "signal failed (%v), killing\n", err)
		_ = p.cmd.Process.Kill()
		<-p.exited
		return err
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		if p.waitErr != nil {
			fmt.Fprintf(out, "exited: %v (log: %s)\n", p.waitErr, p.logPath)
			return p.waitErr
		}
		fmt.Fprintln(out, "stopped")
		return nil
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		fmt.Fprintf(out, "did not stop within %s, killed\n", stopTimeout)
		return fmt.Errorf("%s did not stop within %s", p.name, stopTimeout)
	}
}

// exitCause describes why a child that should still be running exited: its wait error, or
// a clean exit, which is just as unexpected here.
func exitCause(waitErr error) error {
	if waitErr == nil {
		return errors.New("exit status 0")
	}
	return waitErr
}
