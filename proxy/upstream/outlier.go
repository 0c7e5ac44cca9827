package upstream

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/prometheus/client_golang/prometheus"
)

// Ejection reasons, as the ejection counter labels them.
const (
	reasonConsecutiveErrors          = "consecutive_errors"
	reasonConsecutiveGatewayFailures = "consecutive_gateway_failures"
	reasonSuccessRate                = "success_rate"
)

// Envoy's defaults for the outlier detection durations, which must be positive.
const (
	defaultOutlierInterval  = 10 * time.Second
	defaultBaseEjectionTime = 30 * time.Second
	defaultMaxEjectionTime  = 300 * time.Second
)

// outlierDetector ejects a cluster's hosts that keep failing (Envoy's outlier detection):
// after a number of failures in a row, or when their success rate over an interval is far
// below the others'. An ejected host gets no requests from any balancer until its ejection
// time has passed; each further ejection lasts one more base ejection time.
//
// Results arrive from the connections: a response with an OK status is a success; an
// error response, a connect failure, a reset and a timeout are failures, the last three
// "gateway failures" too (they are the proxy's own observations, Envoy's 502/503/504).
type outlierDetector struct {
	c   *Cluster
	cfg config.OutlierDetection
	// successRate is on when success-rate ejection is enforced: only then do hosts count
	// their results per interval.
	successRate bool
	ejections   map[string]prometheus.Counter // by reason

	mu sync.Mutex // serialises ejection decisions
}

func newOutlierDetector(c *Cluster, cfg config.OutlierDetection) *outlierDetector {
	if cfg.Interval <= 0 {
		cfg.Interval = defaultOutlierInterval
	}
	if cfg.BaseEjectionTime <= 0 {
		cfg.BaseEjectionTime = defaultBaseEjectionTime
	}
	if cfg.MaxEjectionTime <= 0 {
		cfg.MaxEjectionTime = max(defaultMaxEjectionTime, cfg.BaseEjectionTime)
	}
	d := &outlierDetector{c: c, cfg: cfg, successRate: cfg.EnforcingSuccessRate > 0, ejections: map[string]prometheus.Counter{}}
	for _, r := range []string{reasonConsecutiveErrors, reasonConsecutiveGatewayFailures, reasonSuccessRate} {
		d.ejections[r] = c.Stats.OutlierEjection(r)
	}
	return d
}

// outlierState is one host's record. The counters change on every response; the rest only
// on ejection and return, under mu.
type outlierState struct {
	consecutiveErrors  atomic.Uint32
	consecutiveGateway atomic.Uint32
	// successes and failures count results in the current interval, for success-rate
	// ejection.
	successes, failures atomic.Uint64

	mu sync.Mutex
	// ejections is how many times in a row the host has been ejected: the multiplier of
	// its next ejection time. It goes down by one for each interval the host stays in.
	ejections    int
	ejectedUntil time.Time
	returnedAt   time.Time
	// generation invalidates the return timer of an earlier ejection.
	generation uint64
}

func (o *outlierState) snapshot() (until time.Time, ejections int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ejectedUntil, o.ejections
}

func (o *outlierState) resetCounters() {
	o.consecutiveErrors.Store(0)
	o.consecutiveGateway.Store(0)
}

// forget clears the host's outlier record and brings it back if ejected: its cluster no
// longer detects outliers.
func (o *outlierState) forget(h *Host) {
	o.mu.Lock()
	o.generation++
	o.ejections = 0
	o.ejectedUntil = time.Time{}
	o.mu.Unlock()
	o.resetCounters()
	h.setFlag(flagEjected, false)
}

// reportSuccess records a successful response from the host.
func (h *Host) reportSuccess() {
	c := h.cluster.Load()
	if c == nil || c.outlier == nil {
		return
	}
	o := &h.outlier
	// Load before Store: most responses find the counters at zero already, and a store
	// would bounce the cache line between cores.
	if o.consecutiveErrors.Load() != 0 {
		o.consecutiveErrors.Store(0)
	}
	if o.consecutiveGateway.Load() != 0 {
		o.consecutiveGateway.Store(0)
	}
	if c.outlier.successRate {
		o.successes.Add(1)
	}
}

