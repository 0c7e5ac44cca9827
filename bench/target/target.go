// Package target runs the proxy under test as a process: Breeze by default, or any other
// proxy given as a start command and the address it listens on. It expands placeholders in
// the command, pins the process to its CPUs, waits until the proxy routes a request, and
// samples its CPU, memory, threads and (where the proxy exports them) goroutines.
package target

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/breeze-mesh/breeze/bench/affinity"
	"github.com/breeze-mesh/breeze/bench/procstat"
	"golang.org/x/sys/unix"
)

// Spec says how to start a proxy. Command, Listen and Metrics may hold placeholders in
// braces, expanded from Vars: {upstream}, {upstream_host}, {upstream_port}, {listen},
// {listen_port}, {admin_port}, {config}, {protocol}.
type Spec struct {
	// Name labels the proxy in reports ("breeze", "mosn", "envoy").
	Name string
	// Command is run by /bin/sh (with exec, so the shell is replaced by the proxy and the
	// process measured is the proxy itself).
	Command string
	// Listen is the address the proxy accepts clients on.
	Listen string
	// Metrics, if set, is a Prometheus text endpoint exporting go_goroutines.
	Metrics string
	// Env is added to the proxy's environment.
	Env []string
}

// Vars are the placeholder values for one start.
type Vars map[string]string

// Expand replaces every {name} (lower-case letters and underscores) in s with its value.
// An unknown name is an error, so a typo does not start a proxy with a literal
// "{upstrem}" in its config; other braces (JSON, shell) are left alone.
func (v Vars) Expand(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		name := ""
		if j > 0 {
			name = s[i+1 : i+j]
		}
		if !isPlaceholder(name) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		val, ok := v[name]
		if !ok {
			return "", fmt.Errorf("unknown placeholder {%s} (known: %s)", name, v.names())
		}
		b.WriteString(s[:i])
		b.WriteString(val)
		s = s[i+j+1:]
	}
}

func isPlaceholder(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if c != '_' && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func (v Vars) names() string {
	var n []string
	for k := range v {
		n = append(n, "{"+k+"}")
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// Process is a running proxy.
type Process struct {
	Name    string
	Pid     int
	Listen  string
	Command string
	metrics string
	cmd     *exec.Cmd
	output  *tail
	exited  chan struct{}
}

// Start runs spec with vars on cpus (all CPUs when empty). The proxy's open-file limit is
// raised to its hard limit, since it may be asked to hold 10 000 connections.
func Start(spec Spec, vars Vars, cpus []int) (*Process, error) {
	command, err := vars.Expand(spec.Command)
	if err != nil {
		return nil, fmt.Errorf("proxy command: %w", err)
	}
	listen, err := vars.Expand(spec.Listen)
	if err != nil {
		return nil, fmt.Errorf("proxy address: %w", err)
	}
	metrics, err := vars.Expand(spec.Metrics)
	if err != nil {
		return nil, fmt.Errorf("proxy metrics URL: %w", err)
	}
	cmd := exec.Command("/bin/sh", "-c", "exec "+command)
	cmd.Env = append(os.Environ(), spec.Env...)
	out := &tail{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so stopping it also stops whatever it forked.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if len(cpus) > 0 {
		err = affinity.StartPinned(cmd, cpus)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", command, err)
	}
	p := &Process{Name: spec.Name, Pid: cmd.Process.Pid, Listen: listen, Command: command, metrics: metrics, cmd: cmd, output: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		_ = unix.Prlimit(p.Pid, unix.RLIMIT_NOFILE, &lim, nil)
	}
	return p, nil
}

// WaitReady waits until probe succeeds against the proxy's listen address (the proxy
// accepts and routes), the process exits, or ctx ends.
func (p *Process) WaitReady(ctx context.Context, probe func(ctx context.Context, addr string) error) error {
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start-up: %s", p.Name, p.output.String())
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		last = probe(pctx, p.Listen)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w (output: %s)", p.Name, p.Listen, last, p.output.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Sample reads the proxy's CPU time, RSS and threads.
func (p *Process) Sample() (procstat.Sample, error) { return procstat.Read(p.Pid) }

// Goroutines reads go_goroutines from the metrics endpoint; ok is false when the proxy
// exports none.
func (p *Process) Goroutines() (n int, ok bool) {
	if p.metrics == "" {
		return 0, false
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(p.metrics)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), "go_goroutines "); found {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err == nil
		}
	}
	return 0, false
}

// Stop interrupts the proxy, waits up to 5 s, then kills its process group.
func (p *Process) Stop() error {
	_ = syscall.Kill(-p.Pid, syscall.SIGINT)
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	<-p.exited
	return errors.New(p.Name + " did not stop on SIGINT within 5s; killed")
}

// Output returns the last lines the proxy printed.
func (p *Process) Output() string { return p.output.String() }

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

var _ io.Writer = (*tail)(nil)

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
