package upstream

import (
	"context"
	"math/rand/v2"
	"net"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
)

// healthChecker checks one host actively, every interval, on a connection of its own
// (Envoy's active health checking): either that a TCP connection can be made, or that the
// host answers the protocol's heartbeat within the timeout. Failed checks in a row take
// the host out of balancing; passed checks in a row bring it back. The first check decides
// at once, so a host that is down when it is added leaves after one check, not several.
type healthChecker struct {
	h      *Host
	cfg    config.HealthCheck
	ctx    context.Context
	cancel context.CancelFunc
	// heartbeat builds heartbeat requests; nil for a TCP connect check.
	heartbeat protocol.HeartbeatRequester
	codec     protocol.Codec

	// The checking goroutine's own state.
	nc        net.Conn
	fr        *connio.FrameReader
	unwatch   func() bool // stops closing nc when ctx ends
	nextID    uint64
	checked   bool
	successes uint32
	failures  uint32
}

// checkHealth starts, changes or stops the host's active health checks to match cfg.
func (h *Host) checkHealth(cfg *config.HealthCheck) {
	h.mu.Lock()
	old := h.checker
	if old != nil && cfg != nil && old.cfg == *cfg {
		h.mu.Unlock()
		return
	}
	h.checker = nil
	if cfg != nil {
		h.checker = newHealthChecker(h, *cfg)
		go h.checker.run()
	}
	h.mu.Unlock()
	if old != nil {
		old.cancel()
	}
	if cfg == nil {
		h.setFlag(flagFailedHealthCheck, false)
	}
}

// stopHealthChecks ends the host's active health checks.
func (h *Host) stopHealthChecks() {
	h.mu.Lock()
	old := h.checker
	h.checker = nil
	h.mu.Unlock()
	if old != nil {
		old.cancel()
	}
}

func newHealthChecker(h *Host, cfg config.HealthCheck) *healthChecker {
	hc := &healthChecker{h: h, cfg: cfg}
	hc.ctx, hc.cancel = context.WithCancel(context.Background())
	if cfg.HeartbeatCodec != "" {
		// The configuration checked that the codec exists and can send heartbeats; if it
		// does not (a codec unregistered since), the check falls back to TCP connect.
		if reg, err := protocol.Lookup(cfg.HeartbeatCodec); err == nil {
			codec := reg.New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: protocol.DefaultMaxFrameSize})
			if hb, ok := codec.(protocol.HeartbeatRequester); ok {
				hc.codec, hc.heartbeat = codec, hb
			}
		}
	}
	if hc.cfg.Timeout <= 0 {
		hc.cfg.Timeout = time.Second
	}
	if hc.cfg.Interval <= 0 {
		hc.cfg.Interval = 5 * time.Second
	}
	return hc
}

func (hc *healthChecker) run() {
	defer hc.closeConn()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-hc.ctx.Done():
			return
		case <-timer.C:
		}
		ok := hc.check()
		if hc.ctx.Err() != nil {
			return // stopped during the check: its result says nothing about the host
		}
		hc.record(ok)
		wait := hc.cfg.Interval
		if hc.cfg.IntervalJitter > 0 {
			wait += rand.N(hc.cfg.IntervalJitter)
		}
		timer.Reset(wait)
	}
}

// check runs one check within the timeout.
func (hc *healthChecker) check() bool {
	ctx, cancel := context.WithTimeout(hc.ctx, hc.cfg.Timeout)
	defer cancel()
	var dialer net.Dialer
	if hc.heartbeat == nil {
		nc, err := dialer.DialContext(ctx, "tcp", hc.h.Address)
		if err != nil {
			return false
		}
		nc.Close()
		return true
	}
	if hc.nc == nil {
		nc, err := dialer.DialContext(ctx, "tcp", hc.h.Address)
		if err != nil {
			return false
		}
		hc.nc = nc
		hc.fr = connio.NewFrameReader(nc, hc.codec, protocol.DefaultMaxFrameSize)
		hc.unwatch = context.AfterFunc(hc.ctx, func() { nc.Close() })
	}
	deadline, _ := ctx.Deadline()
	if err := hc.nc.SetDeadline(deadline); err != nil {
		hc.closeConn()
		return false
	}
	hc.nextID++
	id := hc.nextID
	if _, err := hc.nc.Write(hc.heartbeat.HeartbeatRequest(id)); err != nil {
		hc.closeConn()
		return false
	}
	var msg protocol.Message
	for {
		if err := hc.fr.Next(&msg); err != nil {
			hc.closeConn() // timed out, closed or garbled: start afresh next time
			return false
		}
		if msg.Type == protocol.Heartbeat && msg.RequestID == id {
			return msg.Status == protocol.StatusOK
		}
		// Anything else (the answer to a check that timed out, the server's own
		// heartbeat) is skipped.
	}
}

func (hc *healthChecker) closeConn() {
	if hc.nc == nil {
		return
	}
	hc.unwatch()
	hc.nc.Close()
	hc.nc, hc.fr, hc.unwatch = nil, nil, nil
}

// record applies one check's result to the host's health.
func (hc *healthChecker) record(ok bool) {
	result := "failure"
	if ok {
		result = "success"
		hc.successes++
		hc.failures = 0
	} else {
		hc.failures++
		hc.successes = 0
	}
	if c := hc.h.cluster.Load(); c != nil {
		c.Stats.HealthCheck(result).Inc()
	}
	switch {
	case !hc.checked:
		hc.checked = true
		hc.h.setFlag(flagFailedHealthCheck, !ok)
	case ok && hc.successes >= max(hc.cfg.HealthyThreshold, 1):
		hc.h.setFlag(flagFailedHealthCheck, false)
	case !ok && hc.failures >= max(hc.cfg.UnhealthyThreshold, 1):
		hc.h.setFlag(flagFailedHealthCheck, true)
	}
}
