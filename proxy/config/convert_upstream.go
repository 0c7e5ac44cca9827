package config

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
)

// Defaults of the cluster resilience settings, where Breeze's differ from zero.
const (
	// DefaultHealthyPanicThreshold is Envoy's common_lb_config.healthy_panic_threshold.
	DefaultHealthyPanicThreshold = 50
	// DefaultMaxRetries is Envoy's circuit_breakers max_retries. The other thresholds have
	// no default in Breeze: a cluster without circuit_breakers never refuses a request.
	DefaultMaxRetries = 3
	// HeartbeatHealthChecker is the custom_health_check name of Breeze's heartbeat check.
	HeartbeatHealthChecker = "breeze.health_checkers.heartbeat"
	// maxHashTableSize bounds ring and Maglev sizes, as Envoy does.
	maxHashTableSize   = 8 << 20
	maxMaglevTableSize = 5000011
)

// Envoy's outlier detection defaults.
var defaultOutlier = OutlierDetection{
	ConsecutiveErrors:                   5,
	ConsecutiveGatewayFailures:          5,
	EnforcingConsecutiveErrors:          100,
	EnforcingConsecutiveGatewayFailures: 0,
	EnforcingSuccessRate:                100,
	Interval:                            10 * time.Second,
	BaseEjectionTime:                    30 * time.Second,
	MaxEjectionTime:                     300 * time.Second,
	MaxEjectionPercent:                  10,
	SuccessRateMinimumHosts:             5,
	SuccessRateRequestVolume:            100,
	SuccessRateStdevFactor:              1900,
}

// upstreamPolicies converts how a cluster balances and protects itself: lb_policy and its
// lb config, common_lb_config, circuit_breakers.thresholds, outlier_detection,
// health_checks, common_http_protocol_options.idle_timeout and
// upstream_connection_options.tcp_keepalive.
func (c converter) upstreamPolicies(path string, cl *clusterv3.Cluster, out *Cluster) error {
	if err := c.lbPolicy(path, cl, out); err != nil {
		return err
	}
	var err error
	if out.Subsets, err = c.subsetConfig(join(path, "lb_subset_config"), cl.GetLbSubsetConfig()); err != nil { // convert_subset.go
		return err
	}
	out.HealthyPanicThreshold = DefaultHealthyPanicThreshold
	if lb := cl.GetCommonLbConfig(); lb != nil {
		lp := join(path, "common_lb_config")
		if p := lb.GetHealthyPanicThreshold(); p != nil {
			v := p.GetValue()
			if math.IsNaN(v) || v < 0 || v > 100 {
				return c.errorf(join(lp, "healthy_panic_threshold.value"), "must be between 0 and 100, got %v", v)
			}
			out.HealthyPanicThreshold = v
		}
	}
	for i, t := range cl.GetCircuitBreakers().GetPerHostThresholds() {
		if t.GetMaxPendingRequests() != nil || t.GetMaxRequests() != nil || t.GetMaxRetries() != nil || t.GetRetryBudget() != nil {
			return c.errorf(index(join(path, "circuit_breakers.per_host_thresholds"), i), "only max_connections applies per host (as in Envoy); set the other limits in thresholds")
		}
	}
	if out.Limits, err = c.thresholds(join(path, "circuit_breakers.thresholds"), cl.GetCircuitBreakers().GetThresholds()); err != nil {
		return err
	}
	if od := cl.GetOutlierDetection(); od != nil {
		if out.Outlier, err = c.outlierDetection(join(path, "outlier_detection"), od); err != nil {
			return err
		}
	}
	if hcs := cl.GetHealthChecks(); len(hcs) > 0 {
		if len(hcs) > 1 {
			return c.errorf(join(path, "health_checks"), "at most one health check is supported by Breeze, got %d", len(hcs))
		}
		if out.HealthCheck, err = c.healthCheck(index(join(path, "health_checks"), 0), hcs[0]); err != nil {
			return err
		}
	}
	// Envoy moved this setting into the HTTP-only typed_extension_protocol_options; for
	// an RPC cluster the cluster-level field is the place that says what it means.
	idle := cl.GetCommonHttpProtocolOptions().GetIdleTimeout() //nolint:staticcheck // deprecated in Envoy, still read by it; see above
	if out.IdleTimeout, err = c.duration(join(path, "common_http_protocol_options.idle_timeout"), idle); err != nil {
		return err
	}
	if ka := cl.GetUpstreamConnectionOptions().GetTcpKeepalive(); ka != nil {
		out.TCPKeepalive = &TCPKeepalive{
			Probes:   int(ka.GetKeepaliveProbes().GetValue()),
			Time:     time.Duration(ka.GetKeepaliveTime().GetValue()) * time.Second,
			Interval: time.Duration(ka.GetKeepaliveInterval().GetValue()) * time.Second,
		}
	}
	return nil
}