// reportFailure records a failed request: an error response, or (localOrigin) a connect
// failure, reset or timeout.
func (h *Host) reportFailure(localOrigin bool) {
	c := h.cluster.Load()
	if c == nil || c.outlier == nil {
		return
	}
	d, o := c.outlier, &h.outlier
	if d.successRate {
		o.failures.Add(1)
	}
	if localOrigin {
		if n := o.consecutiveGateway.Add(1); d.cfg.ConsecutiveGatewayFailures > 0 && n >= d.cfg.ConsecutiveGatewayFailures {
			d.consider(h, reasonConsecutiveGatewayFailures, d.cfg.EnforcingConsecutiveGatewayFailures)
		}
	} else if o.consecutiveGateway.Load() != 0 {
		o.consecutiveGateway.Store(0)
	}
	if n := o.consecutiveErrors.Add(1); d.cfg.ConsecutiveErrors > 0 && n >= d.cfg.ConsecutiveErrors {
		d.consider(h, reasonConsecutiveErrors, d.cfg.EnforcingConsecutiveErrors)
	}
}

// consider ejects h for reason with probability enforcing percent.
func (d *outlierDetector) consider(h *Host, reason string, enforcing uint32) {
	if enforcing < 100 && uint32(rand.IntN(100)) >= enforcing {
		return
	}
	d.eject(h, reason)
}

// eject takes h out of balancing, unless it is out already or the cluster has as many
// hosts ejected as max_ejection_percent allows (one host may always be ejected).
func (d *outlierDetector) eject(h *Host, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h.flags.Load()&flagEjected != 0 || h.cluster.Load() != d.c {
		return // out already, or moved to a newer version of the cluster, which decides
	}
	ejected := 0
	for _, x := range d.c.Hosts {
		if x.flags.Load()&flagEjected != 0 {
			ejected++
		}
	}
	if ejected > 0 && uint64(ejected+1)*100 > uint64(d.cfg.MaxEjectionPercent)*uint64(len(d.c.Hosts)) {
		return
	}
	o := &h.outlier
	o.mu.Lock()
	o.ejections++
	length := min(d.cfg.BaseEjectionTime*time.Duration(o.ejections), d.cfg.MaxEjectionTime)
	o.ejectedUntil = time.Now().Add(length)
	o.generation++
	generation := o.generation
	o.mu.Unlock()
	o.resetCounters()
	d.ejections[reason].Inc()
	h.setFlag(flagEjected, true)
	time.AfterFunc(length, func() { h.returnFromEjection(generation) })
}

// returnFromEjection brings h back when its ejection time is over.
func (h *Host) returnFromEjection(generation uint64) {
	o := &h.outlier
	o.mu.Lock()
	if o.generation != generation {
		o.mu.Unlock()
		return
	}
	o.ejectedUntil = time.Time{}
	o.returnedAt = time.Now()
	o.mu.Unlock()
	o.resetCounters()
	h.setFlag(flagEjected, false)
}

// run evaluates success rates and lets ejection multipliers decay, every interval, until
// a newer version of the cluster takes over.
func (d *outlierDetector) run() {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-d.c.retired:
			return
		case <-t.C:
			d.tick()
		}
	}
}

func (d *outlierDetector) tick() {
	now := time.Now()
	for _, h := range d.c.Hosts {
		o := &h.outlier
		o.mu.Lock()
		if o.ejections > 0 && o.ejectedUntil.IsZero() && now.Sub(o.returnedAt) >= d.cfg.Interval {
			o.ejections--
		}
		o.mu.Unlock()
	}
	if d.successRate {
		d.ejectBySuccessRate()
	}
}

// ejectBySuccessRate ejects the hosts whose success rate in the last interval is below
// mean - stdev_factor * stdev of the hosts that had enough requests, when enough did.
func (d *outlierDetector) ejectBySuccessRate() {
	type sample struct {
		h    *Host
		rate float64
	}
	samples := make([]sample, 0, len(d.c.Hosts))
	for _, h := range d.c.Hosts {
		ok, failed := h.outlier.successes.Swap(0), h.outlier.failures.Swap(0)
		if total := ok + failed; total > 0 && total >= uint64(d.cfg.SuccessRateRequestVolume) && h.flags.Load()&flagEjected == 0 {
			samples = append(samples, sample{h, float64(ok) / float64(total)})
		}
	}
	if len(samples) == 0 || len(samples) < int(d.cfg.SuccessRateMinimumHosts) {
		return
	}
	var mean float64
	for _, s := range samples {
		mean += s.rate
	}
	mean /= float64(len(samples))
	var variance float64
	for _, s := range samples {
		variance += (s.rate - mean) * (s.rate - mean)
	}
	stdev := math.Sqrt(variance / float64(len(samples)))
	threshold := mean - float64(d.cfg.SuccessRateStdevFactor)/1000*stdev
	for _, s := range samples {
		if s.rate < threshold {
			d.consider(s.h, reasonSuccessRate, d.cfg.EnforcingSuccessRate)
		}
	}
}
