package istiostats

import (
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// other stands for every service and method past a listener's cap.
const other = "other"

// methodKey is one service/method pair as the request names it.
type methodKey struct{ service, method string }

// methodSeries are the resolved series of one service/method pair of one listener.
type methodSeries struct {
	key      methodKey // the label values, copied
	duration prometheus.Observer
	// requests by outcome; resolved on first use.
	mu       sync.Mutex
	requests map[outcome]prometheus.Counter
}

// outcome is what the request counter of a pair is labelled with besides the pair.
type outcome struct {
	code, flag uint8 // response code (0, 1) and flag index (see flagIndex)
	status     int32 // the response's own status code, noStatus, or otherStatus
}

// Response status codes with no number of their own.
const (
	// noStatus labels requests without an upstream response: local replies, oneway.
	noStatus int32 = math.MinInt32
	// otherStatus labels codes past a listener's cap on distinct codes.
	otherStatus int32 = math.MinInt32 + 1
)

// maxStatuses bounds the distinct response status codes a listener labels; codes come from
// upstream responses, which a server may fill with anything.
const maxStatuses = 64

// statusName is the response_status label of a status.
func statusName(status int32) string {
	switch status {
	case noStatus:
		return "-"
	case otherStatus:
		return other
	}
	return strconv.FormatInt(int64(status), 10)
}

// methodTable maps the service/method pairs of one listener to their series, admitting at
// most max distinct pairs; later pairs share the series of ("other", "other"). It is kept
// across config versions (in filter.Shared), so the cap holds for the listener's life.
type methodTable struct {
	fam      *families
	listener string
	max      int

	pairs sync.Map // methodKey → *methodSeries; keys are copies, never request memory
	mu    sync.Mutex
	count int // pairs admitted, guarded by mu
	other *methodSeries
	// statuses are the response status codes admitted (at most maxStatuses), guarded by mu.
	statuses map[int32]struct{}
}

func newMethodTable(fam *families, listener string, max int) *methodTable {
	t := &methodTable{fam: fam, listener: listener, max: max, statuses: map[int32]struct{}{}}
	t.other = t.newSeries(other, other)
	return t
}

func (t *methodTable) newSeries(service, method string) *methodSeries {
	return &methodSeries{
		key:      methodKey{service, method},
		duration: t.fam.methodDuration.WithLabelValues(t.listener, service, method),
		requests: map[outcome]prometheus.Counter{},
	}
}

// series returns the series of a pair, admitting it if the cap allows. service and method
// may alias a request's frame; they are copied before they are kept.
func (t *methodTable) series(service, method string) *methodSeries {
	// Names are told apart by their first maxLabelLen bytes, the most a label shows.
	k := methodKey{truncate(service), truncate(method)}
	if v, ok := t.pairs.Load(k); ok {
		return v.(*methodSeries)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.pairs.Load(k); ok {
		return v.(*methodSeries)
	}
	if t.count >= t.max {
		return t.other
	}
	// The map key is the request's own pair (copied), the labels its sanitised form: two
	// pairs that sanitise alike share labels but are counted against the cap separately.
	s := t.newSeries(labelValue(k.service), labelValue(k.method))
	t.pairs.Store(methodKey{strings.Clone(k.service), strings.Clone(k.method)}, s)
	t.count++
	return s
}

// record counts one finished request of a pair.
func (t *methodTable) record(service, method string, code, flag int, status int32, seconds float64) {
	s := t.series(service, method)
	s.duration.Observe(seconds)
	o := outcome{code: uint8(code), flag: uint8(flag), status: status}
	s.mu.Lock()
	c := s.requests[o]
	if c == nil {
		c = t.counter(s, o)
	}
	s.mu.Unlock()
	c.Inc()
}

// counter resolves the request counter of a pair and outcome, admitting the status if the
// listener's cap allows; called with s.mu held, on a pair's first request of an outcome.
func (t *methodTable) counter(s *methodSeries, o outcome) prometheus.Counter {
	key := o
	if o.status != noStatus {
		t.mu.Lock()
		if _, ok := t.statuses[o.status]; !ok {
			if len(t.statuses) < maxStatuses {
				t.statuses[o.status] = struct{}{}
			} else {
				o.status = otherStatus
			}
		}
		t.mu.Unlock()
	}
	c := s.requests[o]
	if c == nil {
		c = t.fam.methodRequests.WithLabelValues(t.listener, s.key.service, s.key.method,
			strconv.Itoa(int(o.code)), flagName(int(o.flag)), statusName(o.status))
		s.requests[o] = c
	}
	s.requests[key] = c
	return c
}

// kindCount is the number of local error kinds.
var kindCount = len(protocol.ErrorKinds())
