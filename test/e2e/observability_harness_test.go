package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"text/template"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// observedPorts are the values of the observability-*.yaml templates.
type observedPorts struct {
	Admin, Proxy, Upstream int
	// AccessLog is the access log file; Collector the OTLP receiver's host:port.
	AccessLog, Collector string
	// Listener names the listener (its direction: "inbound|..." or "outbound|..."); Service
	// is the spans' service.name.
	Listener, Service string
	// Interface is the prefix of the interfaces the listener routes; Workload, Namespace,
	// App and Version name the proxy's workload (observability-peers.yaml).
	Interface, Workload, Namespace, App, Version string
}

// startObservedProxy renders testdata/<templateName> with ports, starts `breeze proxy` on
// it and waits until its admin /ready answers 200.
func startObservedProxy(t *testing.T, templateName string, ports observedPorts) *proxyProcess {
	t.Helper()
	if ports.Admin == 0 {
		ports.Admin = freePort(t)
	}
	if ports.Proxy == 0 {
		ports.Proxy = freePort(t)
	}
	tmpl, err := template.New(templateName).Option("missingkey=error").ParseFiles(filepath.Join("testdata", templateName))
	if err != nil {
		t.Fatal(err)
	}
	var config bytes.Buffer
	if err := tmpl.Execute(&config, ports); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, config.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binaries.breeze, "proxy", "-c", path, "--log-level", "info")
	p := &proxyProcess{
		child: startChild(t, "breeze proxy "+ports.Listener, cmd, ""),
		addr:  loopback(ports.Proxy),
		admin: loopback(ports.Admin),
		http:  &http.Client{Timeout: 5 * time.Second},
	}
	waitFor(t, "proxy /ready", func() error {
		select {
		case <-p.exited:
			t.Fatalf("breeze proxy exited during start: %v\n%s\nconfig:\n%s", p.waitErr, p.output, config.String())
		default:
		}
		resp, err := p.http.Get("http://" + p.admin + "/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/ready: %s", resp.Status)
		}
		return nil
	})
	return p
}

// scrape fetches the proxy's /stats/prometheus and parses it with the Prometheus text
// parser (github.com/prometheus/common/expfmt), the one Prometheus itself uses.
func (p *proxyProcess) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/stats/prometheus", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /stats/prometheus: %v", err)
	}
	return fams
}

// seriesWith returns the metrics of a family whose labels include want.
func seriesWith(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if hasLabels(labels, want) {
			out = append(out, m)
		}
	}
	return out
}
