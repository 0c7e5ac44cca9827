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
	var meshDir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Dubbo services v1 and v2, the control plane and a proxy, with a client, and show where requests go",
		Long: `Start two example Dubbo Greeter servers (v1, v2), breeze control reading the mesh
configuration of examples/mesh (MetaRouter, DestinationRule), a Breeze proxy configured by it
over xDS, and a client; print live counts of where requests land until Ctrl-C. Edit
examples/mesh/greeter-metarouter.yaml while it runs and the traffic moves within a second.
Everything runs on 127.0.0.1 and everything started is stopped on exit. No Kubernetes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.RunWithOptions(ctx, cmd.OutOrStdout(), demo.Options{Mesh: meshDir})
		},
	}
	cmd.Flags().StringVar(&meshDir, "mesh", "", "directory of mesh configuration to run (default: the repository's examples/mesh, or a copy of it)")
	return cmd
}
