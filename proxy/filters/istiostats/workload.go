package istiostats

import (
	"strings"

	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// unknown is Istio's value for a label it cannot fill.
const unknown = "unknown"

// workload is one side's Istio labels.
type workload struct {
	name, namespace, app, version, canonicalService, canonicalRevision, cluster string
}

// unknownWorkload is a peer this proxy knows nothing about.
var unknownWorkload = workload{unknown, unknown, unknown, unknown, unknown, unknown, unknown}

// localWorkload is the proxy's own workload: the configured fields, then the node's
// metadata in Breeze's keys (docs/xds.md) or Istio's, then "unknown".
func localWorkload(cfg *istiostatsv1.Workload, node config.Node) workload {
	md := node.Metadata
	labels := stringMap(first(md, "labels", "LABELS"))
	w := workload{
		name:      pick(cfg.GetName(), str(md, "workload", "WORKLOAD_NAME")),
		namespace: pick(cfg.GetNamespace(), str(md, "namespace", "NAMESPACE")),
		app:       pick(cfg.GetApp(), labels["app"], labels["app.kubernetes.io/name"]),
		version:   pick(cfg.GetVersion(), labels["version"], labels["app.kubernetes.io/version"]),
		cluster:   pick(cfg.GetCluster(), str(md, "cluster_id", "CLUSTER_ID")),
	}
	// Istio's canonical service and revision fall back to the app and version labels, then
	// to the workload name and "latest".
	w.canonicalService = pick(cfg.GetCanonicalService(), labels["service.istio.io/canonical-name"], w.app, w.name)
	w.canonicalRevision = pick(cfg.GetCanonicalRevision(), labels["service.istio.io/canonical-revision"], w.version, "latest")
	for _, f := range []*string{&w.name, &w.namespace, &w.app, &w.version, &w.canonicalService, &w.cluster} {
		if *f == "" {
			*f = unknown
		}
	}
	return w
}

// pick returns the first non-empty value.
func pick(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func first(md map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := md[k]; ok {
			return v
		}
	}
	return nil
}

func str(md map[string]any, keys ...string) string {
	s, _ := first(md, keys...).(string)
	return s
}

// stringMap reads a JSON object of strings (node.metadata.labels); other values are skipped.
func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := make(map[string]string, len(m))
	for k, val := range m {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}

// destination is what the destination_service labels say about a cluster.
type destination struct {
	service, name, namespace string
}

// destinationOf names the service behind a cluster. Istio's cluster names carry the host
// ("outbound|20880|v1|greeter.default.svc.cluster.local", "inbound|20880||greeter..."); a
// Kubernetes host "<name>.<namespace>.svc..." also gives the service's name and namespace.
// Any other cluster name is taken as the service itself.
func destinationOf(cluster string) destination {
	host := cluster
	if parts := strings.Split(cluster, "|"); len(parts) == 4 && (parts[0] == "outbound" || parts[0] == "inbound") {
		host = parts[3]
	}
	return destinationOfHost(host)
}

func destinationOfHost(host string) destination {
	if host == "" {
		return destination{unknown, unknown, unknown}
	}
	labels := strings.Split(host, ".")
	if len(labels) >= 3 && labels[2] == "svc" {
		return destination{host, labels[0], labels[1]}
	}
	return destination{host, host, unknown}
}
