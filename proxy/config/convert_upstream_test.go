package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
)

// beatingCodec can send heartbeats, as the heartbeat health check needs.
type beatingCodec struct{ fakeCodec }

func (beatingCodec) HeartbeatRequest(uint64) []byte { return []byte("beat") }

func init() {
	protocol.Register(protocol.Registration{Name: "beating", New: func(protocol.Options) protocol.Codec { return beatingCodec{} }})
}

func heartbeatCheck(t *testing.T, codec string) *corev3.HealthCheck_CustomHealthCheck_ {
	t.Helper()
	cfg, err := anypb.New(&mpv1.HeartbeatHealthCheck{Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.HealthCheck_CustomHealthCheck_{CustomHealthCheck: &corev3.HealthCheck_CustomHealthCheck{
		Name: HeartbeatHealthChecker, ConfigType: &corev3.HealthCheck_CustomHealthCheck_TypedConfig{TypedConfig: cfg},
	}}
}

// healthCheck is a complete health check with checker (one of the HealthChecker oneof's
// wrapper types).
func healthCheck(checker any) *corev3.HealthCheck {
	hc := &corev3.HealthCheck{
		Timeout: durationpb.New(time.Second), Interval: durationpb.New(2 * time.Second), IntervalJitter: durationpb.New(100 * time.Millisecond),
		UnhealthyThreshold: wrapperspb.UInt32(3), HealthyThreshold: wrapperspb.UInt32(2),
	}
	switch c := checker.(type) {
	case *corev3.HealthCheck_TcpHealthCheck_:
		hc.HealthChecker = c
	case *corev3.HealthCheck_CustomHealthCheck_:
		hc.HealthChecker = c
	case *corev3.HealthCheck_HttpHealthCheck_:
		hc.HealthChecker = c
	}
	return hc
}

// TestFromClusterResilience converts every supported balancing and resilience field.
func TestFromClusterResilience(t *testing.T) {
	c := staticCluster()
	c.LbPolicy = clusterv3.Cluster_MAGLEV
	c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(251)}}
	c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: 25}}
	c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		MaxConnections: wrapperspb.UInt32(10), MaxPendingRequests: wrapperspb.UInt32(20),
		MaxRequests: wrapperspb.UInt32(30), MaxRetries: wrapperspb.UInt32(4),
	}}}
	c.OutlierDetection = &clusterv3.OutlierDetection{
		Consecutive_5Xx: wrapperspb.UInt32(3), Interval: durationpb.New(time.Second),
		BaseEjectionTime: durationpb.New(2 * time.Second), MaxEjectionPercent: wrapperspb.UInt32(50),
		EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100),
	}
	c.HealthChecks = []*corev3.HealthCheck{healthCheck(heartbeatCheck(t, "beating"))}
	c.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Minute)} //nolint:staticcheck // the field Breeze reads the upstream idle timeout from
	c.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: &corev3.TcpKeepalive{
		KeepaliveProbes: wrapperspb.UInt32(3), KeepaliveTime: wrapperspb.UInt32(60),
	}}

	got, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	wantOutlier := defaultOutlier
	wantOutlier.ConsecutiveErrors = 3
	wantOutlier.Interval = time.Second
	wantOutlier.BaseEjectionTime = 2 * time.Second
	wantOutlier.MaxEjectionPercent = 50
	wantOutlier.EnforcingConsecutiveGatewayFailures = 100
	checks := []struct {
		name      string
		got, want any
	}{
		{"policy", got.LBPolicy, Maglev},
		{"table size", got.MaglevTableSize, uint64(251)},
		{"panic threshold", got.HealthyPanicThreshold, 25.0},
		{"limits", got.Limits, Limits{MaxConnections: 10, MaxPendingRequests: 20, MaxRequests: 30, MaxRetries: 4}},
		{"outlier", *got.Outlier, wantOutlier},
		{"health check", *got.HealthCheck, HealthCheck{Timeout: time.Second, Interval: 2 * time.Second, IntervalJitter: 100 * time.Millisecond,
			UnhealthyThreshold: 3, HealthyThreshold: 2, HeartbeatCodec: "beating"}},
		{"idle timeout", got.IdleTimeout, time.Minute},
		{"keepalive", *got.TCPKeepalive, TCPKeepalive{Probes: 3, Time: time.Minute}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %+v, want %+v", ch.name, ch.got, ch.want)
		}
	}
}

