package greeter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"dubbo.apache.org/dubbo-go/v3/common/constant"
)

// Interface is the Dubbo interface name the Greeter is exported as, the name Java Dubbo
// samples use. Requests carry it as their service path; Breeze routes on it as "interface".
const Interface = "org.apache.dubbo.sample.Greeter"

// Wire method names, as Java clients and the proxy's route table see them. dubbo-go accepts
// both these and the Go spelling (first letter upper-cased); raw clients send these.
const (
	MethodSayHello   = "sayHello"
	MethodSayHi      = "sayHi"
	MethodSlowHello  = "slowHello"
	MethodRelease    = "release"
	MethodPending    = "pending"
	MethodNotify     = "notify"
	MethodSeen       = "seen"
	MethodAttachment = "attachment"
)

// maxSlowWait bounds how long SlowHello blocks when nobody releases it, so a forgotten call
// cannot pin a goroutine for the life of the server.
const maxSlowWait = 2 * time.Minute

// Greeter is the service implementation. Its replies name the server that produced them
// ("hello alice from v1"), which is how tests and the demo see where the proxy sent a
// request. One Greeter is shared by every version the server exports, so its records (oneway
// tokens, waiting slow calls) are per server, not per version.
type Greeter struct {
	// name identifies the server in replies.
	name string

	mu sync.Mutex
	// notified holds the tokens received by Notify (normally sent oneway).
	notified map[string]bool
	// waiting maps a SlowHello name to the channels of its blocked calls.
	waiting map[string][]chan struct{}
	// pending counts SlowHello calls currently blocked.
	pending atomic.Int32
	// closed is closed by shutdown to release every blocked SlowHello.
	closed     chan struct{}
	closedOnce sync.Once
}

// NewGreeter returns a Greeter whose replies say they come from serverName.
func NewGreeter(serverName string) *Greeter {
	return &Greeter{
		name:     serverName,
		notified: make(map[string]bool),
		waiting:  make(map[string][]chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Name is the server name the Greeter puts in its replies.
func (g *Greeter) Name() string { return g.name }

// SayHello answers "hello <name> from <server>".
func (g *Greeter) SayHello(ctx context.Context, name string) (string, error) {
	return fmt.Sprintf("hello %s from %s", name, g.name), nil
}

// SayHi answers "hi <name> from <server>"; it exists so routes can match on the method.
func (g *Greeter) SayHi(ctx context.Context, name string) (string, error) {
	return fmt.Sprintf("hi %s from %s", name, g.name), nil
}

// SlowHello blocks until Release(name) is called, the server shuts down, the caller's
// context ends or maxSlowWait passes, then answers like SayHello. Tests use it to hold
// requests in flight while they break the connection under them.
func (g *Greeter) SlowHello(ctx context.Context, name string) (string, error) {
	release := make(chan struct{})
	g.mu.Lock()
	g.waiting[name] = append(g.waiting[name], release)
	g.mu.Unlock()
	g.pending.Add(1)
	defer g.pending.Add(-1)

	timer := time.NewTimer(maxSlowWait)
	defer timer.Stop()
	select {
	case <-release:
	case <-g.closed:
		return "", fmt.Errorf("greeter %s is shutting down", g.name)
	case <-ctx.Done():
		g.forget(name, release)
		return "", ctx.Err()
	case <-timer.C:
		g.forget(name, release)
		return "", fmt.Errorf("slowHello %q was never released", name)
	}
	return fmt.Sprintf("hello %s from %s", name, g.name), nil
}

// forget removes one waiter that gave up before being released.
func (g *Greeter) forget(name string, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := g.waiting[name]
	for i, ch := range list {
		if ch == release {
			g.waiting[name] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(g.waiting[name]) == 0 {
		delete(g.waiting, name)
	}
}

// Release lets every SlowHello(name) call finish and returns how many were waiting.
func (g *Greeter) Release(ctx context.Context, name string) (int32, error) {
	g.mu.Lock()
	list := g.waiting[name]
	delete(g.waiting, name)
	g.mu.Unlock()
	for _, ch := range list {
		close(ch)
	}
	return int32(len(list)), nil
}

// Pending returns how many SlowHello calls are blocked right now.
func (g *Greeter) Pending(ctx context.Context) (int32, error) {
	return g.pending.Load(), nil
}

// Notify records token. It is meant to be called oneway: a client sends it without waiting
// and later asks Seen whether it arrived.
func (g *Greeter) Notify(ctx context.Context, token string) error {
	g.mu.Lock()
	g.notified[token] = true
	g.mu.Unlock()
	return nil
}

// Seen reports whether Notify(token) has been received.
func (g *Greeter) Seen(ctx context.Context, token string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.notified[token], nil
}

// Attachment returns the value of the attachment key carried by this very request, or ""
// when it has none. Tests call it through the proxy to see the attachments the proxy added.
func (g *Greeter) Attachment(ctx context.Context, key string) (string, error) {
	return attachmentFrom(ctx, key), nil
}

// attachmentFrom reads one request attachment from the context dubbo-go passes to provider
// methods (a map stored under constant.AttachmentKey).
func attachmentFrom(ctx context.Context, key string) string {
	switch atts := ctx.Value(constant.AttachmentKey).(type) {
	case map[string]any:
		return attachmentString(atts[key])
	case map[string]string:
		return atts[key]
	}
	return ""
}

// attachmentString renders an attachment value; dubbo-go stores string attachments either
// as string or as a one-element []string depending on the protocol path.
func attachmentString(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	case []string:
		if len(s) > 0 {
			return s[0]
		}
		return ""
	default:
		return fmt.Sprint(s)
	}
}

// shutdown releases every blocked SlowHello so the server can stop promptly.
func (g *Greeter) shutdown() {
	g.closedOnce.Do(func() { close(g.closed) })
}
