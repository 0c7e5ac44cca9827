package demo

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// greeterChildEnv, set to "<name>:<port>", makes a process that links this package run one
// Greeter server instead of its main program, then exit.
//
// The demo needs two Greeter servers, and dubbo-go allows one per process (see package
// greeter), so each runs in a child process. The demo has no separate server binary to
// start — it runs from the breeze binary — so it re-executes its own binary with this
// variable set, and this package's init turns that child into the server before the
// breeze command line is even parsed.
const greeterChildEnv = "BREEZE_DEMO_GREETER_SERVER"

// greeterReadyLine is what a Greeter child prints on stdout once it serves.
const greeterReadyLine = "ready on"

func init() {
	spec, ok := os.LookupEnv(greeterChildEnv)
	if !ok {
		return
	}
	if err := runGreeterChild(spec); err != nil {
		fmt.Fprintln(os.Stderr, "demo greeter:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runGreeterChild serves the Greeter described by spec ("<name>:<port>") until SIGTERM or
// SIGINT.
func runGreeterChild(spec string) error {
	name, portText, ok := strings.Cut(spec, ":")
	port, err := strconv.Atoi(portText)
	if !ok || name == "" || err != nil {
		return fmt.Errorf("%s=%q: want <name>:<port>", greeterChildEnv, spec)
	}
	if err := greeter.SetLogging(os.Stderr, "error"); err != nil {
		return err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	srv, err := greeter.Start(greeter.ServerConfig{Name: name, Port: port})
	if err != nil {
		return err
	}
	fmt.Printf("greeter %s %s %s\n", name, greeterReadyLine, srv.Addr())
	<-signals
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Stop(ctx)
}