func TestFromClusterHashPolicies(t *testing.T) {
	c := staticCluster()
	c.LbPolicy = clusterv3.Cluster_RING_HASH
	c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
		MinimumRingSize: wrapperspb.UInt64(64), MaximumRingSize: wrapperspb.UInt64(4096)}}
	got, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.LBPolicy != RingHash || got.RingHash != (RingHashConfig{MinimumRingSize: 64, MaximumRingSize: 4096}) {
		t.Fatalf("got %v %+v", got.LBPolicy, got.RingHash)
	}

	c = staticCluster()
	c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{ChoiceCount: wrapperspb.UInt32(3)}}
	if got, err = FromCluster(c); err != nil || got.LeastRequestChoices != 3 {
		t.Fatalf("least request choice count: %v, %v", got, err)
	}
}

// TestFromClusterOutlierDefaults: an empty outlier_detection turns detection on with
// Envoy's defaults, max_ejection_time following a longer base_ejection_time.
func TestFromClusterOutlierDefaults(t *testing.T) {
	c := staticCluster()
	c.OutlierDetection = &clusterv3.OutlierDetection{BaseEjectionTime: durationpb.New(10 * time.Minute)}
	got, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultOutlier
	want.BaseEjectionTime = 10 * time.Minute
	want.MaxEjectionTime = 10 * time.Minute
	if *got.Outlier != want {
		t.Fatalf("got %+v\nwant %+v", *got.Outlier, want)
	}
	c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRetries: wrapperspb.UInt32(0)}}}
	if got, err = FromCluster(c); err != nil || got.Limits.MaxRetries >= 0 {
		t.Fatalf("max_retries 0 must allow no retries: %+v, %v", got.Limits, err)
	}
}

