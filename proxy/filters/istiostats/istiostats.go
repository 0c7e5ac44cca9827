// Package istiostats is the istio_stats filter: Istio's standard request metrics
// (istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
// istio_response_bytes) with Istio's label names, so the Prometheus queries and Grafana
// dashboards of an Istio mesh show Breeze's RPC traffic unchanged, and Breeze's own metrics
// per service and method (breeze_service_*), with a cap on how many methods are labelled.
//
// The filter only registers a hook on each request; the metrics are recorded when the
// request finishes, from the Result (README.md lists the labels and how they are filled).
package istiostats

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/metadataexchange"
	"github.com/prometheus/client_golang/prometheus"
)

// Names the filter is registered under: Breeze's, and Aeraki's, so that a chain written
// for Aeraki ("aeraki.meta_protocol.filters.istio_stats") finds it.
const (
	Name       = "breeze.meta_protocol.filters.istio_stats"
	AerakiName = "aeraki.meta_protocol.filters.istio_stats"
)

// DefaultMaxMethods is the cap on distinct service/method pairs per listener.
const DefaultMaxMethods = 200

func init() {
	filter.RegisterWithContext(Name, New)
	filter.RegisterWithContext(AerakiName, New)
}

// Filter records the metrics of each request when it finishes.
type Filter struct {
	fam *families
	// base holds the label values fixed for this listener; the per-request ones are
	// filled into a copy.
	base        []string
	fixedDest   *destination // destination_service from the config, if set
	methods     *methodTable // nil when method metrics are off
	serviceKeys []string
	methodKey   string

	// peers decodes the peer's x-envoy-peer-metadata, read from the request on the
	// destination side (peerInRequest) and from the response on the source side.
	peers         *metadataexchange.Peers
	peerInRequest bool

	// series caches the resolved Istio series per cluster, response code, flag and peer.
	series sync.Map // seriesKey → *istioSeries
}

type seriesKey struct {
	cluster string
	code    uint8
	flag    uint8
	peer    *metadataexchange.Peer // interned; nil for an unknown peer
}

type istioSeries struct {
	requests                prometheus.Counter
	duration, reqBy, respBy prometheus.Observer
}

// New builds the filter from an *IstioStats config (nil for the defaults).
func New(ctx filter.BuildContext, config any) (filter.Filter, error) {
	cfg, ok := config.(*istiostatsv1.IstioStats)
	if config != nil && !ok {
		return nil, fmt.Errorf("istio_stats: config is a %T, want *%s", config, (&istiostatsv1.IstioStats{}).ProtoReflect().Descriptor().FullName())
	}
	v, err := ctx.Shared.Get("istio_stats/families", func() (any, error) { return newFamilies(ctx.Metrics) })
	if err != nil {
		return nil, fmt.Errorf("istio_stats: %w", err)
	}
	f := &Filter{fam: v.(*families)}

	reporter := cfg.GetReporter()
	if reporter == istiostatsv1.IstioStats_AUTO {
		reporter = istiostatsv1.IstioStats_SOURCE
		if ctx.Direction == filter.Inbound {
			reporter = istiostatsv1.IstioStats_DESTINATION
		}
	}
	self := localWorkload(cfg.GetWorkload(), ctx.Node)
	src, dst := self, unknownWorkload
	reporterName, security := "source", unknown
	if reporter == istiostatsv1.IstioStats_DESTINATION {
		src, dst = unknownWorkload, self
		// Breeze has no TLS yet: what reaches an inbound listener is plaintext.
		reporterName, security = "destination", "none"
	}
	f.base = []string{
		reporterName,
		src.name, src.canonicalService, src.canonicalRevision, src.namespace, unknown, src.app, src.version, src.cluster,
		dst.name, dst.namespace, unknown, dst.app, dst.version, "",
		dst.canonicalService, dst.canonicalRevision, "", "", dst.cluster,
		ctx.Codec, "", "", "", security,
	}
	if len(f.base) != len(istioLabels) {
		panic("istio_stats: label values out of step with istioLabels")
	}
	if f.peers, err = metadataexchange.SharedPeers(ctx); err != nil {
		return nil, fmt.Errorf("istio_stats: %w", err)
	}
	f.peerInRequest = reporter == istiostatsv1.IstioStats_DESTINATION
	if ds := cfg.GetDestinationService(); ds != "" {
		d := destinationOfHost(ds)
		f.fixedDest = &d
	}

	mm := cfg.GetMethodMetrics()
	if !mm.GetDisabled() {
		f.serviceKeys = mm.GetServiceKeys()
		if len(f.serviceKeys) == 0 {
			f.serviceKeys = []string{filter.ServiceKey, filter.AltServiceKey}
		}
		f.methodKey = mm.GetMethodKey()
		if f.methodKey == "" {
			f.methodKey = filter.MethodKey
		}
		limit := int(mm.GetMaxMethods())
		if limit == 0 {
			limit = DefaultMaxMethods
		}
		// One table per listener and cap, kept across config versions so that the cap
		// counts every pair the listener has labelled.
		key := "istio_stats/methods/" + ctx.StatPrefix + "/" + strconv.Itoa(limit)
		v, err := ctx.Shared.Get(key, func() (any, error) { return newMethodTable(f.fam, ctx.StatPrefix, limit), nil })
		if err != nil {
			return nil, fmt.Errorf("istio_stats: %w", err)
		}
		f.methods = v.(*methodTable)
	}
	return f, nil
}

