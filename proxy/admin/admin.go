// Package admin serves the proxy's admin HTTP endpoints:
//
//	/ready             200 once the proxy runs a configuration (with a control plane: its first
//	                   full one), 503 before
//	/config_dump       the running configuration as JSON (with a control plane: and the xDS
//	                   state, under "xds")
//	/clusters          every cluster's endpoints, one per line, with in-flight requests, health
//	                   flags and outlier ejection state
//	/stats/prometheus  metrics in the Prometheus text format
//	/logging           the log level; POST /logging?level=debug changes it (WithLogLevel)
//	/debug/pprof/      Go's profiler (WithPprof)
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/breeze-mesh/breeze/proxy"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the admin HTTP server of one proxy.
type Server struct {
	proxy *proxy.Server
	http  *http.Server
	ln    net.Listener
	log   *slog.Logger
	// readiness, when set, must also return nil for /ready to answer 200.
	readiness func() error
	// dumps are extra top-level sections of /config_dump, by key.
	dumps map[string]func() any
	// logLevel, when set, is served and changed by /logging (logging.go).
	logLevel *slog.LevelVar
	// pprof serves /debug/pprof/ (logging.go).
	pprof bool
}

// Option adds to what the admin server reports.
type Option func(*Server)

// WithReadiness makes /ready answer 503, with ready's error, until ready returns nil: for a
// proxy whose configuration comes from a control plane, until the first full one runs.
func WithReadiness(ready func() error) Option {
	return func(s *Server) { s.readiness = ready }
}

// WithDump adds a top-level section key to /config_dump, filled by dump on each request
// (for example the xDS versions per resource type).
func WithDump(key string, dump func() any) Option {
	return func(s *Server) {
		if s.dumps == nil {
			s.dumps = map[string]func() any{}
		}
		s.dumps[key] = dump
	}
}

// Listen binds addr and starts serving the admin endpoints of p.
func Listen(addr string, p *proxy.Server, log *slog.Logger, opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &Server{proxy: p, ln: ln, log: log}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("GET /config_dump", s.configDump)
	mux.HandleFunc("GET /clusters", s.clusters)
	mux.Handle("GET /stats/prometheus", promhttp.HandlerFor(p.Metrics().Registry, promhttp.HandlerOpts{}))
	s.registerExtras(mux)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "error", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the admin server.
func (s *Server) Close(ctx context.Context) error { return s.http.Shutdown(ctx) }

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if s.proxy.Config() == nil {
		http.Error(w, "no configuration applied yet", http.StatusServiceUnavailable)
		return
	}
	if s.readiness != nil {
		if err := s.readiness(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "LIVE")
}

func (s *Server) configDump(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var dump any = s.proxy.Config()
	if len(s.dumps) > 0 {
		// The running configuration's fields stay at the top level; the extra sections sit
		// next to them.
		sections := map[string]any{}
		raw, err := json.Marshal(dump)
		if err == nil {
			err = json.Unmarshal(raw, &sections)
		}
		if err != nil {
			s.log.Warn("config_dump encode failed", "error", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if sections == nil {
			sections = map[string]any{}
		}
		for key, f := range s.dumps {
			sections[key] = f()
		}
		dump = sections
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(dump); err != nil {
		s.log.Warn("config_dump encode failed", "error", err)
	}
}

// clusters prints one line per endpoint in Envoy's /clusters style:
// cluster::address::field::value.
func (s *Server) clusters(w http.ResponseWriter, _ *http.Request) {
	all := s.proxy.Clusters().All()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := all[n]
		fmt.Fprintf(w, "%s::lb_policy::%s\n", n, c.Config.LBPolicy)
		for _, h := range c.Hosts {
			st := h.Status()
			fmt.Fprintf(w, "%s::%s::weight::%d\n", n, h.Address, h.Weight())
			fmt.Fprintf(w, "%s::%s::rq_active::%d\n", n, h.Address, h.InFlight())
			// healthy, or /failed_active_hc and/or /failed_outlier_check, as Envoy says.
			fmt.Fprintf(w, "%s::%s::health_flags::%s\n", n, h.Address, st.HealthFlags)
			fmt.Fprintf(w, "%s::%s::outlier_ejections::%d\n", n, h.Address, st.Ejections)
			if st.Ejected {
				fmt.Fprintf(w, "%s::%s::ejected_until::%s\n", n, h.Address, st.EjectedUntil.UTC().Format(time.RFC3339Nano))
			}
		}
	}
}
