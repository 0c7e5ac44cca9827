package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/admin"
	"github.com/breeze-mesh/breeze/proxy/bootstrap"
	"github.com/spf13/cobra"
)

func newProxyCommand() *cobra.Command {
	var (
		configPath   string
		drainTimeout time.Duration
		logLevel     string
	)
	cmd := &cobra.Command{
		Use:   "proxy -c <bootstrap.yaml>",
		Short: "Run the L7 proxy from a bootstrap file (Envoy bootstrap layout)",
		Long: `Run the L7 proxy. The bootstrap file uses Envoy's bootstrap layout; docs/bootstrap.md
lists the supported fields. On SIGINT or SIGTERM the proxy stops accepting connections and
lets in-flight requests finish for up to --drain-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return errors.New("no bootstrap file: pass -c <bootstrap.yaml> (see examples/bootstrap/)")
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runProxy(ctx, configPath, drainTimeout, log)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "bootstrap YAML file")
	cmd.Flags().DurationVar(&drainTimeout, "drain-timeout", 15*time.Second, "how long in-flight requests may take to finish at shutdown")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runProxy(ctx context.Context, configPath string, drainTimeout time.Duration, log *slog.Logger) error {
	cfg, err := bootstrap.Load(configPath)
	if err != nil {
		return err
	}
	srv := proxy.New(log)
	if err := srv.Apply(cfg); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	if cfg.Admin != "" {
		adm, err := admin.Listen(cfg.Admin, srv, log)
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
		log.Info("admin listening", "address", adm.Addr().String())
		defer adm.Close(context.Background())
	}
	<-ctx.Done()
	log.Info("shutting down: draining in-flight requests", "timeout", drainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	return srv.Shutdown(drainCtx)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
