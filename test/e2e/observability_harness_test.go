package e2e

import (
	"bytes"
	"testing"

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
	pickPorts(t, &ports.Admin, &ports.Proxy)
	return startNamedProxy(t, "breeze proxy "+ports.Listener, renderTestdata(t, templateName, ports),
		loopback(ports.Proxy), loopback(ports.Admin))
}

// scrape fetches the proxy's /stats/prometheus and parses it with the Prometheus text
// parser (github.com/prometheus/common/expfmt), the one Prometheus itself uses.
func (p *proxyProcess) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(p.adminGet(t, "/stats/prometheus")))
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
