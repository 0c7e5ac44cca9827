package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	thriftgreeter "github.com/breeze-mesh/breeze/examples/thrift/greeter"
)

// The request side of mutation is covered where the protocols are: TestRawAttachmentMutation
// (a Dubbo server sees the attachment), TestThriftRoutingEveryWire (a THeader server sees the
// header, other transports are left alone). These tests add the response side, which Aeraki
// parses and never applies: the client sees what the route's response_mutation writes.

// TestPolicyMutationDubboResponse: a route's response_mutation reaches the client as a
// response attachment (dubbo-go servers answer with attachments, the response types the
// codec mutates), next to the server's own; another route's responses do not carry it.
func TestPolicyMutationDubboResponse(t *testing.T) {
	requireE2E(t)
	v1 := startGreeter(t, "v1", freePort(t))
	admin, listen := freePort(t), freePort(t)
	config := staticBootstrap(admin, listen, "dubbo", `            - name: mutated
              match: {metadata: [{name: method, exact: sayHello}]}
              route: {cluster: greeter, timeout: 10s}
              request_mutation: [{key: x-routed-by, value: breeze}]
              response_mutation: [{key: x-served-via, value: breeze}, {key: x-route, value: mutated}]
            - name: plain
              route: {cluster: greeter, timeout: 10s}
`, fmt.Sprintf(`  - name: greeter
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
`, v1.port))
	proxy := startProxyConfig(t, []byte(config), loopback(listen), loopback(admin))
	conn := dialRaw(t, proxy.addr)

	// The server's own attachments, as a direct call shows them: the mutation goes next to
	// them (their names; remote-addr's value differs per connection).
	direct := dialRaw(t, v1.addr)
	own, err := direct.Call(greeterCall("1.0.0", greeter.MethodSayHello, "direct"))
	if err != nil || own.Err != nil {
		t.Fatalf("direct call: %v %v", err, own)
	}
	if len(own.Attachments) == 0 {
		t.Fatal("dubbo-go answered without attachments: the codec only mutates responses that carry them")
	}

	for i := range 3 {
		resp, err := conn.Call(greeterCall("1.0.0", greeter.MethodSayHello, fmt.Sprintf("m-%d", i)))
		if err != nil || resp.Err != nil {
			t.Fatalf("sayHello: %v %v", err, resp)
		}
		if resp.Result != fmt.Sprintf("hello m-%d from v1", i) {
			t.Errorf("sayHello reply %v", resp.Result)
		}
		if resp.Attachments["x-served-via"] != "breeze" || resp.Attachments["x-route"] != "mutated" {
			t.Errorf("response attachments %v, want x-served-via=breeze and x-route=mutated", resp.Attachments)
		}
		for k := range own.Attachments { // values such as remote-addr differ per connection
			if _, ok := resp.Attachments[k]; !ok {
				t.Errorf("server's attachment %s lost: %v", k, resp.Attachments)
			}
		}
	}
	resp, err := conn.Call(greeterCall("1.0.0", greeter.MethodSayHi, "plain"))
	if err != nil || resp.Err != nil {
		t.Fatalf("sayHi: %v %v", err, resp)
	}
	if _, ok := resp.Attachments["x-served-via"]; ok {
		t.Errorf("route plain: response attachments %v carry the other route's mutation", resp.Attachments)
	}
}

