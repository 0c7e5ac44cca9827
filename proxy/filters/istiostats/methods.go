package istiostats

import (
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
	// requests by response code (0, 1) and flag index (see flagIndex); resolved on first use.
	mu       sync.Mutex
	requests [2][]prometheus.Counter
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
}

func newMethodTable(fam *families, listener string, max int) *methodTable {
	t := &methodTable{fam: fam, listener: listener, max: max}
	t.other = t.newSeries(other, other)
	return t
}

func (t *methodTable) newSeries(service, method string) *methodSeries {
	return &methodSeries{
		key:      methodKey{service, method},
		duration: t.fam.methodDuration.WithLabelValues(t.listener, service, method),
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
func (t *methodTable) record(service, method string, code, flag int, seconds float64) {
	s := t.series(service, method)
	s.duration.Observe(seconds)
	s.mu.Lock()
	row := s.requests[code]
	if row == nil {
		row = make([]prometheus.Counter, flagCount)
		s.requests[code] = row
	}
	c := row[flag]
	if c == nil {
		c = t.fam.methodRequests.WithLabelValues(t.listener, s.key.service, s.key.method, strconv.Itoa(code), flagName(flag))
		row[flag] = c
	}
	s.mu.Unlock()
	c.Inc()
}

// flagCount is the number of flag indexes: "-" and one per local error kind.
var flagCount = 1 + len(protocol.ErrorKinds())
