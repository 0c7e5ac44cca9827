// Helpers for this package's tests: sending requests to a Host and collecting their
// outcomes. The upstream server they talk to is proxy/internal/testbackend.

package upstream

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/breeze-mesh/breeze/proxy/stats"
)

// result is the outcome of one request sent with sendTo.
type result struct {
	payload string // of a response
	isError bool   // the response is an error response
	err     *protocol.LocalError
	cause   FailureCause
}

// collector implements AttemptCallbacks onto a channel.
type collector chan result

func (c collector) OnResponse(resp *protocol.Message) {
	c <- result{payload: testcodec.Payload(resp), isError: resp.Status == protocol.StatusError}
}
func (c collector) OnFailure(err *protocol.LocalError) { c <- result{err: err} }
func (c collector) OnAttemptFailure(err *protocol.LocalError, cause FailureCause) {
	c <- result{err: err, cause: cause}
}

var testReg = func() protocol.Registration {
	reg, err := protocol.Lookup(testcodec.Name)
	if err != nil {
		panic(err)
	}
	return reg
}()

var pingPongReg = func() protocol.Registration {
	reg, err := protocol.Lookup(testcodec.PingPongName)
	if err != nil {
		panic(err)
	}
	return reg
}()

var nextID atomic.Uint64

// sendTo sends a two-way request to h with reg and returns where its outcome arrives.
func sendTo(h *Host, reg protocol.Registration, payload string, timeout time.Duration) collector {
	out := make(collector, 1)
	id := nextID.Add(1)
	h.Send(reg, Request{Frame: testcodec.Frame('Q', id, nil, payload), ID: id, Timeout: timeout, Callbacks: out})
	return out
}

// wait returns the outcome, failing the test if none comes within a generous bound.
func (c collector) wait(t *testing.T) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome within 10s")
		return result{}
	}
}

// pending reports whether an outcome has arrived, without waiting.
func (c collector) arrived() bool { return len(c) > 0 }

// newTestManager returns a manager whose clusters are closed at the end of the test.
func newTestManager(t *testing.T) (*Manager, *stats.Metrics) {
	t.Helper()
	m := stats.New()
	mgr := NewManager(m)
	t.Cleanup(mgr.Close)
	return mgr, m
}

func clusterCfg(name string, addrs ...string) *config.Cluster {
	c := &config.Cluster{Name: name, ConnectTimeout: time.Second, ConnectionsPerHost: 1, HealthyPanicThreshold: 50}
	for _, a := range addrs {
		c.Endpoints = append(c.Endpoints, config.Endpoint{Address: a, Weight: 1})
	}
	return c
}