// TestPolicyMutationThriftHeader: on one THeader route, the request_mutation header is seen
// by an Apache Thrift THeader server (among its read headers, next to the client's own) and
// the response_mutation header is seen by an Apache Thrift THeader client among the reply's
// read headers; another route's replies carry no header.
func TestPolicyMutationThriftHeader(t *testing.T) {
	requireE2E(t)
	for _, protocol := range thriftgreeter.Protocols {
		t.Run(protocol, func(t *testing.T) {
			srv := startThriftServer(t, "v1", thriftWire{thriftgreeter.THeader, protocol})
			admin, listen := freePort(t), freePort(t)
			config := staticBootstrap(admin, listen, "thrift", `            - name: mutated
              match: {metadata: [{name: method, exact: header}]}
              route: {cluster: greeter, timeout: 10s}
              request_mutation: [{key: x-routed-by, value: breeze}]
              response_mutation: [{key: x-served-via, value: breeze}]
            - name: plain
              route: {cluster: greeter, timeout: 10s}
`, fmt.Sprintf(`  - name: greeter
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
`, srv.Port()))
			proxy := startProxyConfig(t, []byte(config), loopback(listen), loopback(admin))
			c := dialTHeader(t, proxy.addr, protocol)

			reply, headers := c.call(t, thriftgreeter.Header, "x-routed-by", map[string]string{"x-user": "ann"})
			if reply != "breeze" {
				t.Errorf("server saw x-routed-by %q, want breeze", reply)
			}
			if headers["x-served-via"] != "breeze" {
				t.Errorf("reply headers %v, want x-served-via=breeze", headers)
			}
			if reply, _ := c.call(t, thriftgreeter.Header, "x-user", map[string]string{"x-user": "ann"}); reply != "ann" {
				t.Errorf("server saw the client's x-user as %q, want ann", reply)
			}
			reply, headers = c.call(t, thriftgreeter.SayHello, "bob", nil)
			if reply != "hello bob from v1" {
				t.Errorf("sayHello reply %q", reply)
			}
			if v, ok := headers["x-served-via"]; ok {
				t.Errorf("route plain: reply header x-served-via=%q, want none", v)
			}
		})
	}
}

// theaderClient is an Apache Thrift THeader client that, unlike the Greeter's, shows the
// headers of each reply.
type theaderClient struct {
	proto *thrift.THeaderProtocol
	seq   int32
}

func dialTHeader(t *testing.T, addr, protocol string) *theaderClient {
	t.Helper()
	id := thrift.THeaderProtocolBinary
	if protocol == thriftgreeter.Compact {
		id = thrift.THeaderProtocolCompact
	}
	// The timeouts are failure deadlines: every answer here comes at once.
	conf := &thrift.TConfiguration{ConnectTimeout: 30 * time.Second, SocketTimeout: 30 * time.Second, THeaderProtocolID: &id}
	sock := thrift.NewTSocketConf(addr, conf)
	if err := sock.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	return &theaderClient{proto: thrift.NewTHeaderProtocolConf(thrift.NewTHeaderTransportConf(sock, conf), conf)}
}

// call sends method(arg) with headers and returns the reply's string and its headers.
func (c *theaderClient) call(t *testing.T, method, arg string, headers map[string]string) (string, thrift.THeaderMap) {
	t.Helper()
	ctx := context.Background()
	p := c.proto
	p.ClearWriteHeaders()
	for k, v := range headers {
		p.SetWriteHeader(k, v)
	}
	c.seq++
	err := firstErr(
		p.WriteMessageBegin(ctx, method, thrift.CALL, c.seq),
		p.WriteStructBegin(ctx, "args"),
		p.WriteFieldBegin(ctx, "value", thrift.STRING, 1),
		p.WriteString(ctx, arg),
		p.WriteFieldEnd(ctx),
		p.WriteFieldStop(ctx),
		p.WriteStructEnd(ctx),
		p.WriteMessageEnd(ctx),
		p.Flush(ctx),
	)
	if err != nil {
		t.Fatalf("%s: write: %v", method, err)
	}
	name, typ, seq, err := p.ReadMessageBegin(ctx)
	if err != nil || name != method || typ != thrift.REPLY || seq != c.seq {
		t.Fatalf("%s: reply %q type %d seq %d, %v; want a REPLY with seq %d", method, name, typ, seq, err, c.seq)
	}
	var reply string
	if _, err := p.ReadStructBegin(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		_, ft, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ft == thrift.STOP {
			break
		}
		if id == 0 && ft == thrift.STRING {
			reply, err = p.ReadString(ctx)
		} else {
			err = thrift.SkipDefaultDepth(ctx, p, ft)
		}
		if err == nil {
			err = p.ReadFieldEnd(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := firstErr(p.ReadStructEnd(ctx), p.ReadMessageEnd(ctx)); err != nil {
		t.Fatal(err)
	}
	return reply, p.GetReadHeaders()
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
