// Package admin serves the proxy's admin HTTP endpoints:
//
//	/ready             200 once the proxy runs a configuration, 503 before
//	/config_dump       the running configuration as JSON
//	/clusters          every cluster's endpoints, one per line, with in-flight requests
//	/stats/prometheus  metrics in the Prometheus text format
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
}

// Listen binds addr and starts serving the admin endpoints of p.
func Listen(addr string, p *proxy.Server, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &Server{proxy: p, ln: ln, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", s.ready)
	mux.HandleFunc("GET /config_dump", s.configDump)
	mux.HandleFunc("GET /clusters", s.clusters)
	mux.Handle("GET /stats/prometheus", promhttp.HandlerFor(p.Metrics().Registry, promhttp.HandlerOpts{}))
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
	fmt.Fprintln(w, "LIVE")
}

func (s *Server) configDump(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.proxy.Config()); err != nil {
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
		fmt.Fprintf(w, "%s::lb_policy::%d\n", n, c.Config.LBPolicy)
		for _, h := range c.Hosts {
			fmt.Fprintf(w, "%s::%s::weight::%d\n", n, h.Address, h.Weight)
			fmt.Fprintf(w, "%s::%s::rq_active::%d\n", n, h.Address, h.InFlight())
			fmt.Fprintf(w, "%s::%s::health_flags::healthy\n", n, h.Address)
		}
	}
}
