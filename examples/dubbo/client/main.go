// Command client calls the Greeter with dubbo-go over a direct Dubbo URL — a server, or a
// Breeze proxy in front of servers — and prints each reply on its own line.
//
//	go run ./examples/dubbo/client -addr 127.0.0.1:20880 -version 2.0.0 -name alice
//	go run ./examples/dubbo/client -method sayHi -attach x-user=carol -n 5
//
// It exits with status 1 at the first failed call, printing the error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/examples/internal/kvflag"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:20880", "host:port or dubbo://host:port URL to call (the proxy, or a server)")
	iface := flag.String("interface", greeter.Interface, "service interface")
	version := flag.String("version", "1.0.0", "service version")
	group := flag.String("group", "", "service group")
	method := flag.String("method", greeter.MethodSayHello, "method: sayHello, sayHi, slowHello or attachment (its argument is the attachment key)")
	name := flag.String("name", "alice", "the method's string argument")
	count := flag.Int("n", 1, "number of calls")
	timeout := flag.Duration("timeout", greeter.DefaultTimeout, "timeout of each call")
	verbose := flag.Bool("v", false, "show dubbo-go's warnings on stderr")
	attachments := kvflag.Map{}
	flag.Var(attachments, "attach", "attachment key=value to send (repeatable)")
	flag.Parse()

	logTo := io.Writer(io.Discard)
	if *verbose {
		logTo = os.Stderr
	}
	if err := greeter.SetLogging(logTo, "warn"); err != nil {
		return err
	}
	c, err := greeter.Dial(greeter.ClientConfig{
		Address:   *addr,
		Interface: *iface,
		Version:   *version,
		Group:     *group,
		Timeout:   *timeout,
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if len(attachments) > 0 {
		ctx = greeter.WithAttachments(ctx, attachments)
	}
	for range *count {
		start := time.Now()
		var reply string
		if err := c.Call(ctx, *method, []any{*name}, &reply); err != nil {
			return fmt.Errorf("%s(%q): %w", *method, *name, err)
		}
		fmt.Printf("%s\t(%s)\n", reply, time.Since(start).Round(time.Microsecond))
	}
	return nil
}
