package bootstrap

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// supportedFields is the subset of Envoy's bootstrap (and of Breeze's own filter config)
// that Breeze implements: for each message type, the fields a static bootstrap may set. A
// field that parses but is not listed here is refused, so that no setting is silently
// ignored. docs/bootstrap.md describes the same subset for users; keep them in step.
//
// An entry is a field name, optionally followed by a restriction:
//
//	name=A|B       an enum field that may only take the values A or B
//	name[k1|k2]    a map field whose keys may only be k1 or k2
//	name<T1|T2>    an Any field whose message must be of type T1 or T2 (then checked itself)
//	name<*>        an Any field of any registered type, not checked further (a filter's own
//	               config, which the filter validates when it is built)
//	name<T1|T2|*>  an Any field of any registered type; T1 and T2 are checked, others are not
//
// Messages of the google.protobuf package (Duration, UInt32Value, Struct, ...) are leaves.
// A message reached through an allowed field but missing from the table is refused whole.
var supportedFields = map[protoreflect.FullName][]string{
	// Envoy's bootstrap: an admin address, static listeners and clusters and, with a control
	// plane, the ADS stream and the node's identity.
	"envoy.config.bootstrap.v3.Bootstrap":                 {"admin", "static_resources", "dynamic_resources", "node"},
	"envoy.config.bootstrap.v3.Admin":                     {"address"},
	"envoy.config.bootstrap.v3.Bootstrap.StaticResources": {"listeners", "clusters"},
	"envoy.config.core.v3.Address":                        {"socket_address"},
	"envoy.config.core.v3.SocketAddress":                  {"address", "port_value"},

	// Dynamic resources: everything over one ADS stream to a control plane named by a static
	// cluster (docs/xds.md).
	"envoy.config.bootstrap.v3.Bootstrap.DynamicResources": {"ads_config", "lds_config", "cds_config"},
	"envoy.config.core.v3.ApiConfigSource":                 {"api_type=GRPC", "transport_api_version=V3", "grpc_services"},
	"envoy.config.core.v3.GrpcService":                     {"envoy_grpc"},
	"envoy.config.core.v3.GrpcService.EnvoyGrpc":           {"cluster_name"},
	"envoy.config.core.v3.ConfigSource":                    {"ads", "resource_api_version=V3"},
	"envoy.config.core.v3.AggregatedConfigSource":          {},
	"envoy.config.core.v3.Node":                            {"id", "cluster", "metadata"},

	// Listeners: one filter chain holding the meta-protocol proxy.
	"envoy.config.listener.v3.Listener":    {"name", "address", "filter_chains"},
	"envoy.config.listener.v3.FilterChain": {"filters"},
	"envoy.config.listener.v3.Filter":      {"name", "typed_config<breeze.metaprotocol.v1alpha1.MetaProtocolProxy>"},

	// Clusters: static endpoints, and how requests are balanced over them and protected
	// (proxy/upstream).
	"envoy.config.cluster.v3.Cluster": {"name", "type=STATIC", "connect_timeout",
		"lb_policy=ROUND_ROBIN|RANDOM|LEAST_REQUEST|RING_HASH|MAGLEV", "load_assignment", "circuit_breakers",
		"ring_hash_lb_config", "maglev_lb_config", "least_request_lb_config", "common_lb_config",
		"outlier_detection", "health_checks", "common_http_protocol_options", "upstream_connection_options",
		"lb_subset_config"},
	"envoy.config.cluster.v3.CircuitBreakers":              {"thresholds", "per_host_thresholds"},
	"envoy.config.cluster.v3.CircuitBreakers.Thresholds":   {"priority=DEFAULT", "max_connections", "max_pending_requests", "max_requests", "max_retries"},
	"envoy.config.cluster.v3.Cluster.RingHashLbConfig":     {"minimum_ring_size", "maximum_ring_size", "hash_function=XX_HASH"},
	"envoy.config.cluster.v3.Cluster.MaglevLbConfig":       {"table_size"},
	"envoy.config.cluster.v3.Cluster.LeastRequestLbConfig": {"choice_count"},
	"envoy.config.cluster.v3.Cluster.CommonLbConfig":       {"healthy_panic_threshold"},
	"envoy.type.v3.Percent":                                {"value"},
	"envoy.config.cluster.v3.OutlierDetection": {"consecutive_5xx", "consecutive_gateway_failure",
		"enforcing_consecutive_5xx", "enforcing_consecutive_gateway_failure", "enforcing_success_rate",
		"interval", "base_ejection_time", "max_ejection_time", "max_ejection_percent",
		"success_rate_minimum_hosts", "success_rate_request_volume", "success_rate_stdev_factor"},
	"envoy.config.core.v3.HealthCheck": {"timeout", "interval", "interval_jitter", "unhealthy_threshold",
		"healthy_threshold", "tcp_health_check", "custom_health_check"},
	"envoy.config.core.v3.HealthCheck.TcpHealthCheck":    {},
	"envoy.config.core.v3.HealthCheck.CustomHealthCheck": {"name", "typed_config<breeze.metaprotocol.v1alpha1.HeartbeatHealthCheck>"},
	"breeze.metaprotocol.v1alpha1.HeartbeatHealthCheck":  {"codec"},
	"envoy.config.core.v3.HttpProtocolOptions":           {"idle_timeout"},
	"envoy.config.cluster.v3.UpstreamConnectionOptions":  {"tcp_keepalive"},
	"envoy.config.core.v3.TcpKeepalive":                  {"keepalive_probes", "keepalive_time", "keepalive_interval"},
	"envoy.config.endpoint.v3.ClusterLoadAssignment":     {"cluster_name", "endpoints"},
	"envoy.config.endpoint.v3.LocalityLbEndpoints":       {"lb_endpoints"},
	"envoy.config.endpoint.v3.LbEndpoint":                {"endpoint", "load_balancing_weight", "metadata"},
	"envoy.config.endpoint.v3.Endpoint":                  {"address"},
	"envoy.config.core.v3.Metadata":                      {"filter_metadata[envoy.lb|istio]"},

	// Breeze's meta-protocol proxy, with its routes inline or, with a control plane, over RDS.
	"breeze.metaprotocol.v1alpha1.MetaProtocolProxy": {"stat_prefix", "application_protocol", "codec",
		"route_config", "rds", "meta_protocol_filters", "idle_timeout", "max_frame_size", "protocol"},
	"breeze.metaprotocol.v1alpha1.Rds":                    {"route_config_name", "config_source"},
	"breeze.metaprotocol.v1alpha1.ConfigSource":           {"ads", "resource_api_version=V3"},
	"breeze.metaprotocol.v1alpha1.AggregatedConfigSource": {},
	"breeze.metaprotocol.v1alpha1.Codec":                  {"name"},
	"breeze.metaprotocol.v1alpha1.Protocol":               {"name", "codec", "multiplexing=AUTO"},
	// A filter's config: the types of the built-in filters listed here are checked; any
	// other registered type passes through to its filter.
	"breeze.metaprotocol.v1alpha1.MetaProtocolFilter": {"name", "config<" + strings.Join(filterConfigTypes, "|") + "|*>"},
	"breeze.metaprotocol.v1alpha1.RouteConfiguration": {"name", "routes"},
	"breeze.metaprotocol.v1alpha1.Route":              {"name", "match", "route", "request_mutation", "response_mutation"},
	"breeze.metaprotocol.v1alpha1.RouteMatch":         {"metadata"},
	"breeze.metaprotocol.v1alpha1.MetadataMatcher":    {"name", "exact", "prefix", "suffix", "contains", "safe_regex", "present", "invert_match"},
	"breeze.metaprotocol.v1alpha1.RouteAction": {"cluster", "weighted_clusters", "timeout", "hash_policy", "retry_policy",
		"request_mirror_policies", "metadata_match"},
	"breeze.metaprotocol.v1alpha1.RequestMirrorPolicy":      {"cluster", "runtime_fraction", "percent"},
	"breeze.metaprotocol.v1alpha1.RuntimeFractionalPercent": {"default_value"},
	"breeze.metaprotocol.v1alpha1.FractionalPercent":        {"numerator", "denominator"},
	"breeze.metaprotocol.v1alpha1.RetryPolicy": {"retry_on", "num_retries", "per_try_timeout", "retriable_status_codes",
		"retry_back_off"},
	"breeze.metaprotocol.v1alpha1.RetryPolicy.RetryBackOff": {"base_interval", "max_interval"},
	"breeze.metaprotocol.v1alpha1.WeightedCluster":          {"clusters"},
	"breeze.metaprotocol.v1alpha1.ClusterWeight":            {"name", "weight", "metadata_match"},
	"breeze.metaprotocol.v1alpha1.KeyValue":                 {"key", "value"},

	// Subset load balancing: a cluster's lb_subset_config and the metadata_match of a route
	// or weighted cluster that chooses a subset (proxy/upstream/subset.go).
	"envoy.config.cluster.v3.Cluster.LbSubsetConfig": {"fallback_policy=NO_FALLBACK|ANY_ENDPOINT|DEFAULT_SUBSET",
		"default_subset", "subset_selectors"},
	"envoy.config.cluster.v3.Cluster.LbSubsetConfig.LbSubsetSelector": {"keys"},
	"breeze.metaprotocol.v1alpha1.Metadata":                           {"filter_metadata[envoy.lb]"},

	// Built-in filters' configs (proxy/filters/*/README.md).
	"breeze.filters.istio_stats.v1alpha1.IstioStats": {"destination_service", "reporter", "workload", "method_metrics"},
	"breeze.filters.istio_stats.v1alpha1.Workload": {"name", "namespace", "app", "version",
		"canonical_service", "canonical_revision", "cluster"},
	"breeze.filters.istio_stats.v1alpha1.MethodMetrics":          {"disabled", "service_keys", "method_key", "max_methods"},
	"breeze.filters.metadata_exchange.v1alpha1.MetadataExchange": {"workload"},
	"breeze.filters.tracing.v1alpha1.Tracing": {"otlp", "random_sampling", "propagation", "kind",
		"service_name", "metadata_attributes"},
	"breeze.filters.tracing.v1alpha1.Otlp": {"endpoint", "insecure", "headers", "timeout", "batch_timeout",
		"max_queue_size", "max_export_batch_size"},
	"breeze.filters.access_log.v1alpha1.AccessLog":                    {"path", "log_format", "buffer_size", "flush_interval"},
	"breeze.filters.access_log.v1alpha1.LogFormat":                    {"text_format", "json_format"},
	"breeze.filters.local_ratelimit.v1alpha1.LocalRateLimit":          {"stat_prefix", "token_bucket", "conditions"},
	"breeze.filters.local_ratelimit.v1alpha1.TokenBucket":             {"max_tokens", "tokens_per_fill", "fill_interval"},
	"breeze.filters.local_ratelimit.v1alpha1.LocalRateLimitCondition": {"match", "token_bucket"},
	"breeze.filters.fault.v1alpha1.Fault":                             {"match", "delay", "abort"},
	"breeze.filters.global_ratelimit.v1alpha1.GlobalRateLimit": {"match", "domain", "request_timeout", "deny_on_fail",
		"rate_limit_service", "descriptors", "stat_prefix"},
	"breeze.filters.global_ratelimit.v1alpha1.Descriptor": {"property", "descriptor_key"},
	"breeze.filters.fault.v1alpha1.Delay":                 {"fixed_delay", "percentage"},
	"breeze.filters.fault.v1alpha1.Abort":                 {"error_kind", "message", "percentage"},
}

