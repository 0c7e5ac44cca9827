package demo

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// view is everything one refresh of the live table shows.
type view struct {
	elapsed time.Duration
	// rate is the client's completed calls per second over the last interval.
	rate    float64
	servers []string // column order, e.g. v1, v2
	kinds   []requestKind
	stats   []kindStats
	// recent are the replies by server of each kind over the last interval: where the
	// traffic goes now (nil before the first interval).
	recent []map[string]int64
	// proxy is the proxy's own account, from its metrics; proxyErr says why it is missing.
	proxy    samples
	proxyErr error
}

// render draws the table.
func (v view) render() string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "breeze demo: %s running, %.0f requests/s   (Ctrl-C to stop)\n\n", v.elapsed.Round(time.Second), v.rate)

	tw := tabwriter.NewWriter(&buf, 0, 0, 3, ' ', 0)
	header := []string{"request", "expected route", "sent"}
	for _, s := range v.servers {
		header = append(header, "from "+s)
	}
	header = append(header, "errors", "now")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	var totalSent, totalErrors int64
	totalByServer := map[string]int64{}
	var lastErr string
	for i, k := range v.kinds {
		s := v.stats[i]
		route := k.route
		if route == "" {
			route = "(none)"
		}
		row := []string{k.label, route, fmt.Sprint(s.sent)}
		for _, name := range v.servers {
			row = append(row, fmt.Sprint(s.byServer[name]))
			totalByServer[name] += s.byServer[name]
		}
		row = append(row, fmt.Sprint(s.errors), v.now(i))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
		totalSent += s.sent
		totalErrors += s.errors
		if s.lastErr != "" {
			lastErr = k.label + ": " + s.lastErr
		}
	}
	row := []string{"total", "", fmt.Sprint(totalSent)}
	for _, name := range v.servers {
		row = append(row, fmt.Sprint(totalByServer[name]))
	}
	row = append(row, fmt.Sprint(totalErrors))
	fmt.Fprintln(tw, strings.Join(row, "\t"))
	tw.Flush()

	buf.WriteString("\nthe proxy's count (from its /stats/prometheus):\n")
	if v.proxyErr != nil {
		fmt.Fprintf(&buf, "  unavailable: %v\n", v.proxyErr)
	} else {
		fmt.Fprintf(&buf, "  requests  %.0f, decode errors %.0f\n",
			v.proxy.sum("breeze_listener_requests_total", nil), v.proxy.sum("breeze_listener_decode_errors_total", nil))
		routes := v.proxy.byProtocol("breeze_route_requests_total", "listener", "route")
		subsets := v.proxy.byProtocol("breeze_cluster_upstream_requests_total", "cluster", "")
		for _, p := range protocolsOf(v.kinds, routes, subsets) {
			fmt.Fprintf(&buf, "  %-8s routes   %s\n", p, formatCounts(routes[p]))
			fmt.Fprintf(&buf, "  %-8s subsets  %s\n", "", formatCounts(subsets[p]))
		}
		fmt.Fprintf(&buf, "  answered by the proxy itself  %s\n", formatCounts(v.proxy.byLabel("breeze_listener_local_replies_total", "kind")))
	}
	if lastErr != "" {
		// One line, short enough not to wrap: the live redraw counts lines.
		fmt.Fprintf(&buf, "\nlast error  %s\n", truncate(lastErr, 100))
	}
	return buf.String()
}

// protocolsOf lists the protocols of the traffic mix, in its order, then any other the
// proxy counted requests of, sorted (not the control plane's cluster, which carries no
// requests).
func protocolsOf(kinds []requestKind, counted ...map[string]map[string]float64) []string {
	var out []string
	for _, k := range kinds {
		if !slices.Contains(out, k.protocol) {
			out = append(out, k.protocol)
		}
	}
	var others []string
	for _, m := range counted {
		for p, counts := range m {
			if !slices.Contains(out, p) && !slices.Contains(others, p) && formatCounts(counts) != "-" {
				others = append(others, p)
			}
		}
	}
	sort.Strings(others)
	return append(out, others...)
}

// now renders where kind i's calls went over the last interval, as shares per server:
// "v1 20% · v2 80%".
func (v view) now(i int) string {
	if i >= len(v.recent) {
		return "-"
	}
	var total int64
	for _, n := range v.recent[i] {
		total += n
	}
	if total == 0 {
		return "-"
	}
	var parts []string
	for _, name := range v.servers {
		if n := v.recent[i][name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", name, float64(n)*100/float64(total)))
		}
	}
	return strings.Join(parts, " · ")
}

// since is the replies by server of each kind between the snapshots prev and cur (all of
// cur's when prev is nil).
func since(cur, prev []kindStats) []map[string]int64 {
	out := make([]map[string]int64, len(cur))
	for i, s := range cur {
		out[i] = map[string]int64{}
		for name, n := range s.byServer {
			if i < len(prev) {
				n -= prev[i].byServer[name]
			}
			out[i][name] = n
		}
	}
	return out
}

// formatCounts renders counts as "a 1 · b 2", sorted by name, leaving zeros out.
func formatCounts(counts map[string]float64) string {
	names := make([]string, 0, len(counts))
	for name, n := range counts {
		if n != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "-"
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %.0f", name, counts[name])
	}
	return strings.Join(parts, " · ")
}

// truncate shortens s to at most n runes, on one line.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// totalSent is the number of calls completed so far, for the request rate.
func totalSent(stats []kindStats) int64 {
	var n int64
	for _, s := range stats {
		n += s.sent
	}
	return n
}
