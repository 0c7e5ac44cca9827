package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/breeze-mesh/breeze/examples/dubbo/hessiangreeter"
	thriftgreeter "github.com/breeze-mesh/breeze/examples/thrift/greeter"
)

// The demo's sample servers run as child processes of the breeze binary, one server each:
// `breeze demo-child --protocol dubbo --name v1 --port 20881`, a hidden subcommand that
// calls RunChild. The demo has no separate server binary to start, and every server being
// a process the demo starts, reports and stops alike shows what a mesh does with real,
// separate servers. The Dubbo servers are examples/dubbo/hessiangreeter (Dubbo protocol,
// hessian2, wire-compatible with dubbo-go) rather than dubbo-go itself: dubbo-go's network
// layer would be linked into every breeze binary and its process-wide timer wheel would
// keep every idle proxy busy.

// ChildCommand is the name of the hidden breeze subcommand that runs one sample server.
const ChildCommand = "demo-child"

// Protocols of the sample servers.
const (
	Dubbo  = "dubbo"
	Thrift = "thrift"
)

// childReadyLine is in the stdout line a child prints once it serves.
const childReadyLine = "ready on"

// Child is one sample server: a Greeter of Protocol (Dubbo or Thrift) called Name (it says
// so in its replies), on 127.0.0.1:Port.
type Child struct {
	Protocol, Name string
	Port           int
}

// Args are the breeze command-line arguments that run c.
func (c Child) Args() []string {
	return []string{ChildCommand, "--protocol", c.Protocol, "--name", c.Name, "--port", strconv.Itoa(c.Port)}
}

// String names the child as the demo reports it: "thrift greeter v1".
func (c Child) String() string { return c.Protocol + " greeter " + c.Name }

func (c Child) validate() error {
	switch {
	case c.Protocol != Dubbo && c.Protocol != Thrift:
		return fmt.Errorf("protocol %q: want %s or %s", c.Protocol, Dubbo, Thrift)
	case c.Name == "":
		return errors.New("a name is required")
	case c.Port <= 0 || c.Port > 65535:
		return fmt.Errorf("port %d: want 1-65535", c.Port)
	}
	return nil
}

// RunChild serves the Greeter c describes until ctx ends, then stops it. Once it serves, it
// prints "<protocol> greeter <name> ready on <address>" to out, the line the demo waits for.
func RunChild(ctx context.Context, c Child, out io.Writer) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%s: %w", ChildCommand, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port))
	var stop func() error
	switch c.Protocol {
	case Dubbo:
		srv, err := hessiangreeter.Start(hessiangreeter.ServerConfig{Name: c.Name, Address: addr})
		if err != nil {
			return err
		}
		addr = srv.Addr()
		stop = srv.Close
	case Thrift:
		// THeader: the transport that carries headers a route can match on; a THeader
		// server also answers framed and buffered clients.
		srv, err := thriftgreeter.Start(thriftgreeter.ServerConfig{Name: c.Name, Address: addr,
			Transport: thriftgreeter.THeader, Protocol: thriftgreeter.Binary})
		if err != nil {
			return err
		}
		addr = srv.Addr()
		stop = srv.Close
	}
	fmt.Fprintf(out, "%s %s %s\n", c, childReadyLine, addr)
	<-ctx.Done()
	return stop()
}
