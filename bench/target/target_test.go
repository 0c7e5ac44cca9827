package target

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	v := Vars{"upstream": "127.0.0.1:9", "listen_port": "7"}
	got, err := v.Expand(`run --to {upstream} --port {listen_port} --json '{"a": {"b": 1}}' ${HOME}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `run --to 127.0.0.1:9 --port 7 --json '{"a": {"b": 1}}' ${HOME}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := v.Expand("x {upstrem}"); err == nil || !strings.Contains(err.Error(), "{upstrem}") {
		t.Fatalf("typo not reported: %v", err)
	}
}

// A real process started from a command template becomes ready when the probe succeeds,
// reports its memory, and stops on Stop. (The process is sleep(1); the probe dials a
// listener of the test's own, standing in for the proxy's.)
func TestStartReadyStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p, err := Start(Spec{Name: "sleeper", Command: "sleep {secs}", Listen: ln.Addr().String()}, Vars{"secs": "30", "port": "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dial := func(ctx context.Context, addr string) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := p.WaitReady(ctx, dial); err != nil {
		t.Fatal(err)
	}
	// Right after the fork the child may not have exec'd sleep yet: poll.
	for {
		s, err := p.Sample()
		if err != nil {
			t.Fatal(err)
		}
		if s.RSS > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("RSS still 0: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := p.Goroutines(); ok {
		t.Fatal("goroutines reported without a metrics endpoint")
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}

// A proxy that exits during start-up is reported with its output instead of a timeout.
func TestExitDuringStartup(t *testing.T) {
	p, err := Start(Spec{Name: "broken", Command: "echo bad config >&2; exit 3", Listen: "127.0.0.1:1"}, Vars{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.WaitReady(ctx, func(context.Context, string) error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "bad config") {
		t.Fatalf("WaitReady = %v, want the exit with its output", err)
	}
}