// filterConfigTypes are the config messages of the built-in filters, checked against
// supportedFields when a bootstrap sets them.
var filterConfigTypes = []string{
	"breeze.filters.istio_stats.v1alpha1.IstioStats",
	"breeze.filters.metadata_exchange.v1alpha1.MetadataExchange",
	"breeze.filters.tracing.v1alpha1.Tracing",
	"breeze.filters.access_log.v1alpha1.AccessLog",
	"breeze.filters.local_ratelimit.v1alpha1.LocalRateLimit",
	"breeze.filters.fault.v1alpha1.Fault",
	"breeze.filters.global_ratelimit.v1alpha1.GlobalRateLimit",
}

// fieldRule is one parsed entry of supportedFields.
type fieldRule struct {
	enumValues []string // allowed enum value names; nil allows any
	mapKeys    []string // allowed map keys; nil allows any
	anyTypes   []string // allowed Any message types, checked; nil allows any
	anyOpaque  bool     // an Any of a type not in anyTypes is allowed and not walked into
}

// messageRule is the parsed entry of one message type.
type messageRule struct {
	order  []string // field names in table order, for hints
	fields map[protoreflect.Name]fieldRule
}

func (r messageRule) names() string { return strings.Join(r.order, ", ") }

var allowList = sync.OnceValue(func() map[protoreflect.FullName]messageRule {
	rules := make(map[protoreflect.FullName]messageRule, len(supportedFields))
	for msg, entries := range supportedFields {
		rule := messageRule{fields: map[protoreflect.Name]fieldRule{}}
		for _, entry := range entries {
			name, fr := parseEntry(entry)
			rule.order = append(rule.order, name)
			rule.fields[protoreflect.Name(name)] = fr
		}
		rules[msg] = rule
	}
	return rules
})

