package server

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Handler serves the control plane's admin endpoints:
//
//	/ready            200 once the configuration has been loaded
//	/stats/prometheus the counters, in Prometheus' text format
//	/debug/problems   the configuration's current problems, one per line
//	/debug/nodes      the connected proxies: their description, versions and last NACK (JSON)
//	/debug/model      the model the proxies' configuration is built from (JSON)
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if _, v := s.Model(); v == 0 {
			http.Error(w, "configuration not loaded yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, _ *http.Request) {
		st := s.Stats()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		for _, c := range []struct {
			name, kind, help string
			value            int64
		}{
			{"breeze_control_rebuilds_total", "counter", "Model rebuilds after configuration changes.", st.Rebuilds},
			{"breeze_control_nacks_total", "counter", "xDS responses proxies refused.", st.NACKs},
			{"breeze_control_nack_resends_withheld_total", "counter", "xDS responses not sent because they would repeat a version the proxy refused.", st.NACKWithheld},
			{"breeze_control_rejected_nodes_total", "counter", "xDS streams refused for an invalid node.", st.RejectedNodes},
			{"breeze_control_inconsistent_snapshots_total", "counter", "Snapshots not sent because translation produced inconsistent resources.", st.Inconsistent},
			{"breeze_control_config_errors", "gauge", "Errors in the current configuration.", st.ConfigErrors},
			{"breeze_control_connected_proxies", "gauge", "Proxies with an open xDS stream.", int64(st.ConnectedNodes)},
		} {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", c.name, c.help, c.name, c.kind, c.name, c.value)
		}
	})
	mux.HandleFunc("GET /debug/problems", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		problems := s.problemList
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, p := range problems {
			fmt.Fprintln(w, p.String())
		}
	})
	mux.HandleFunc("GET /debug/nodes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Nodes())
	})
	mux.HandleFunc("GET /debug/model", func(w http.ResponseWriter, _ *http.Request) {
		m, _ := s.Model()
		writeJSON(w, m)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
