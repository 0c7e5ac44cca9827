package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// TestPolicyMirror: the route sends Greeter calls to server v1 and mirrors them to server v2.
// Both servers record every notify token, two-way and oneway alike, while the client only
// ever hears v1; after v2 is killed, the client's calls go on exactly as before.
func TestPolicyMirror(t *testing.T) {
	requireE2E(t)
	v1 := startGreeter(t, "v1", freePort(t))
	v2 := startGreeter(t, "v2", freePort(t))
	admin, listen := freePort(t), freePort(t)
	config := staticBootstrap(admin, listen, "dubbo", fmt.Sprintf(`            - name: greeter
              match: {metadata: [{name: interface, exact: %q}]}
              route:
                cluster: greeter-v1
                timeout: 5s
                request_mirror_policies: [{cluster: greeter-v2, percent: 100}]
`, greeter.Interface), fmt.Sprintf(`  - name: greeter-v1
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
  - name: greeter-v2
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
`, v1.port, v2.port))
	proxy := startProxyConfig(t, []byte(config), loopback(listen), loopback(admin))

	conn := dialRaw(t, proxy.addr)
	var tokens []string
	for i := range 10 {
		token := fmt.Sprintf("mirror-%d", i)
		tokens = append(tokens, token)
		if i%2 == 0 {
			if _, err := conn.Send(greeterCall("1.0.0", greeter.MethodNotify, token), false); err != nil {
				t.Fatal(err)
			}
			continue
		}
		resp, err := conn.Call(greeterCall("1.0.0", greeter.MethodNotify, token))
		if err != nil || resp.Err != nil {
			t.Fatalf("two-way notify %s: %v %v", token, err, resp)
		}
	}
	ctx := context.Background()
	for _, server := range []*greeterServer{v1, v2} {
		direct := dialGreeter(t, server.addr, greeter.Interface, "1.0.0", 10*time.Second)
		waitFor(t, "server "+server.name+" saw every notify", func() error {
			for _, token := range tokens {
				seen, err := direct.Seen(ctx, token)
				if err != nil {
					return err
				}
				if !seen {
					return fmt.Errorf("%s not seen", token)
				}
			}
			return nil
		})
	}

	client := dialGreeter(t, proxy.addr, greeter.Interface, "1.0.0", 10*time.Second)
	call := func(when string) {
		for i := range 5 {
			reply, err := client.SayHello(ctx, fmt.Sprintf("%s-%d", when, i))
			if err != nil || !strings.HasSuffix(reply, " from v1") {
				t.Fatalf("%s: call %d: %q, %v; want v1's answer", when, i, reply, err)
			}
		}
	}
	call("mirror-up")
	v2.kill(t)
	call("mirror-down")
	// Every request before the kill was mirrored; after it, a mirror that finds no usable
	// endpoint is not sent, so later ones may or may not count.
	if got := proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": "greeter-v2"}); got < 15 || got > 20 {
		t.Errorf("mirrored %v requests, want 15 to 20 (10 notify, 5 sayHello before the kill, up to 5 after)", got)
	}
}