// parseEntry splits an entry of supportedFields into the field name and its restriction.
func parseEntry(entry string) (string, fieldRule) {
	var fr fieldRule
	if name, values, ok := strings.Cut(entry, "="); ok {
		fr.enumValues = strings.Split(values, "|")
		return name, fr
	}
	if name, keys, ok := strings.Cut(entry, "["); ok {
		fr.mapKeys = strings.Split(strings.TrimSuffix(keys, "]"), "|")
		return name, fr
	}
	if name, types, ok := strings.Cut(entry, "<"); ok {
		types = strings.TrimSuffix(types, ">")
		for _, t := range strings.Split(types, "|") {
			if t == "*" {
				fr.anyOpaque = true
			} else {
				fr.anyTypes = append(fr.anyTypes, t)
			}
		}
		return name, fr
	}
	return entry, fr
}

// supportChecker walks a parsed message and reports every set field that is not in the
// allow-list.
type supportChecker struct {
	types *protoregistry.Types
	problemList
}

func (c *supportChecker) message(path string, m protoreflect.Message) {
	md := m.Descriptor()
	if md.ParentFile().Package() == "google.protobuf" || c.full() {
		return
	}
	rule, ok := allowList()[md.FullName()]
	if !ok {
		c.report(path, "%s is not supported by Breeze", md.FullName())
		return
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		fp := field(path, string(fd.Name()))
		fr, ok := rule.fields[fd.Name()]
		if !ok {
			c.report(fp, "not supported by Breeze (supported fields here: %s)", rule.names())
			continue
		}
		c.field(fp, fd, fr, m.Get(fd))
	}
}