// OnRequest registers the hook that records the request and passes it on.
func (f *Filter) OnRequest(s filter.Stream, next filter.Handler) {
	s.OnFinish(func(r filter.Result) { f.record(s, r) })
	next.OnRequest(s)
}

func (f *Filter) record(s filter.Stream, r filter.Result) {
	info := s.Info()
	elapsed := time.Since(info.Start)
	req := s.Request()
	code, flag := r.ResponseCode(), flagIndex(r)

	var peer *metadataexchange.Peer
	switch {
	case f.peerInRequest:
		peer = f.peers.Lookup(req.Metadata.Value(metadataexchange.HeaderMetadata))
	case r.Response != nil:
		peer = f.peers.Lookup(r.Response.Metadata.Value(metadataexchange.HeaderMetadata))
	}
	is := f.istioSeries(info.Cluster, code, flag, peer)
	is.requests.Inc()
	is.duration.Observe(float64(elapsed) / float64(time.Millisecond))
	is.reqBy.Observe(float64(len(req.Frame)))
	respSize := 0
	if r.Response != nil {
		respSize = len(r.Response.Frame)
	}
	is.respBy.Observe(float64(respSize))

	if f.methods != nil {
		service := ""
		for _, k := range f.serviceKeys {
			if v, ok := req.Metadata.Get(k); ok {
				service = v
				break
			}
		}
		status := noStatus
		if r.Response != nil && r.LocalError == nil {
			status = r.Response.Code
		}
		f.methods.record(orUnknown(service), orUnknown(req.Metadata.Value(f.methodKey)), code, flag, status, elapsed.Seconds())
	}
}

func orUnknown(v string) string {
	if v == "" {
		return unknown
	}
	return v
}

// istioSeries returns the series for one cluster, outcome and peer, resolving them on first
// use. Cluster names come from the configuration and peers are capped (metadataexchange),
// so the cache is bounded.
func (f *Filter) istioSeries(cluster string, code, flag int, peer *metadataexchange.Peer) *istioSeries {
	key := seriesKey{cluster: cluster, code: uint8(code), flag: uint8(flag), peer: peer}
	if v, ok := f.series.Load(key); ok {
		return v.(*istioSeries)
	}
	labels := append([]string(nil), f.base...)
	d := destination{unknown, unknown, unknown}
	switch {
	case f.fixedDest != nil:
		d = *f.fixedDest
	case cluster != "":
		d = destinationOf(cluster)
	}
	labels[lDestinationService] = d.service
	labels[lDestinationServiceName] = d.name
	labels[lDestinationServiceNamespace] = d.namespace
	if peer != nil {
		// The peer's labels, on its side of the call. Its principal would come from its
		// mTLS certificate, which a header cannot vouch for: it stays unknown.
		if f.peerInRequest {
			labels[lSourceWorkload], labels[lSourceCanonicalService], labels[lSourceCanonicalRevision] = peer.Workload, peer.CanonicalService, peer.CanonicalRevision
			labels[lSourceNamespace], labels[lSourceApp], labels[lSourceVersion], labels[lSourceCluster] = peer.Namespace, peer.App, peer.Version, peer.Cluster
		} else {
			labels[lDestinationWorkload], labels[lDestinationNamespace] = peer.Workload, peer.Namespace
			labels[lDestinationApp], labels[lDestinationVersion], labels[lDestinationCluster] = peer.App, peer.Version, peer.Cluster
			labels[lDestinationCanonicalService], labels[lDestinationCanonicalRevision] = peer.CanonicalService, peer.CanonicalRevision
		}
	}
	labels[lResponseCode] = strconv.Itoa(code)
	labels[lResponseFlags] = flagName(flag)
	for i, v := range labels {
		labels[i] = labelValue(v)
	}
	is := &istioSeries{
		requests: f.fam.requests.WithLabelValues(labels...),
		duration: f.fam.duration.WithLabelValues(labels...),
		reqBy:    f.fam.requestBytes.WithLabelValues(labels...),
		respBy:   f.fam.responseBytes.WithLabelValues(labels...),
	}
	v, _ := f.series.LoadOrStore(key, is)
	return v.(*istioSeries)
}

// flagIndex numbers a result's response flag: 0 for "-", 1 + the error kind for a local
// reply, and past those the flags filters name themselves (filter.FilterFlags).
func flagIndex(r filter.Result) int {
	if r.LocalError == nil {
		return 0
	}
	if r.Flag != "" {
		if i := slices.Index(filter.FilterFlags[:], r.Flag); i >= 0 {
			return 1 + kindCount + i
		}
	}
	if int(r.LocalError.Kind) < kindCount {
		return 1 + int(r.LocalError.Kind)
	}
	return 1 + int(protocol.Internal) // a kind newer than this filter
}

func flagName(i int) string {
	switch {
	case i == 0:
		return "-"
	case i > kindCount:
		return filter.FilterFlags[i-1-kindCount]
	}
	return filter.ResponseFlagOf(protocol.ErrorKind(i - 1))
}

// Interface guard.
var _ filter.Filter = (*Filter)(nil)