// lbPolicy converts lb_policy and the lb config that goes with it.
func (c converter) lbPolicy(path string, cl *clusterv3.Cluster, out *Cluster) error {
	policy := cl.GetLbPolicy()
	switch policy {
	case clusterv3.Cluster_ROUND_ROBIN:
		out.LBPolicy = RoundRobin
	case clusterv3.Cluster_RANDOM:
		out.LBPolicy = Random
	case clusterv3.Cluster_LEAST_REQUEST:
		out.LBPolicy = LeastRequest
	case clusterv3.Cluster_RING_HASH:
		out.LBPolicy = RingHash
	case clusterv3.Cluster_MAGLEV:
		out.LBPolicy = Maglev
	default:
		return c.errorf(join(path, "lb_policy"), "%s is not supported by Breeze (supported: ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH, MAGLEV)", policy)
	}
	needs := func(field string, want clusterv3.Cluster_LbPolicy) error {
		if policy != want {
			return c.errorf(join(path, field), "applies to lb_policy %s, but the cluster's is %s", want, policy)
		}
		return nil
	}
	if rh := cl.GetRingHashLbConfig(); rh != nil {
		rp := join(path, "ring_hash_lb_config")
		if err := needs("ring_hash_lb_config", clusterv3.Cluster_RING_HASH); err != nil {
			return err
		}
		if rh.GetHashFunction() != clusterv3.Cluster_RingHashLbConfig_XX_HASH {
			return c.errorf(join(rp, "hash_function"), "%s is not supported by Breeze (only XX_HASH)", rh.GetHashFunction())
		}
		out.RingHash.MinimumRingSize = rh.GetMinimumRingSize().GetValue()
		out.RingHash.MaximumRingSize = rh.GetMaximumRingSize().GetValue()
		for _, f := range []struct {
			name string
			v    *wrapperspb.UInt64Value
		}{{"minimum_ring_size", rh.GetMinimumRingSize()}, {"maximum_ring_size", rh.GetMaximumRingSize()}} {
			if f.v != nil && (f.v.GetValue() == 0 || f.v.GetValue() > maxHashTableSize) {
				return c.errorf(join(rp, f.name), "must be between 1 and %d, got %d", maxHashTableSize, f.v.GetValue())
			}
		}
		if lo, hi := out.RingHash.MinimumRingSize, out.RingHash.MaximumRingSize; lo > 0 && hi > 0 && lo > hi {
			return c.errorf(join(rp, "minimum_ring_size"), "%d exceeds maximum_ring_size %d", lo, hi)
		}
	}
	if mg := cl.GetMaglevLbConfig(); mg != nil {
		if err := needs("maglev_lb_config", clusterv3.Cluster_MAGLEV); err != nil {
			return err
		}
		if ts := mg.GetTableSize(); ts != nil {
			size := ts.GetValue()
			if size < 2 || size > maxMaglevTableSize || !isPrime(size) {
				return c.errorf(join(path, "maglev_lb_config.table_size"), "must be a prime up to %d, got %d", maxMaglevTableSize, size)
			}
			out.MaglevTableSize = size
		}
	}
	if lr := cl.GetLeastRequestLbConfig(); lr != nil {
		lp := join(path, "least_request_lb_config")
		if err := needs("least_request_lb_config", clusterv3.Cluster_LEAST_REQUEST); err != nil {
			return err
		}
		if lr.GetActiveRequestBias() != nil || lr.GetSlowStartConfig() != nil {
			return c.errorf(lp, "only choice_count is supported by Breeze")
		}
		if cc := lr.GetChoiceCount(); cc != nil {
			if cc.GetValue() < 2 {
				return c.errorf(join(lp, "choice_count"), "must be at least 2, got %d", cc.GetValue())
			}
			out.LeastRequestChoices = int(cc.GetValue())
		}
	}
	return nil
}

