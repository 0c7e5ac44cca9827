package greeter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"time"

	"dubbo.apache.org/dubbo-go/v3/client"
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/graceful_shutdown"
)

// DefaultTimeout is a call's timeout when ClientConfig sets none.
const DefaultTimeout = 3 * time.Second

// ClientConfig says where and how a Client calls the Greeter.
type ClientConfig struct {
	// Address is where to connect: "host:port" or a direct Dubbo URL
	// ("dubbo://127.0.0.1:20880" or "dubbo://127.0.0.1:20880/org.apache.dubbo.sample.Greeter").
	// No registry is involved.
	Address string
	// Interface is the service called. Default Interface; tests set others to reach a
	// route that does not exist.
	Interface string
	// Version and Group select the exported service ("" for none).
	Version, Group string
	// Timeout bounds each call. Default DefaultTimeout.
	Timeout time.Duration
}

// Client calls the Greeter with dubbo-go's client over the Dubbo protocol (hessian2),
// directly to one address, without retries (a failed call reports its own error).
//
// dubbo-go shares one connection per address between all the clients of a process and
// offers no way to close it: it lives until the process exits. Clients are cheap to make
// and safe for concurrent use.
type Client struct {
	conn    *client.Connection
	timeout time.Duration
}

// Dial prepares a Client for cfg. dubbo-go connects at once; Dial fails if nothing listens
// at the address.
func Dial(cfg ClientConfig) (c *Client, err error) {
	url, err := directURL(cfg.Address)
	if err != nil {
		return nil, err
	}
	// dubbo-go retries an unreachable address for seconds, logging each attempt, then
	// panics; a plain dial first gives a prompt, clear error.
	probe, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "dubbo://"), 3*time.Second)
	if err != nil {
		return nil, fmt.Errorf("greeter client: %w", err)
	}
	probe.Close()
	if cfg.Interface == "" {
		cfg.Interface = Interface
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cli, err := client.NewClient(
		client.WithClientProtocolDubbo(),
		client.WithClientSerialization(constant.Hessian2Serialization),
		// dubbo-go's default installs a SIGINT/SIGTERM handler that calls os.Exit: not in a
		// process that has its own idea of shutting down (the demo, tests).
		client.WithClientShutdown(graceful_shutdown.WithoutInternalSignal()),
	)
	if err != nil {
		return nil, fmt.Errorf("greeter client: %w", err)
	}
	opts := []client.ReferenceOption{
		client.WithURL(url),
		client.WithProtocolDubbo(),
		client.WithSerialization(constant.Hessian2Serialization),
		client.WithClusterFailFast(),
		client.WithRetries(0),
		client.WithRequestTimeout(cfg.Timeout),
	}
	if cfg.Version != "" {
		opts = append(opts, client.WithVersion(cfg.Version))
	}
	if cfg.Group != "" {
		opts = append(opts, client.WithGroup(cfg.Group))
	}
	// dubbo-go panics when it cannot reach the address (a nil invoker deep in Refer).
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("greeter client: cannot refer %s at %s: %v", cfg.Interface, cfg.Address, p)
		}
	}()
	conn, err := cli.Dial(cfg.Interface, opts...)
	if err != nil {
		return nil, fmt.Errorf("greeter client: %w", err)
	}
	return &Client{conn: conn, timeout: cfg.Timeout}, nil
}

// directURL turns "host:port" or "dubbo://host:port[/path]" into the direct URL dubbo-go
// takes.
func directURL(address string) (string, error) {
	hostPort := address
	if rest, ok := strings.CutPrefix(address, "dubbo://"); ok {
		hostPort, _, _ = strings.Cut(rest, "/")
	} else if strings.Contains(address, "://") {
		return "", fmt.Errorf("greeter client: address %q: only dubbo:// URLs are supported", address)
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		return "", fmt.Errorf("greeter client: address %q: %w", address, err)
	}
	return "dubbo://" + hostPort, nil
}

// WithAttachments returns a context whose calls carry attachments (Dubbo's per-request
// key/values; Breeze routes on them like on headers).
func WithAttachments(ctx context.Context, attachments map[string]string) context.Context {
	merged := map[string]any{}
	if prev, ok := ctx.Value(constant.AttachmentKey).(map[string]any); ok {
		maps.Copy(merged, prev)
	}
	for k, v := range attachments {
		merged[k] = v
	}
	return context.WithValue(ctx, constant.AttachmentKey, merged)
}

// Call invokes method with args and decodes the result into reply (a pointer).
func (c *Client) Call(ctx context.Context, method string, args []any, reply any) error {
	if c == nil || c.conn == nil {
		return errors.New("greeter client: not dialed")
	}
	return c.conn.CallUnary(ctx, args, reply, method, client.WithCallRequestTimeout(c.timeout))
}

// SayHello calls sayHello(name).
func (c *Client) SayHello(ctx context.Context, name string) (string, error) {
	return c.callString(ctx, MethodSayHello, name)
}

// SayHi calls sayHi(name).
func (c *Client) SayHi(ctx context.Context, name string) (string, error) {
	return c.callString(ctx, MethodSayHi, name)
}

// SlowHello calls slowHello(name), which answers once Release(name) is called.
func (c *Client) SlowHello(ctx context.Context, name string) (string, error) {
	return c.callString(ctx, MethodSlowHello, name)
}

// Attachment asks the server for the value of attachment key on this very request.
func (c *Client) Attachment(ctx context.Context, key string) (string, error) {
	return c.callString(ctx, MethodAttachment, key)
}

// Release lets the server's SlowHello(name) calls finish; it returns how many there were.
func (c *Client) Release(ctx context.Context, name string) (int32, error) {
	var n int32
	err := c.Call(ctx, MethodRelease, []any{name}, &n)
	return n, err
}

// Pending returns how many SlowHello calls the server holds.
func (c *Client) Pending(ctx context.Context) (int32, error) {
	var n int32
	err := c.Call(ctx, MethodPending, []any{}, &n)
	return n, err
}

// Seen reports whether the server received Notify(token).
func (c *Client) Seen(ctx context.Context, token string) (bool, error) {
	var seen bool
	err := c.Call(ctx, MethodSeen, []any{token}, &seen)
	return seen, err
}

func (c *Client) callString(ctx context.Context, method, arg string) (string, error) {
	var reply string
	if err := c.Call(ctx, method, []any{arg}, &reply); err != nil {
		return "", err
	}
	return reply, nil
}