func TestFromClusterResilienceErrors(t *testing.T) {
	tests := []struct {
		name    string
		cluster func(*clusterv3.Cluster)
		want    string
	}{
		{"ring config on round robin", func(c *clusterv3.Cluster) {
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{}}
		}, `ring_hash_lb_config: applies to lb_policy RING_HASH, but the cluster's is ROUND_ROBIN`},
		{"murmur", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{HashFunction: clusterv3.Cluster_RingHashLbConfig_MURMUR_HASH_2}}
		}, `ring_hash_lb_config.hash_function: MURMUR_HASH_2 is not supported by Breeze (only XX_HASH)`},
		{"ring sizes reversed", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
				MinimumRingSize: wrapperspb.UInt64(100), MaximumRingSize: wrapperspb.UInt64(10)}}
		}, `ring_hash_lb_config.minimum_ring_size: 100 exceeds maximum_ring_size 10`},
		{"maglev not prime", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_MAGLEV
			c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(1000)}}
		}, `maglev_lb_config.table_size: must be a prime up to 5000011, got 1000`},
		{"one choice", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
			c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{ChoiceCount: wrapperspb.UInt32(1)}}
		}, `least_request_lb_config.choice_count: must be at least 2, got 1`},
		{"panic threshold", func(c *clusterv3.Cluster) {
			c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: 150}}
		}, `common_lb_config.healthy_panic_threshold.value: must be between 0 and 100, got 150`},
		{"zero max requests", func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRequests: wrapperspb.UInt32(0)}}}
		}, `circuit_breakers.thresholds[0].max_requests: must be at least 1`},
		{"per-host request limit", func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{PerHostThresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxRequests: wrapperspb.UInt32(5)}}}
		}, `circuit_breakers.per_host_thresholds[0]: only max_connections applies per host (as in Envoy); set the other limits in thresholds`},
		{"high priority", func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{Priority: corev3.RoutingPriority_HIGH}}}
		}, `circuit_breakers.thresholds[0].priority: HIGH is not supported by Breeze (only DEFAULT)`},
		{"ejection percent", func(c *clusterv3.Cluster) {
			c.OutlierDetection = &clusterv3.OutlierDetection{MaxEjectionPercent: wrapperspb.UInt32(101)}
		}, `outlier_detection.max_ejection_percent: is a percentage: 0 to 100, got 101`},
		{"zero interval", func(c *clusterv3.Cluster) {
			c.OutlierDetection = &clusterv3.OutlierDetection{Interval: durationpb.New(0)}
		}, `outlier_detection.interval: must be positive`},
		{"max below base", func(c *clusterv3.Cluster) {
			c.OutlierDetection = &clusterv3.OutlierDetection{MaxEjectionTime: durationpb.New(time.Second)}
		}, `outlier_detection.max_ejection_time: 1s is shorter than base_ejection_time 30s`},
		{"split origins", func(c *clusterv3.Cluster) {
			c.OutlierDetection = &clusterv3.OutlierDetection{SplitExternalLocalOriginErrors: true}
		}, `outlier_detection.split_external_local_origin_errors: not supported by Breeze`},
		{"two health checks", func(c *clusterv3.Cluster) {
			hc := healthCheck(&corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{}})
			c.HealthChecks = []*corev3.HealthCheck{hc, hc}
		}, `health_checks: at most one health check is supported by Breeze, got 2`},
		{"no timeout", func(c *clusterv3.Cluster) {
			hc := healthCheck(&corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{}})
			hc.Timeout = nil
			c.HealthChecks = []*corev3.HealthCheck{hc}
		}, `health_checks[0].timeout: required`},
		{"no threshold", func(c *clusterv3.Cluster) {
			hc := healthCheck(&corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{}})
			hc.HealthyThreshold = nil
			c.HealthChecks = []*corev3.HealthCheck{hc}
		}, `health_checks[0].healthy_threshold: required`},
		{"tcp payload", func(c *clusterv3.Cluster) {
			c.HealthChecks = []*corev3.HealthCheck{healthCheck(&corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{
				Send: &corev3.HealthCheck_Payload{Payload: &corev3.HealthCheck_Payload_Text{Text: "00"}}}})}
		}, `health_checks[0].tcp_health_check: send and receive payloads are not supported by Breeze`},
		{"http check", func(c *clusterv3.Cluster) {
			c.HealthChecks = []*corev3.HealthCheck{healthCheck(&corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{}})}
		}, `health_checks[0]: only tcp_health_check and custom_health_check (breeze.health_checkers.heartbeat) are supported by Breeze`},
		{"unknown codec", func(c *clusterv3.Cluster) {
			c.HealthChecks = []*corev3.HealthCheck{healthCheck(heartbeatCheck(t, "nosuch"))}
		}, `health_checks[0].custom_health_check.typed_config.codec: `},
		{"codec without heartbeats", func(c *clusterv3.Cluster) {
			c.HealthChecks = []*corev3.HealthCheck{healthCheck(heartbeatCheck(t, "fake"))}
		}, `health_checks[0].custom_health_check.typed_config.codec: codec "fake" cannot send heartbeats; use tcp_health_check`},
		{"unknown checker", func(c *clusterv3.Cluster) {
			hc := heartbeatCheck(t, "beating")
			hc.CustomHealthCheck.Name = "envoy.health_checkers.redis"
			c.HealthChecks = []*corev3.HealthCheck{healthCheck(hc)}
		}, `health_checks[0].custom_health_check.name: unknown health checker "envoy.health_checkers.redis" (supported: breeze.health_checkers.heartbeat)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := staticCluster()
			tt.cluster(c)
			_, err := FromCluster(c)
			if err == nil {
				t.Fatalf("FromCluster succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n %v\nwant it to contain\n %s", err, tt.want)
			}
		})
	}
}

func retryRoute(rp *mpv1.RetryPolicy) *mpv1.RouteConfiguration {
	r := clusterRoute("r", "backend")
	r.Route.RetryPolicy = rp
	return &mpv1.RouteConfiguration{Name: "t", Routes: []*mpv1.Route{r}}
}

func TestFromRouteRetryPolicy(t *testing.T) {
	table, err := FromRouteConfiguration(retryRoute(&mpv1.RetryPolicy{RetryOn: "connect-failure, reset", PerTryTimeout: durationpb.New(time.Second)}))
	if err != nil {
		t.Fatal(err)
	}
	want := &RetryPolicy{On: RetryOnConnectFailure | RetryOnReset, NumRetries: 1, PerTryTimeout: time.Second, BackOff: DefaultRetryBackOff}
	if got := table.Routes[0].Retry; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	table, err = FromRouteConfiguration(retryRoute(&mpv1.RetryPolicy{RetryOn: "timeout", NumRetries: wrapperspb.UInt32(3)}))
	if err != nil || table.Routes[0].Retry.NumRetries != 3 || table.Routes[0].Retry.On != RetryOnTimeout {
		t.Fatalf("got %+v, %v", table.Routes[0].Retry, err)
	}
	table, err = FromRouteConfiguration(retryRoute(&mpv1.RetryPolicy{RetryOn: "retriable-status,retriable-status-codes",
		RetriableStatusCodes: []uint32{100, 60}, RetryBackOff: &mpv1.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(10 * time.Millisecond)}}))
	want = &RetryPolicy{On: RetryOnRetriableStatus | RetryOnRetriableStatusCodes, NumRetries: 1, RetriableStatusCodes: []int32{100, 60},
		BackOff: RetryBackOff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}}
	if err != nil || !reflect.DeepEqual(table.Routes[0].Retry, want) {
		t.Fatalf("got %+v, %v; want %+v", table.Routes[0].Retry, err, want)
	}
	table, err = FromRouteConfiguration(retryRoute(&mpv1.RetryPolicy{RetryOn: "reset",
		RetryBackOff: &mpv1.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond), MaxInterval: durationpb.New(time.Millisecond)}}))
	if err != nil || table.Routes[0].Retry.BackOff != (RetryBackOff{Base: time.Millisecond, Max: time.Millisecond}) {
		t.Fatalf("got %+v, %v", table.Routes[0].Retry, err)
	}
	for _, bad := range []struct {
		rp   *mpv1.RetryPolicy
		want string
	}{
		{&mpv1.RetryPolicy{RetryOn: "5xx"}, `retry_policy.retry_on: unknown condition "5xx" (supported: connect-failure, reset, retriable-status, retriable-status-codes, timeout)`},
		{&mpv1.RetryPolicy{RetryOn: "retriable-status-codes"}, `retry_policy.retriable_status_codes: required by retry_on retriable-status-codes`},
		{&mpv1.RetryPolicy{RetryOn: "retriable-status-codes", RetriableStatusCodes: []uint32{100, 0}},
			`retry_policy.retriable_status_codes[1]: 0 is not a status code (1 to 2147483647)`},
		{&mpv1.RetryPolicy{RetryOn: "reset", RetryBackOff: &mpv1.RetryPolicy_RetryBackOff{}}, `retry_policy.retry_back_off.base_interval: required, greater than zero`},
		{&mpv1.RetryPolicy{RetryOn: "reset", RetryBackOff: &mpv1.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Second), MaxInterval: durationpb.New(time.Millisecond)}},
			`retry_policy.retry_back_off.max_interval: 1ms is less than base_interval 1s`},
		{&mpv1.RetryPolicy{}, `retry_policy.retry_on: required`},
		{&mpv1.RetryPolicy{RetryOn: "reset", NumRetries: wrapperspb.UInt32(11)}, `retry_policy.num_retries: at most 10, got 11`},
	} {
		if _, err := FromRouteConfiguration(retryRoute(bad.rp)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("retry policy %v: error %v, want %q", bad.rp, err, bad.want)
		}
	}
}