// thresholds reads the DEFAULT-priority circuit breaker thresholds.
func (c converter) thresholds(path string, ts []*clusterv3.CircuitBreakers_Thresholds) (Limits, error) {
	limits := Limits{MaxRetries: DefaultMaxRetries}
	for i, t := range ts {
		tp := index(path, i)
		if t.GetPriority() != corev3.RoutingPriority_DEFAULT {
			return Limits{}, c.errorf(join(tp, "priority"), "%s is not supported by Breeze (only DEFAULT)", t.GetPriority())
		}
		if i > 0 {
			return Limits{}, c.errorf(tp, "only one threshold per priority is allowed")
		}
		if t.GetRetryBudget() != nil {
			return Limits{}, c.errorf(join(tp, "retry_budget"), "not supported by Breeze; use max_retries")
		}
		for _, f := range []struct {
			name string
			v    *wrapperspb.UInt32Value
			dst  *int
		}{
			{"max_connections", t.GetMaxConnections(), &limits.MaxConnections},
			{"max_pending_requests", t.GetMaxPendingRequests(), &limits.MaxPendingRequests},
			{"max_requests", t.GetMaxRequests(), &limits.MaxRequests},
			{"max_retries", t.GetMaxRetries(), &limits.MaxRetries},
		} {
			if f.v == nil {
				continue
			}
			if f.v.GetValue() == 0 && f.name != "max_retries" {
				return Limits{}, c.errorf(join(tp, f.name), "must be at least 1")
			}
			*f.dst = int(min(f.v.GetValue(), math.MaxInt32))
			if f.name == "max_retries" && f.v.GetValue() == 0 {
				*f.dst = -1 // no retries at all; 0 in Limits would mean no limit
			}
		}
	}
	return limits, nil
}

// outlierDetection converts outlier_detection, filling Envoy's defaults.
func (c converter) outlierDetection(path string, od *clusterv3.OutlierDetection) (*OutlierDetection, error) {
	switch {
	case od.GetSplitExternalLocalOriginErrors():
		return nil, c.errorf(join(path, "split_external_local_origin_errors"), "not supported by Breeze: local failures always count with error responses")
	case od.GetFailurePercentageThreshold() != nil || od.GetEnforcingFailurePercentage() != nil:
		return nil, c.errorf(path, "failure-percentage ejection is not supported by Breeze (consecutive and success-rate ejection are)")
	}
	out := defaultOutlier
	counts := []struct {
		name    string
		v       *wrapperspb.UInt32Value
		dst     *uint32
		percent bool
	}{
		{"consecutive_5xx", od.GetConsecutive_5Xx(), &out.ConsecutiveErrors, false},
		{"consecutive_gateway_failure", od.GetConsecutiveGatewayFailure(), &out.ConsecutiveGatewayFailures, false},
		{"enforcing_consecutive_5xx", od.GetEnforcingConsecutive_5Xx(), &out.EnforcingConsecutiveErrors, true},
		{"enforcing_consecutive_gateway_failure", od.GetEnforcingConsecutiveGatewayFailure(), &out.EnforcingConsecutiveGatewayFailures, true},
		{"enforcing_success_rate", od.GetEnforcingSuccessRate(), &out.EnforcingSuccessRate, true},
		{"max_ejection_percent", od.GetMaxEjectionPercent(), &out.MaxEjectionPercent, true},
		{"success_rate_minimum_hosts", od.GetSuccessRateMinimumHosts(), &out.SuccessRateMinimumHosts, false},
		{"success_rate_request_volume", od.GetSuccessRateRequestVolume(), &out.SuccessRateRequestVolume, false},
		{"success_rate_stdev_factor", od.GetSuccessRateStdevFactor(), &out.SuccessRateStdevFactor, false},
	}
	for _, f := range counts {
		if f.v == nil {
			continue
		}
		if f.percent && f.v.GetValue() > 100 {
			return nil, c.errorf(join(path, f.name), "is a percentage: 0 to 100, got %d", f.v.GetValue())
		}
		*f.dst = f.v.GetValue()
	}
	durations := []struct {
		name string
		v    *durationpb.Duration
		dst  *time.Duration
	}{
		{"interval", od.GetInterval(), &out.Interval},
		{"base_ejection_time", od.GetBaseEjectionTime(), &out.BaseEjectionTime},
		{"max_ejection_time", od.GetMaxEjectionTime(), &out.MaxEjectionTime},
	}
	for _, f := range durations {
		if f.v == nil {
			continue
		}
		d, err := c.duration(join(path, f.name), f.v)
		if err != nil {
			return nil, err
		}
		if d == 0 {
			return nil, c.errorf(join(path, f.name), "must be positive")
		}
		*f.dst = d
	}
	if od.GetMaxEjectionTime() == nil {
		// Envoy: 300s, or base_ejection_time when that is longer.
		out.MaxEjectionTime = max(out.MaxEjectionTime, out.BaseEjectionTime)
	} else if out.MaxEjectionTime < out.BaseEjectionTime {
		return nil, c.errorf(join(path, "max_ejection_time"), "%v is shorter than base_ejection_time %v", out.MaxEjectionTime, out.BaseEjectionTime)
	}
	return &out, nil
}

