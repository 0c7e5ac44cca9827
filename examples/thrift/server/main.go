// Command server runs one Thrift Greeter server (Apache Thrift Go) until it gets SIGINT or
// SIGTERM.
//
//	go run ./examples/thrift/server -name v1 -port 9091 -transport framed -protocol binary
//
// Once serving it prints one line, "greeter <name> ready on <host:port>", which parent
// processes wait for. A -transport header server also answers buffered and framed clients
// of either protocol.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/breeze-mesh/breeze/examples/thrift/greeter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "v1", "server name, echoed in replies (\"hello alice from <name>\")")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 9091, "port to listen on")
	transport := flag.String("transport", greeter.Framed, "transport: buffered, framed or header")
	protocol := flag.String("protocol", greeter.Binary, "protocol: binary or compact")
	flag.Parse()

	srv, err := greeter.Start(greeter.ServerConfig{
		Name:      *name,
		Address:   net.JoinHostPort(*host, strconv.Itoa(*port)),
		Transport: *transport,
		Protocol:  *protocol,
	})
	if err != nil {
		return err
	}
	fmt.Printf("greeter %s ready on %s\n", *name, srv.Addr())

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	sig := <-signals
	fmt.Printf("greeter %s stopping (%s)\n", *name, sig)
	return srv.Close()
}
