// Command client calls the Thrift Greeter (Apache Thrift Go) — a server, or a Breeze proxy in
// front of servers — and prints each reply on its own line.
//
//	go run ./examples/thrift/client -addr 127.0.0.1:9090 -transport framed -name alice
//	go run ./examples/thrift/client -transport header -protocol compact -method header -name x-user -H x-user=carol
//
// It exits with status 1 at the first failed call, printing the error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/breeze-mesh/breeze/examples/internal/kvflag"
	"github.com/breeze-mesh/breeze/examples/thrift/greeter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9090", "host:port to call (the proxy, or a server)")
	transport := flag.String("transport", greeter.Framed, "transport: buffered, framed or header")
	protocol := flag.String("protocol", greeter.Binary, "protocol: binary or compact")
	method := flag.String("method", greeter.SayHello, "method: sayHello, sayHi, header (its argument is the header key), seen, or notify (sent oneway)")
	name := flag.String("name", "alice", "the method's string argument")
	count := flag.Int("n", 1, "number of calls")
	timeout := flag.Duration("timeout", greeter.DefaultTimeout, "timeout of connecting and of each call")
	headers := kvflag.Map{}
	flag.Var(headers, "H", "THeader header key=value to send (repeatable; -transport header only)")
	flag.Parse()

	c, err := greeter.Dial(greeter.ClientConfig{Address: *addr, Transport: *transport, Protocol: *protocol, Timeout: *timeout})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	for range *count {
		start := time.Now()
		if *method == greeter.Notify {
			if err := c.Oneway(ctx, *method, *name); err != nil {
				return fmt.Errorf("%s(%q): %w", *method, *name, err)
			}
			fmt.Printf("sent oneway %s(%q)\n", *method, *name)
			continue
		}
		reply, err := c.Call(ctx, *method, *name, headers)
		if err != nil {
			return fmt.Errorf("%s(%q): %w", *method, *name, err)
		}
		fmt.Printf("%s\t(%s)\n", reply, time.Since(start).Round(time.Microsecond))
	}
	return nil
}