// healthCheck converts one health_checks entry: a TCP connect check or Breeze's heartbeat
// check.
func (c converter) healthCheck(path string, hc *corev3.HealthCheck) (*HealthCheck, error) {
	out := &HealthCheck{}
	var err error
	for _, f := range []struct {
		name string
		v    *durationpb.Duration
		dst  *time.Duration
	}{
		{"timeout", hc.GetTimeout(), &out.Timeout},
		{"interval", hc.GetInterval(), &out.Interval},
	} {
		if f.v == nil {
			return nil, c.errorf(join(path, f.name), "required")
		}
		if *f.dst, err = c.duration(join(path, f.name), f.v); err != nil {
			return nil, err
		}
		if *f.dst == 0 {
			return nil, c.errorf(join(path, f.name), "must be positive")
		}
	}
	if out.IntervalJitter, err = c.duration(join(path, "interval_jitter"), hc.GetIntervalJitter()); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    *wrapperspb.UInt32Value
		dst  *uint32
	}{
		{"unhealthy_threshold", hc.GetUnhealthyThreshold(), &out.UnhealthyThreshold},
		{"healthy_threshold", hc.GetHealthyThreshold(), &out.HealthyThreshold},
	} {
		if f.v == nil {
			return nil, c.errorf(join(path, f.name), "required")
		}
		if f.v.GetValue() == 0 {
			return nil, c.errorf(join(path, f.name), "must be at least 1")
		}
		*f.dst = f.v.GetValue()
	}
	switch checker := hc.GetHealthChecker().(type) {
	case *corev3.HealthCheck_TcpHealthCheck_:
		if checker.TcpHealthCheck.GetSend() != nil || len(checker.TcpHealthCheck.GetReceive()) > 0 {
			return nil, c.errorf(join(path, "tcp_health_check"), "send and receive payloads are not supported by Breeze; use {} to check that a connection can be made, or the %s custom check", HeartbeatHealthChecker)
		}
	case *corev3.HealthCheck_CustomHealthCheck_:
		codec, err := c.heartbeatCheck(join(path, "custom_health_check"), checker.CustomHealthCheck)
		if err != nil {
			return nil, err
		}
		out.HeartbeatCodec = codec
	case nil:
		return nil, c.errorf(path, "one of tcp_health_check or custom_health_check is required")
	default:
		return nil, c.errorf(path, "only tcp_health_check and custom_health_check (%s) are supported by Breeze", HeartbeatHealthChecker)
	}
	return out, nil
}