func (c *supportChecker) field(path string, fd protoreflect.FieldDescriptor, fr fieldRule, v protoreflect.Value) {
	switch {
	case fd.IsMap():
		var keys []string
		v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k.String())
			return true
		})
		sort.Strings(keys)
		for _, k := range keys {
			kp := field(path, k)
			if fr.mapKeys != nil && !slices.Contains(fr.mapKeys, k) {
				c.report(kp, "not supported by Breeze (supported keys here: %s)", strings.Join(fr.mapKeys, ", "))
				continue
			}
			mv := v.Map().Get(protoreflect.ValueOfString(k).MapKey())
			c.single(kp, fd.MapValue(), fr, mv)
		}
	case fd.IsList():
		for i := 0; i < v.List().Len(); i++ {
			c.single(elem(path, i), fd, fr, v.List().Get(i))
		}
	default:
		c.single(path, fd, fr, v)
	}
}

func (c *supportChecker) single(path string, fd protoreflect.FieldDescriptor, fr fieldRule, v protoreflect.Value) {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if fr.enumValues == nil {
			return
		}
		name := fmt.Sprint(v.Enum())
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			name = string(ev.Name())
		}
		if !slices.Contains(fr.enumValues, name) {
			c.report(path, "%s is not supported by Breeze (supported values: %s)", name, strings.Join(fr.enumValues, ", "))
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if fd.Message().FullName() == "google.protobuf.Any" {
			c.anyMessage(path, fr, v.Message())
			return
		}
		c.message(path, v.Message())
	}
}

func (c *supportChecker) anyMessage(path string, fr fieldRule, m protoreflect.Message) {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		if !fr.anyOpaque {
			c.report(path, "cannot read this Any")
		}
		return
	}
	name := string(a.MessageName())
	if fr.anyOpaque && !slices.Contains(fr.anyTypes, name) {
		return
	}
	if fr.anyTypes != nil && !slices.Contains(fr.anyTypes, name) {
		c.report(field(path, "@type"), "%s is not supported by Breeze here (supported: %s)", a.GetTypeUrl(), strings.Join(fr.anyTypes, ", "))
		return
	}
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{Resolver: c.types})
	if err != nil {
		c.report(path, "cannot decode %s: %v", a.GetTypeUrl(), err)
		return
	}
	c.message(path, inner.ProtoReflect())
}
