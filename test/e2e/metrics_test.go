package e2e

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// sample is one series value of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text exposition format (comments skipped; each other
// line `name{k="v",...} value [timestamp]`). Label values may hold escaped quotes.
func parseMetrics(r io.Reader) ([]sample, error) {
	var out []sample
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			return nil, fmt.Errorf("metrics line %q: no name", line)
		}
		s.name, line = line[:end], line[end:]
		if line[0] == '{' {
			rest, err := parseLabels(line[1:], s.labels)
			if err != nil {
				return nil, fmt.Errorf("metrics line %q: %w", scanner.Text(), err)
			}
			line = rest
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics line %q: no value", scanner.Text())
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", scanner.Text(), err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, scanner.Err()
}

// parseLabels reads `k="v",...}` into labels and returns the text after the brace.
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
		key := in[:eq]
		in = in[eq+2:]
		var value strings.Builder
		i := 0
		for ; i < len(in) && in[i] != '"'; i++ {
			if in[i] == '\\' && i+1 < len(in) {
				i++
				if in[i] == 'n' {
					value.WriteByte('\n')
					continue
				}
			}
			value.WriteByte(in[i])
		}
		if i == len(in) {
			return "", fmt.Errorf("unterminated value of label %q", key)
		}
		labels[key] = value.String()
		in = in[i+1:]
	}
}

func hasLabels(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestParseMetrics runs without BREEZE_E2E: the harness's own parser must be right for
// the end-to-end assertions to mean anything.
func TestParseMetrics(t *testing.T) {
	text := "# TYPE x counter\n" +
		`breeze_route_requests_total{listener="dubbo",route="a"} 3` + "\n" +
		`weird{v="q\"uo,te"} 2 1700000000` + "\n" +
		"bare 1e3\n"
	got, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].labels["route"] != "a" || got[0].value != 3 ||
		got[1].labels["v"] != `q"uo,te` || got[1].value != 2 || got[2].value != 1000 {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{`x{a="b" 1`, `x{a=b} 1`, `x{a="b"}`, "x y"} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
