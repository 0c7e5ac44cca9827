package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v0.1.0".
var version = "dev"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the compiled-in codecs",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			commit := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						commit = s.Value
					}
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "breeze %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(out, "codecs: %v\n", protocol.Names())
		},
	}
}
