package metadataexchange

import (
	"encoding/base64"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Unknown is Istio's value for a label nobody announced.
const Unknown = "unknown"

// Peer is the workload at the other end of a call, as its proxy announced it: the values
// of Istio's workload labels. Every field is set ("unknown" when the peer did not say),
// valid UTF-8 and at most MaxLabelLen bytes. Peers are interned: the same labels give the
// same *Peer, so a metrics filter may key its series on the pointer.
type Peer struct {
	Workload, Namespace, App, Version, CanonicalService, CanonicalRevision, Cluster string
}

// Bounds of what a proxy keeps about peers. The values come from the network, so each is
// capped.
const (
	// MaxLabelLen bounds one label value.
	MaxLabelLen = 128
	// maxValueLen is the longest header value decoded; Istio's are a few hundred bytes.
	maxValueLen = 16 << 10
	// cacheSize is the number of header values each of the cache's two generations holds.
	cacheSize = 1024
	// maxPeers bounds the distinct peers (label sets) a proxy tells apart for its whole
	// life; later ones read as unknown, so metric series stay bounded.
	maxPeers = 1024
)

// Peers decodes x-envoy-peer-metadata values into Peers. It caches each value it has
// decoded (two generations of cacheSize entries: a value used in the last cacheSize
// distinct ones is never decoded again), so the request path costs a map lookup under a read lock. One
// Peers serves the whole proxy (see SharedPeers); it is safe for concurrent use.
type Peers struct {
	mu       sync.RWMutex
	cur, old map[string]*Peer // header value → peer (nil for a value that names none)
	interned map[Peer]*Peer

	malformed, tooLarge, overflow prometheus.Counter
}

// NewPeers returns an empty Peers whose error counters are registered on reg.
func NewPeers(reg prometheus.Registerer) (*Peers, error) {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "breeze_metadata_exchange_peer_errors_total",
		Help: "Distinct x-envoy-peer-metadata values that gave no peer labels, by reason: malformed (not base64 of a google.protobuf.Struct), too_large, too_many_peers (past the cap of distinct peers).",
	}, []string{"reason"})
	if err := reg.Register(errs); err != nil {
		return nil, err
	}
	return &Peers{
		cur:       make(map[string]*Peer),
		old:       make(map[string]*Peer),
		interned:  make(map[Peer]*Peer),
		malformed: errs.WithLabelValues("malformed"),
		tooLarge:  errs.WithLabelValues("too_large"),
		overflow:  errs.WithLabelValues("too_many_peers"),
	}, nil
}

// SharedPeers returns the proxy's Peers, creating it on first use. The filters that read
// peer metadata (istio_stats) share it, so a value is decoded once per proxy.
func SharedPeers(ctx filter.BuildContext) (*Peers, error) {
	v, err := ctx.Shared.Get("metadata_exchange/peers", func() (any, error) { return NewPeers(ctx.Metrics) })
	if err != nil {
		return nil, err
	}
	return v.(*Peers), nil
}

// Lookup returns the peer an x-envoy-peer-metadata value names, or nil when value is
// empty, cannot be decoded, or names a peer past the cap. value may alias a frame: it is
// copied before it is kept.
func (p *Peers) Lookup(value string) *Peer {
	if value == "" {
		return nil
	}
	// The common case, a value seen lately, takes only the read lock: every request of
	// every connection comes here, and they should not queue behind one another.
	p.mu.RLock()
	peer, ok := p.cur[value]
	p.mu.RUnlock()
	if ok {
		return peer
	}
	p.mu.Lock()
	if peer, ok = p.cur[value]; !ok {
		if peer, ok = p.old[value]; ok {
			p.put(strings.Clone(value), peer) // still in use: keep it through the next swap
		}
	}
	p.mu.Unlock()
	if ok {
		return peer
	}
	if len(value) > maxValueLen {
		p.tooLarge.Inc()
		return nil // not cached: it would pin a large string
	}
	labels, ok := decode(value)
	if !ok {
		p.malformed.Inc()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		peer = p.intern(labels)
	}
	p.put(strings.Clone(value), peer)
	return peer
}

// put caches a value, starting a new generation when the current one is full. Called with
// mu held.
func (p *Peers) put(value string, peer *Peer) {
	if len(p.cur) >= cacheSize {
		p.old, p.cur = p.cur, make(map[string]*Peer, cacheSize)
	}
	p.cur[value] = peer
}

// intern returns the one *Peer of a label set, or nil past maxPeers. Called with mu held.
func (p *Peers) intern(labels Peer) *Peer {
	if peer, ok := p.interned[labels]; ok {
		return peer
	}
	if len(p.interned) >= maxPeers {
		p.overflow.Inc()
		return nil
	}
	peer := &labels
	p.interned[labels] = peer
	return peer
}

// decode reads a header value: standard base64 (unpadded accepted too) of a serialised
// google.protobuf.Struct holding Istio's node metadata.
func decode(value string) (Peer, bool) {
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(value); err != nil {
			return Peer{}, false
		}
	}
	var st structpb.Struct
	if err := proto.Unmarshal(b, &st); err != nil {
		return Peer{}, false
	}
	return PeerOf(st.AsMap()), true
}

// PeerOf derives Istio's workload labels from node metadata, in Istio's keys or Breeze's
// (docs/xds.md), with Istio's fallbacks: the app from the app (or
// app.kubernetes.io/name) label, the canonical service from its label, the app, then the
// workload name; the canonical revision from its label, the version, then "latest".
func PeerOf(md map[string]any) Peer {
	labels, _ := first(md, "LABELS", "labels").(map[string]any)
	workload := str(md, "WORKLOAD_NAME", "workload")
	app := str(labels, "app", "app.kubernetes.io/name")
	version := str(labels, "version", "app.kubernetes.io/version")
	p := Peer{
		Workload:          pick(workload),
		Namespace:         pick(str(md, "NAMESPACE", "namespace")),
		App:               pick(app),
		Version:           pick(version),
		CanonicalService:  pick(str(labels, "service.istio.io/canonical-name"), app, workload),
		CanonicalRevision: pick(str(labels, "service.istio.io/canonical-revision"), version, "latest"),
		Cluster:           pick(str(md, "CLUSTER_ID", "cluster_id")),
	}
	for _, f := range []*string{&p.Workload, &p.Namespace, &p.App, &p.Version, &p.CanonicalService, &p.CanonicalRevision, &p.Cluster} {
		*f = labelValue(*f)
	}
	return p
}

// pick returns the first non-empty value, or Unknown.
func pick(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return Unknown
}

func first(md map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := md[k]; ok {
			return v
		}
	}
	return nil
}

// str returns the first of keys that holds a non-empty string.
func str(md map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, _ := md[k].(string); s != "" {
			return s
		}
	}
	return ""
}

// labelValue makes v usable as a label value: at most MaxLabelLen bytes, cut at a character
// boundary, and valid UTF-8 (Prometheus' client refuses anything else; a Struct's strings
// are valid already, as protobuf checks them).
func labelValue(v string) string {
	if len(v) > MaxLabelLen {
		cut := MaxLabelLen
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut]
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "")
	}
	return v
}
