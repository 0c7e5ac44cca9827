package xdscontract

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/breeze-mesh/breeze/control/translate"
)

// contractFields are the fields docs/xds.md says the control plane sets, per message. The
// list makes sure nothing is sent that the proxy does not run. Messages of google.protobuf are leaves.
var contractFields = map[protoreflect.FullName][]protoreflect.Name{
	"envoy.config.listener.v3.Listener":                  {"name", "address", "filter_chains"},
	"envoy.config.listener.v3.FilterChain":               {"filters"},
	"envoy.config.listener.v3.Filter":                    {"name", "typed_config"},
	"envoy.config.core.v3.Address":                       {"socket_address"},
	"envoy.config.core.v3.SocketAddress":                 {"address", "port_value"},
	"envoy.config.cluster.v3.Cluster":                    {"name", "type", "eds_cluster_config", "connect_timeout", "lb_policy", "outlier_detection", "circuit_breakers"},
	"envoy.config.cluster.v3.OutlierDetection":           {"consecutive_5xx", "interval", "base_ejection_time", "max_ejection_percent"},
	"envoy.config.cluster.v3.CircuitBreakers":            {"thresholds"},
	"envoy.config.cluster.v3.CircuitBreakers.Thresholds": {"max_connections", "max_pending_requests", "max_requests", "max_retries"},
	"envoy.config.cluster.v3.Cluster.EdsClusterConfig":   {"eds_config"},
	"envoy.config.core.v3.ConfigSource":                  {"ads", "resource_api_version"},
	"envoy.config.core.v3.AggregatedConfigSource":        {},
	"envoy.config.endpoint.v3.ClusterLoadAssignment":     {"cluster_name", "endpoints"},
	"envoy.config.endpoint.v3.LocalityLbEndpoints":       {"lb_endpoints"},
	"envoy.config.endpoint.v3.LbEndpoint":                {"endpoint", "load_balancing_weight"},
	"envoy.config.endpoint.v3.Endpoint":                  {"address"},

	"breeze.metaprotocol.v1alpha1.MetaProtocolProxy":      {"stat_prefix", "application_protocol", "codec", "rds", "meta_protocol_filters"},
	"breeze.metaprotocol.v1alpha1.MetaProtocolFilter":     {"name", "config"},
	"breeze.metaprotocol.v1alpha1.Codec":                  {"name"},
	"breeze.metaprotocol.v1alpha1.Rds":                    {"route_config_name", "config_source"},
	"breeze.metaprotocol.v1alpha1.ConfigSource":           {"ads", "resource_api_version"},
	"breeze.metaprotocol.v1alpha1.AggregatedConfigSource": {},
	"breeze.metaprotocol.v1alpha1.RouteConfiguration":     {"name", "routes"},
	"breeze.metaprotocol.v1alpha1.Route":                  {"name", "match", "route", "request_mutation", "response_mutation"},
	"breeze.metaprotocol.v1alpha1.RouteMatch":             {"metadata"},
	"breeze.metaprotocol.v1alpha1.MetadataMatcher":        {"name", "exact", "prefix", "safe_regex", "present"},
	"breeze.metaprotocol.v1alpha1.RouteAction":            {"cluster", "weighted_clusters", "timeout", "hash_policy", "request_mirror_policies"},
	"breeze.metaprotocol.v1alpha1.RequestMirrorPolicy":    {"cluster", "percent"},
	"breeze.metaprotocol.v1alpha1.WeightedCluster":        {"clusters"},
	"breeze.metaprotocol.v1alpha1.ClusterWeight":          {"name", "weight"},
	"breeze.metaprotocol.v1alpha1.KeyValue":               {"key", "value"},

	"breeze.filters.local_ratelimit.v1alpha1.LocalRateLimit":          {"token_bucket", "conditions"},
	"breeze.filters.local_ratelimit.v1alpha1.LocalRateLimitCondition": {"match", "token_bucket"},
	"breeze.filters.local_ratelimit.v1alpha1.TokenBucket":             {"max_tokens", "tokens_per_fill", "fill_interval"},
	"breeze.filters.global_ratelimit.v1alpha1.GlobalRateLimit":        {"match", "domain", "request_timeout", "deny_on_fail", "rate_limit_service", "descriptors"},
	"breeze.filters.global_ratelimit.v1alpha1.Descriptor":             {"property", "descriptor_key"},
	"breeze.filters.metadata_exchange.v1alpha1.MetadataExchange":      {},
	"breeze.filters.istio_stats.v1alpha1.IstioStats":                  {"destination_service"},
}

// checkFields reports every set field outside contractFields.
func checkFields(t *testing.T, res *translate.Resources) {
	t.Helper()
	var msgs []proto.Message
	for _, l := range res.Listeners {
		msgs = append(msgs, l)
	}
	for _, c := range res.Clusters {
		msgs = append(msgs, c)
	}
	for _, cla := range res.LoadAssignments {
		msgs = append(msgs, cla)
	}
	for _, rc := range res.Routes {
		msgs = append(msgs, rc)
	}
	for _, m := range msgs {
		walk(t, m.ProtoReflect())
	}
}

func walk(t *testing.T, m protoreflect.Message) {
	t.Helper()
	md := m.Descriptor()
	if md.FullName() == "google.protobuf.Any" {
		inner, err := anypb.UnmarshalNew(m.Interface().(*anypb.Any), proto.UnmarshalOptions{})
		if err != nil {
			t.Errorf("cannot decode %s: %v", m.Interface().(*anypb.Any).GetTypeUrl(), err)
			return
		}
		walk(t, inner.ProtoReflect())
		return
	}
	if md.ParentFile().Package() == "google.protobuf" {
		return
	}
	allowed, known := contractFields[md.FullName()]
	if !known {
		t.Errorf("%s is not in the contract (docs/xds.md)", md.FullName())
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if !slices.Contains(allowed, fd.Name()) {
			t.Errorf("%s.%s is set but is not in the contract (docs/xds.md)", md.FullName(), fd.Name())
			return true
		}
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			for i := 0; i < v.List().Len(); i++ {
				walk(t, v.List().Get(i).Message())
			}
		case fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind:
			walk(t, v.Message())
		}
		return true
	})
}
