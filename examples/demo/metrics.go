package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// samples is a scrape of the proxy's /stats/prometheus.
type samples []sample

// scrapeMetrics fetches and parses the proxy's Prometheus metrics from its admin address.
func scrapeMetrics(ctx context.Context, client *http.Client, adminAddr string) (samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/stats/prometheus", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /stats/prometheus: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format: comment lines are skipped, each other line
// is `name{label="value",...} value [timestamp]`.
func parseMetrics(r io.Reader) (samples, error) {
	var out samples
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for lineNo := 1; scanner.Scan(); lineNo++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", lineNo, line, err)
		}
		out = append(out, s)
	}
	return out, scanner.Err()
}

func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return s, fmt.Errorf("no metric name")
	}
	s.name, line = line[:end], line[end:]
	if line[0] == '{' {
		rest, err := parseLabels(line[1:], s.labels)
		if err != nil {
			return s, err
		}
		line = rest
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// parseLabels reads `a="x",b="y"}` into labels and returns what follows the brace.
func parseLabels(in string, labels map[string]string) (string, error) {
	for {
		in = strings.TrimLeft(in, " ,")
		if in == "" {
			return "", fmt.Errorf("unterminated labels")
		}
		if in[0] == '}' {
			return in[1:], nil
		}
		eq := strings.IndexByte(in, '=')
		if eq <= 0 || eq+1 >= len(in) || in[eq+1] != '"' {
			return "", fmt.Errorf("bad label near %q", in)
		}
		key := strings.TrimSpace(in[:eq])
		in = in[eq+2:]
		var value strings.Builder
		closed := false
		for i := 0; i < len(in); i++ {
			c := in[i]
			if c == '\\' && i+1 < len(in) {
				i++
				switch in[i] {
				case 'n':
					value.WriteByte('\n')
				default:
					value.WriteByte(in[i])
				}
				continue
			}
			if c == '"' {
				in = in[i+1:]
				closed = true
				break
			}
			value.WriteByte(c)
		}
		if !closed {
			return "", fmt.Errorf("unterminated value of label %q", key)
		}
		labels[key] = value.String()
	}
}

// sum adds the values of the series of name whose labels include match.
func (m samples) sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, s := range m {
		if s.name == name && hasLabels(s.labels, match) {
			total += s.value
		}
	}
	return total
}

// byLabel totals the series of name by the value of label.
func (m samples) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.name == name {
			out[s.labels[label]] += s.value
		}
	}
	return out
}

// byProtocol totals the series of name by protocol and then by the value of label (by the
// subset, when label is ""). The protocol and the subset come from the Istio-style name in
// the label nameLabel: "outbound|<port>|<subset>|<host>" — a listener's or a cluster's —
// whose host is one of the demo's services (serviceHosts); a name that is not one of
// those counts under itself.
func (m samples) byProtocol(name, nameLabel, label string) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, s := range m {
		if s.name != name {
			continue
		}
		protocol, subset := s.labels[nameLabel], ""
		if parts := strings.Split(protocol, "|"); len(parts) == 4 && serviceHosts[parts[3]] != "" {
			protocol, subset = serviceHosts[parts[3]], parts[2]
		}
		key := subset
		if label != "" {
			key = s.labels[label]
		} else if key == "" {
			key = "(all)"
		}
		if out[protocol] == nil {
			out[protocol] = map[string]float64{}
		}
		out[protocol][key] += s.value
	}
	return out
}

func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}