// heartbeatCheck reads Breeze's heartbeat check and returns its codec's registered name.
func (c converter) heartbeatCheck(path string, ch *corev3.HealthCheck_CustomHealthCheck) (string, error) {
	if ch.GetName() != HeartbeatHealthChecker {
		return "", c.errorf(join(path, "name"), "unknown health checker %q (supported: %s)", ch.GetName(), HeartbeatHealthChecker)
	}
	cfg := &mpv1.HeartbeatHealthCheck{}
	want := "type.googleapis.com/" + string(cfg.ProtoReflect().Descriptor().FullName())
	tc := ch.GetTypedConfig()
	if tc == nil {
		return "", c.errorf(join(path, "typed_config"), "required: %s with the codec whose heartbeat is sent", want)
	}
	if tc.GetTypeUrl() != want {
		return "", c.errorf(join(path, "typed_config"), "type %q is not supported (want %q)", tc.GetTypeUrl(), want)
	}
	if err := tc.UnmarshalTo(cfg); err != nil {
		return "", c.errorf(join(path, "typed_config"), "cannot decode: %v", err)
	}
	cp := join(path, "typed_config.codec")
	if cfg.GetCodec() == "" {
		return "", c.errorf(cp, "required")
	}
	reg, err := protocol.Lookup(cfg.GetCodec())
	if err != nil {
		return "", c.errorf(cp, "%v", err)
	}
	if _, ok := reg.New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: protocol.DefaultMaxFrameSize}).(protocol.HeartbeatRequester); !ok {
		return "", c.errorf(cp, "codec %q cannot send heartbeats; use tcp_health_check", reg.Name)
	}
	return reg.Name, nil
}

// retryPolicy converts a route's retry_policy.
func (c converter) retryPolicy(path string, rp *mpv1.RetryPolicy) (*RetryPolicy, error) {
	if rp == nil {
		return nil, nil
	}
	out := &RetryPolicy{NumRetries: 1, BackOff: DefaultRetryBackOff}
	known := slices.Sorted(maps.Keys(RetryOnNames))
	for cond := range strings.SplitSeq(rp.GetRetryOn(), ",") {
		cond = strings.TrimSpace(cond)
		if cond == "" {
			continue
		}
		bit, ok := RetryOnNames[cond]
		if !ok {
			return nil, c.errorf(join(path, "retry_on"), "unknown condition %q (supported: %s)", cond, strings.Join(known, ", "))
		}
		out.On |= bit
	}
	if out.On == 0 {
		return nil, c.errorf(join(path, "retry_on"), "required: one or more of %s", strings.Join(known, ", "))
	}
	if n := rp.GetNumRetries(); n != nil {
		if n.GetValue() > 10 {
			return nil, c.errorf(join(path, "num_retries"), "at most 10, got %d", n.GetValue())
		}
		out.NumRetries = int(n.GetValue())
	}
	var err error
	if out.PerTryTimeout, err = c.duration(join(path, "per_try_timeout"), rp.GetPerTryTimeout()); err != nil {
		return nil, err
	}
	for i, code := range rp.GetRetriableStatusCodes() {
		if code == 0 || code > math.MaxInt32 {
			return nil, c.errorf(index(join(path, "retriable_status_codes"), i), "%d is not a status code (1 to %d)", code, math.MaxInt32)
		}
		out.RetriableStatusCodes = append(out.RetriableStatusCodes, int32(code))
	}
	if out.On&RetryOnRetriableStatusCodes != 0 && len(out.RetriableStatusCodes) == 0 {
		return nil, c.errorf(join(path, "retriable_status_codes"), "required by retry_on retriable-status-codes")
	}
	if bo := rp.GetRetryBackOff(); bo != nil {
		bp := join(path, "retry_back_off")
		if out.BackOff.Base, err = c.duration(join(bp, "base_interval"), bo.GetBaseInterval()); err != nil {
			return nil, err
		}
		if out.BackOff.Base <= 0 {
			return nil, c.errorf(join(bp, "base_interval"), "required, greater than zero")
		}
		if out.BackOff.Max, err = c.duration(join(bp, "max_interval"), bo.GetMaxInterval()); err != nil {
			return nil, err
		}
		switch {
		case bo.GetMaxInterval() == nil:
			out.BackOff.Max = 10 * out.BackOff.Base
		case out.BackOff.Max < out.BackOff.Base:
			return nil, c.errorf(join(bp, "max_interval"), "%v is less than base_interval %v", out.BackOff.Max, out.BackOff.Base)
		}
	}
	return out, nil
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
