// Command breeze is the Breeze service mesh in one binary: the proxy, the demo and, in
// later releases, the control plane.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "breeze",
		Short:         "Breeze: a service mesh for Dubbo, Thrift and other RPC protocols",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newProxyCommand(), newControlCommand(), newAnalyzeCommand(), newDemoCommand(), newDemoChildCommand(), newVersionCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "breeze:", err)
		os.Exit(1)
	}
}
