// Command server runs one kvrpc server, the example service of the codec tutorial
// (docs/codec-tutorial.md), until it gets SIGINT or SIGTERM.
//
//	go run ./examples/kvrpc/server -name users -addr 127.0.0.1:7101
//
// Every request succeeds: the reply's body is "<name> handled <cmd>(<request body>)", its
// headers are the request's headers plus "server: <name>", so a caller going through a
// proxy sees where it was sent and which headers arrived. Once serving it prints one line,
// "kvrpc server <name> ready on <addr>", which parent processes wait for.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/breeze-mesh/breeze/examples/kvrpc/kvwire"
)

func main() {
	name := flag.String("name", "users", "server name, echoed in replies")
	addr := flag.String("addr", "127.0.0.1:7101", "address to listen on")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	served := make(chan error, 1)
	go func() {
		served <- kvwire.Serve(ln, func(req *kvwire.Frame) ([]kvwire.Header, []byte, error) {
			headers := append([]kvwire.Header{{Key: "server", Value: *name}}, req.Headers...)
			return headers, fmt.Appendf(nil, "%s handled %s(%s)", *name, req.Get("cmd"), req.Body), nil
		})
	}()
	fmt.Printf("kvrpc server %s ready on %s\n", *name, ln.Addr())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-signals:
		fmt.Printf("kvrpc server %s stopping (%s)\n", *name, sig)
		ln.Close()
		if err := <-served; err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
		}
	case err := <-served:
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}
