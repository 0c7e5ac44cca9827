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
		Short: "Run Dubbo and Thrift services v1 and v2, the control plane and a proxy, with a client, and show where requests go",
		Long: `Start example Dubbo and Thrift Greeter servers (v1 and v2 of each), breeze control
reading the mesh configuration of examples/mesh (MetaRouters, DestinationRules), a Breeze
proxy configured by it over xDS, and a client calling both services; print live counts of
where requests land, per route and version, until Ctrl-C. Edit
examples/mesh/greeter-metarouter.yaml or examples/mesh/thrift-greeter-metarouter.yaml while
it runs and the traffic moves within a second. Everything runs on 127.0.0.1 and everything
started is stopped on exit. No Kubernetes.`,
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

// newDemoChildCommand is the hidden command that `breeze demo` runs each of its sample
// servers with, as a child process, one server each.
func newDemoChildCommand() *cobra.Command {
	var child demo.Child
	cmd := &cobra.Command{
		Use:    demo.ChildCommand + " --protocol dubbo|thrift --name <name> --port <port>",
		Short:  "Serve one of breeze demo's Greeter servers on 127.0.0.1 until SIGINT or SIGTERM (run by breeze demo)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.RunChild(ctx, child, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&child.Protocol, "protocol", "", "dubbo or thrift")
	cmd.Flags().StringVar(&child.Name, "name", "", "the server's name, echoed in its replies")
	cmd.Flags().IntVar(&child.Port, "port", 0, "the port to listen on, on 127.0.0.1")
	return cmd
}
