package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/breeze-mesh/breeze/examples/demo"
	"github.com/spf13/cobra"
)

func newDemoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run Dubbo services v1 and v2 behind a proxy, with a client, and show where requests go",
		Long: `Start two example Dubbo Greeter servers (v1, v2), a Breeze proxy routing between them on
request metadata, and a client; print live counts of where requests land until Ctrl-C.
Everything runs on 127.0.0.1 and everything started is stopped on exit. No Kubernetes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, cmd.OutOrStdout())
		},
	}
}
