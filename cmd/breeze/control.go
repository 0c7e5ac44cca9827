package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/breeze-mesh/breeze/control/server"
	"github.com/breeze-mesh/breeze/control/source/file"
	"github.com/breeze-mesh/breeze/control/translate"
	"github.com/breeze-mesh/breeze/protocol"
)

func newControlCommand() *cobra.Command {
	var (
		configDirs   []string
		xdsAddress   string
		adminAddress string
		debounce     time.Duration
		logLevel     string
		telemetry    bool
	)
	cmd := &cobra.Command{
		Use:   "control --config-dir <dir>",
		Short: "Run the control plane: serve xDS to proxies from a directory of Aeraki/Istio YAML",
		Long: `Run the control plane. It reads MetaRouter, ApplicationProtocol, ServiceEntry,
WorkloadEntry and DestinationRule objects from the YAML files under --config-dir (several per
file, separated by ---), watches them for changes, and serves each connected proxy its own
listeners, clusters, endpoints and routes over ADS (docs/xds.md). A file with errors is
reported (file:line: field: message) and the rest of the configuration keeps working.`,
		Example: `  breeze control --config-dir examples/mesh --xds-address 127.0.0.1:15010`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(configDirs) == 0 {
				return errors.New("no configuration: pass --config-dir <dir> (see examples/mesh/)")
			}
			for _, dir := range configDirs {
				if _, err := os.Stat(dir); err != nil {
					return fmt.Errorf("--config-dir: %w", err)
				}
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			features := translate.ProxyFeatures
			features.Telemetry = telemetry
			return runControl(ctx, configDirs, xdsAddress, adminAddress, debounce, features, log)
		},
	}
	cmd.Flags().StringSliceVar(&configDirs, "config-dir", nil, "directory (or file) of YAML configuration; repeatable")
	cmd.Flags().StringVar(&xdsAddress, "xds-address", "127.0.0.1:15010", "where to serve xDS (gRPC, plaintext)")
	cmd.Flags().StringVar(&adminAddress, "admin-address", "", "where to serve /ready, /stats/prometheus and /debug/* (off when empty)")
	cmd.Flags().DurationVar(&debounce, "debounce", server.DefaultDebounce, "how long the configuration must stay unchanged before it is reloaded")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().BoolVar(&telemetry, "telemetry", true, "put metadata_exchange and istio_stats on every listener, so proxies report Istio's request metrics")
	return cmd
}

func runControl(ctx context.Context, dirs []string, xdsAddress, adminAddress string, debounce time.Duration, features translate.Features, log *slog.Logger) error {
	srv := server.New(server.Options{
		Source:   file.New(dirs...),
		Log:      log,
		Debounce: debounce,
		Codecs:   protocol.Names(),
		Features: &features,
	})
	lis, err := net.Listen("tcp", xdsAddress)
	if err != nil {
		return fmt.Errorf("--xds-address: %w", err)
	}
	if adminAddress != "" {
		adminLis, err := net.Listen("tcp", adminAddress)
		if err != nil {
			lis.Close()
			return fmt.Errorf("--admin-address: %w", err)
		}
		hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(adminLis) }()
		defer hs.Close()
		log.Info("admin listening", "address", adminLis.Addr().String())
	}
	return srv.Serve(ctx, lis)
}
