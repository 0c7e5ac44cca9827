package admin

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
)

// WithLogLevel serves /logging for level, the level of the proxy's logger:
//
//	GET  /logging               the current level
//	POST /logging?level=debug   sets it (debug, info, warn or error), as Envoy's /logging does
func WithLogLevel(level *slog.LevelVar) Option {
	return func(s *Server) { s.logLevel = level }
}

// WithPprof serves Go's profiler under /debug/pprof/ (CPU and heap profiles, goroutine
// dumps). It is off unless asked for: a profile costs CPU, and the dumps show internals.
func WithPprof() Option {
	return func(s *Server) { s.pprof = true }
}

// registerExtras adds the endpoints the options asked for.
func (s *Server) registerExtras(mux *http.ServeMux) {
	if s.logLevel != nil {
		mux.HandleFunc("GET /logging", s.getLogging)
		mux.HandleFunc("POST /logging", s.setLogging)
	}
	if s.pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

func (s *Server) getLogging(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "level: %s\n", strings.ToLower(s.logLevel.Level().String()))
}

func (s *Server) setLogging(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("level")
	var level slog.Level
	if name == "" || level.UnmarshalText([]byte(name)) != nil {
		http.Error(w, fmt.Sprintf("level=%q: want debug, info, warn or error", name), http.StatusBadRequest)
		return
	}
	old := s.logLevel.Level()
	s.logLevel.Set(level)
	// Logged at a level both the old and the new setting show (info at least), so the
	// change is on record.
	s.log.Log(r.Context(), max(old, level, slog.LevelInfo), "log level changed", "from", old.String(), "to", level.String())
	fmt.Fprintf(w, "level: %s\n", strings.ToLower(level.String()))
}
