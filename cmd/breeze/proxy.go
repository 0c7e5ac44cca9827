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
	"github.com/breeze-mesh/breeze/xds"
	"github.com/spf13/cobra"
)

func newProxyCommand() *cobra.Command {
	var (
		configPath   string
		drainTimeout time.Duration
		logLevel     string
		pprof        bool
	)
	cmd := &cobra.Command{
		Use:   "proxy -c <bootstrap.yaml>",
		Short: "Run the L7 proxy from a bootstrap file (Envoy bootstrap layout)",
		Long: `Run the L7 proxy. The bootstrap file uses Envoy's bootstrap layout; docs/bootstrap.md
lists the supported fields. With dynamic_resources, listeners, clusters, endpoints and routes
also come from a control plane over ADS (docs/xds.md), and /ready answers 200 once the first
full configuration runs. On SIGINT or SIGTERM the proxy stops accepting connections and
lets in-flight requests finish for up to --drain-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return errors.New("no bootstrap file: pass -c <bootstrap.yaml> (see examples/bootstrap/)")
			}
			log, level, err := newLeveledLogger(logLevel)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The admin server's /logging changes the level at run time.
			adminOpts := []admin.Option{admin.WithLogLevel(level)}
			if pprof {
				adminOpts = append(adminOpts, admin.WithPprof())
			}
			return runProxy(ctx, configPath, drainTimeout, log, adminOpts...)
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "bootstrap YAML file")
	cmd.Flags().DurationVar(&drainTimeout, "drain-timeout", 15*time.Second, "how long in-flight requests may take to finish at shutdown")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (the admin server's /logging changes it at run time)")
	cmd.Flags().BoolVar(&pprof, "pprof", false, "serve Go's profiler on the admin server under /debug/pprof/")
	return cmd
}

func runProxy(ctx context.Context, configPath string, drainTimeout time.Duration, log *slog.Logger, adminOpts ...admin.Option) error {
	cfg, err := bootstrap.Load(configPath)
	if err != nil {
		return err
	}
	srv := proxy.New(log)
	var xc *xds.Client
	if cfg.Dynamic == nil {
		if err := srv.Apply(cfg); err != nil {
			return fmt.Errorf("%s: %w", configPath, err)
		}
	} else {
		// The static resources run now; the rest comes from the control plane.
		xc, err = xds.Start(xds.Options{Bootstrap: cfg, Target: srv, Log: log, Metrics: srv.Metrics().Registry, Version: version})
		if err != nil {
			return fmt.Errorf("%s: %w", configPath, err)
		}
		adminOpts = append(adminOpts, admin.WithReadiness(xc.Ready), admin.WithDump("xds", func() any { return xc.Status() }))
	}
	// stopXDS ends the control plane stream before the proxy drains, so that no update
	// starts a listener during the drain.
	stopXDS := func() {
		if xc != nil {
			xc.Close()
		}
	}
	if cfg.Admin != "" {
		adm, err := admin.Listen(cfg.Admin, srv, log, adminOpts...)
		if err != nil {
			stopXDS()
			_ = srv.Shutdown(context.Background())
			return err
		}
		log.Info("admin listening", "address", adm.Addr().String())
		defer adm.Close(context.Background())
	}
	<-ctx.Done()
	stopXDS()
	log.Info("shutting down: draining in-flight requests", "timeout", drainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	return srv.Shutdown(drainCtx)
}

func newLogger(level string) (*slog.Logger, error) {
	log, _, err := newLeveledLogger(level)
	return log, err
}

// newLeveledLogger is newLogger with the level in a variable, to change it at run time.
func newLeveledLogger(level string) (*slog.Logger, *slog.LevelVar, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	lv := new(slog.LevelVar)
	lv.Set(l)
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})), lv, nil
}
