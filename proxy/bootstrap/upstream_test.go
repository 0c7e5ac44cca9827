package bootstrap

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// beatingCodec stands in for a codec that can send heartbeats (the Dubbo codec is not
// linked into these tests).
type beatingCodec struct{ fakeCodec }

func (beatingCodec) HeartbeatRequest(uint64) []byte { return nil }

func init() {
	protocol.Register(protocol.Registration{Name: "beating", New: func(protocol.Options) protocol.Codec { return beatingCodec{} }})
}

// resilienceBootstrap sets every balancing and resilience field docs/bootstrap.md lists,
// in its YAML form.
const resilienceBootstrap = `
static_resources:
  listeners:
  - name: in
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          codec: {name: beating}
          route_config:
            routes:
            - route:
                cluster: greeter
                timeout: 3s
                hash_policy: [user]
                retry_policy: {retry_on: "connect-failure,reset", num_retries: 2, per_try_timeout: 1s}
  clusters:
  - name: greeter
    type: STATIC
    connect_timeout: 1s
    lb_policy: RING_HASH
    ring_hash_lb_config: {minimum_ring_size: 512, maximum_ring_size: 4096, hash_function: XX_HASH}
    common_lb_config: {healthy_panic_threshold: {value: 30}}
    circuit_breakers:
      thresholds: [{priority: DEFAULT, max_connections: 8, max_requests: 1000, max_pending_requests: 100, max_retries: 3}]
      per_host_thresholds: [{max_connections: 4}]
    outlier_detection:
      consecutive_5xx: 4
      consecutive_gateway_failure: 2
      enforcing_consecutive_5xx: 100
      enforcing_consecutive_gateway_failure: 100
      enforcing_success_rate: 0
      interval: 5s
      base_ejection_time: 10s
      max_ejection_time: 60s
      max_ejection_percent: 50
      success_rate_minimum_hosts: 3
      success_rate_request_volume: 50
      success_rate_stdev_factor: 1500
    health_checks:
    - timeout: 1s
      interval: 5s
      interval_jitter: 0.5s
      unhealthy_threshold: 2
      healthy_threshold: 1
      custom_health_check:
        name: breeze.health_checkers.heartbeat
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.HeartbeatHealthCheck
          codec: beating
    common_http_protocol_options: {idle_timeout: 300s}
    upstream_connection_options: {tcp_keepalive: {keepalive_probes: 3, keepalive_time: 60, keepalive_interval: 10}}
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 20881}}}
  - name: other
    lb_policy: MAGLEV
    maglev_lb_config: {table_size: 65537}
    health_checks: [{timeout: 1s, interval: 5s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}]
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 20882}}}
`

func TestLoadResilienceFields(t *testing.T) {
	b, err := Parse([]byte(resilienceBootstrap), "bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt := b.Listeners[0].Routes.Routes[0]
	if strings.Join(rt.HashPolicy, ",") != "user" ||
		!reflect.DeepEqual(*rt.Retry, config.RetryPolicy{On: config.RetryOnConnectFailure | config.RetryOnReset, NumRetries: 2, PerTryTimeout: time.Second,
			BackOff: config.DefaultRetryBackOff}) {
		t.Errorf("route: hash %v retry %+v", rt.HashPolicy, rt.Retry)
	}
	c := b.Clusters[0]
	if c.LBPolicy != config.RingHash || c.RingHash != (config.RingHashConfig{MinimumRingSize: 512, MaximumRingSize: 4096}) ||
		c.HealthyPanicThreshold != 30 || c.MaxConnectionsPerHost != 4 ||
		c.Limits != (config.Limits{MaxConnections: 8, MaxRequests: 1000, MaxPendingRequests: 100, MaxRetries: 3}) ||
		c.IdleTimeout != 300*time.Second || *c.TCPKeepalive != (config.TCPKeepalive{Probes: 3, Time: time.Minute, Interval: 10 * time.Second}) {
		t.Errorf("cluster: %+v", c)
	}
	if o := c.Outlier; o.ConsecutiveErrors != 4 || o.ConsecutiveGatewayFailures != 2 || o.EnforcingSuccessRate != 0 ||
		o.BaseEjectionTime != 10*time.Second || o.MaxEjectionTime != time.Minute || o.SuccessRateStdevFactor != 1500 {
		t.Errorf("outlier detection: %+v", o)
	}
	if hc := c.HealthCheck; hc.HeartbeatCodec != "beating" || hc.IntervalJitter != 500*time.Millisecond || hc.UnhealthyThreshold != 2 {
		t.Errorf("health check: %+v", hc)
	}
	if o := b.Clusters[1]; o.LBPolicy != config.Maglev || o.MaglevTableSize != 65537 || o.HealthCheck.HeartbeatCodec != "" {
		t.Errorf("second cluster: %+v", o)
	}
}

func TestResilienceFieldsRefused(t *testing.T) {
	for _, tt := range []struct{ old, new, want string }{
		{"lb_policy: MAGLEV", "lb_policy: CLUSTER_PROVIDED", `clusters[1].lb_policy: CLUSTER_PROVIDED is not supported by Breeze (supported values: ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH, MAGLEV)`},
		{"hash_function: XX_HASH", "hash_function: MURMUR_HASH_2", `ring_hash_lb_config.hash_function: MURMUR_HASH_2 is not supported by Breeze (supported values: XX_HASH)`},
		{"success_rate_stdev_factor: 1500", "failure_percentage_threshold: 80", `outlier_detection.failure_percentage_threshold: not supported by Breeze`},
		{"tcp_health_check: {}", "grpc_health_check: {}", `health_checks[0].grpc_health_check: not supported by Breeze`},
		{"breeze.metaprotocol.v1alpha1.HeartbeatHealthCheck\n          codec: beating", "google.protobuf.Empty",
			`custom_health_check.typed_config.@type: type.googleapis.com/google.protobuf.Empty is not supported by Breeze here (supported: breeze.metaprotocol.v1alpha1.HeartbeatHealthCheck)`},
		{"max_retries: 3}]", "max_retries: 3, retry_budget: {}}]", `thresholds[0].retry_budget: not supported by Breeze`},
	} {
		_, err := Parse([]byte(strings.Replace(resilienceBootstrap, tt.old, tt.new, 1)), "bootstrap.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s → %s: error %v\nwant it to contain %s", tt.old, tt.new, err, tt.want)
		}
	}
}
