// Command client calls a kvrpc server (or a Breeze proxy in front of one) and prints each
// reply's body, one line per call.
//
//	go run ./examples/kvrpc/client -addr 127.0.0.1:7100 -cmd user.get -body alice
//
// With -headers it prints the reply's headers too. An error reply prints "error: <kind>:
// <text>"; the command then exits with status 1.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/breeze-mesh/breeze/examples/kvrpc/kvwire"
)

// headerFlags collects repeated -H key=value flags.
type headerFlags []kvwire.Header

func (h *headerFlags) String() string { return fmt.Sprint(*h) }

func (h *headerFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", s)
	}
	*h = append(*h, kvwire.Header{Key: k, Value: v})
	return nil
}

func main() { os.Exit(run()) }

// run makes the calls and returns the exit status.
func run() int {
	addr := flag.String("addr", "127.0.0.1:7100", "server or proxy address")
	cmd := flag.String("cmd", "user.get", "command (the \"cmd\" header)")
	body := flag.String("body", "", "request body")
	n := flag.Int("n", 1, "number of calls")
	showHeaders := flag.Bool("headers", false, "print the reply's headers")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for each reply")
	var headers headerFlags
	flag.Var(&headers, "H", "request header key=value (repeatable)")
	flag.Parse()

	c, err := kvwire.Dial(*addr, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	defer c.Close()
	status := 0
	for range *n {
		resp, err := c.Call(*cmd, headers, []byte(*body), *timeout)
		if err != nil {
			fmt.Println("error:", err)
			status = 1
			continue
		}
		fmt.Println(string(resp.Body))
		if *showHeaders {
			for _, h := range resp.Headers {
				fmt.Printf("  %s: %s\n", h.Key, h.Value)
			}
		}
	}
	return status
}
