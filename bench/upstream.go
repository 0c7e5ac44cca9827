package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/breeze-mesh/breeze/bench/peers"
)

// The upstream server runs as a process of its own (this program started again with
// roleEnv set), so that its CPU is charged to neither the proxy nor the load generator,
// and a garbage collection in one does not pause the other.
const (
	roleEnv     = "BREEZE_BENCH_ROLE"
	roleConfEnv = "BREEZE_BENCH_UPSTREAM" // protocol,payload bytes,listen address
)

// runRole runs this process as a helper if roleEnv says so, and reports whether it did.
func runRole() bool {
	switch os.Getenv(roleEnv) {
	case "":
		return false
	case "upstream":
		if err := serveUpstream(os.Getenv(roleConfEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "bench upstream:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "bench: unknown %s=%q\n", roleEnv, os.Getenv(roleEnv))
	os.Exit(2)
	return true
}

// serveUpstream answers every request with the protocol's response until stdin closes
// (the harness exiting, however it exits, closes it).
func serveUpstream(conf string) error {
	parts := strings.Split(conf, ",")
	if len(parts) != 3 {
		return fmt.Errorf("%s=%q: want protocol,payload,address", roleConfEnv, conf)
	}
	p := findProtocol(parts[0])
	if p == nil {
		return fmt.Errorf("unknown protocol %q", parts[0])
	}
	payload, err := strconv.Atoi(parts[1])
	if err != nil {
		return err
	}
	srv, err := peers.StartEchoServerAt(parts[2], p.framing, p.response(payload))
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("listening %s\n", srv.Addr())
	// Each line on stdin asks how many requests were answered so far.
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Printf("served %d\n", srv.Served())
	}
	return nil
}

func findProtocol(name string) *protocolDef {
	for i := range protocols {
		if protocols[i].name == name {
			return &protocols[i]
		}
	}
	return nil
}

// upstream is a running upstream server process.
type upstream struct {
	addr   string
	pid    int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// served asks the server how many requests it has answered.
func (u *upstream) served() (int64, error) {
	if _, err := io.WriteString(u.stdin, "count\n"); err != nil {
		return 0, err
	}
	line, err := u.stdout.ReadString('\n')
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), "served "), 10, 64)
}

// startUpstream starts the server for p with payload-byte responses on addr.
func startUpstream(p *protocolDef, payload int, addr string) (*upstream, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"=upstream", fmt.Sprintf("%s=%s,%d,%s", roleConfEnv, p.name, payload, addr))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	u := &upstream{pid: cmd.Process.Pid, cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	lines := make(chan string, 1)
	go func() {
		line, _ := u.stdout.ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "listening "); ok {
			u.addr = a
			return u, nil
		}
		u.stop()
		return nil, fmt.Errorf("upstream server did not start (said %q)", line)
	case <-time.After(10 * time.Second):
		u.stop()
		return nil, fmt.Errorf("upstream server did not start within 10s")
	}
}

func (u *upstream) stop() {
	u.stdin.Close()
	done := make(chan struct{})
	go func() {
		_ = u.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = u.cmd.Process.Kill()
		<-done
	}
}
