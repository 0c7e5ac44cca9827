// Command server runs one Greeter server (Dubbo protocol, hessian2, no registry) until it
// gets SIGINT or SIGTERM.
//
//	go run ./examples/dubbo/server -name v1 -port 20881
//
// Once serving it prints one line, "greeter <name> ready on <host:port>", which parent
// processes (the demo, the end-to-end tests) wait for.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
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
	port := flag.Int("port", 20881, "port to listen on")
	versions := flag.String("versions", strings.Join(greeter.DefaultVersions, ","), "comma-separated service versions to export")
	group := flag.String("group", "", "service group")
	logLevel := flag.String("log-level", "warn", "dubbo-go log level (debug, info, warn, error), logged to stderr")
	flag.Parse()

	if err := greeter.SetLogging(os.Stderr, *logLevel); err != nil {
		return err
	}
	srv, err := greeter.Start(greeter.ServerConfig{
		Name:     *name,
		Host:     *host,
		Port:     *port,
		Versions: splitList(*versions),
		Group:    *group,
	})
	if err != nil {
		return err
	}
	// Catch signals before saying "ready": a parent that stops us right after reading the
	// line must get a clean stop, not the default kill.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	fmt.Printf("greeter %s ready on %s\n", *name, srv.Addr())

	sig := <-signals
	fmt.Printf("greeter %s stopping (%s)\n", *name, sig)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Stop(ctx)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
