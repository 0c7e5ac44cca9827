// Package accesslog is the access_log filter: one line per request, in text or JSON, with
// Envoy's command operators (%START_TIME%, %DURATION%, %RESPONSE_FLAGS%, %UPSTREAM_HOST%,
// %REQ(key)%, ...), written to standard output or a file.
//
// On the request path the filter only copies what its format needs into an entry and
// queues it; a goroutine per destination formats and writes the lines. A full queue drops
// the line and counts it, so logging never holds up a request.
package accesslog

import (
	"fmt"
	"sync"
	"time"

	accesslogv1 "github.com/breeze-mesh/breeze/api/filters/accesslog/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
)

// Name is the name the filter is registered under.
const Name = "breeze.meta_protocol.filters.access_log"

// Defaults of the writer settings.
const (
	DefaultBufferSize    = 4096
	DefaultFlushInterval = time.Second
)

func init() { filter.RegisterWithContext(Name, New) }

// Filter queues a log entry for every finished request.
type Filter struct {
	format   *format
	writer   *writer
	listener string
	protocol string
}

// New builds the filter from an *AccessLog config (nil for the defaults: the default text
// line on standard output).
func New(ctx filter.BuildContext, config any) (filter.Filter, error) {
	cfg, ok := config.(*accesslogv1.AccessLog)
	if config != nil && !ok {
		return nil, fmt.Errorf("access_log: config is a %T, want *%s", config, (&accesslogv1.AccessLog{}).ProtoReflect().Descriptor().FullName())
	}
	var (
		f   *format
		err error
	)
	switch lf := cfg.GetLogFormat().GetFormat().(type) {
	case *accesslogv1.LogFormat_JsonFormat:
		f, err = compileJSON(lf.JsonFormat)
	case *accesslogv1.LogFormat_TextFormat:
		f, err = compileText(lf.TextFormat)
	default:
		f, err = compileText("")
	}
	if err != nil {
		return nil, fmt.Errorf("access_log: log_format: %w", err)
	}
	queue := int(cfg.GetBufferSize())
	if queue == 0 {
		queue = DefaultBufferSize
	}
	flush := DefaultFlushInterval
	if d := cfg.GetFlushInterval(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return nil, fmt.Errorf("access_log: flush_interval must be positive")
		}
		flush = d.AsDuration()
	}
	m, err := ctx.Shared.Get("access_log/metrics", func() (any, error) { return newWriterMetrics(ctx.Metrics) })
	if err != nil {
		return nil, fmt.Errorf("access_log: %w", err)
	}
	// One writer per destination for the proxy's life: the first configuration to name a
	// path sets its queue size and flush interval.
	path := cfg.GetPath()
	if path == "" {
		path = "/dev/stdout"
	}
	log := ctx.Log
	w, err := ctx.Shared.Get("access_log/writer/"+path, func() (any, error) {
		return openWriter(path, queue, flush, m.(*writerMetrics), log.Warn)
	})
	if err != nil {
		return nil, fmt.Errorf("access_log: %w", err)
	}
	return &Filter{format: f, writer: w.(*writer), listener: ctx.Listener, protocol: ctx.Codec}, nil
}

// OnRequest registers the hook that logs the request and passes it on.
func (f *Filter) OnRequest(s filter.Stream, next filter.Handler) {
	s.OnFinish(func(r filter.Result) { f.writer.enqueue(f.entry(s, r)) })
	next.OnRequest(s)
}

// entry is one request's line before formatting: everything the format reads, copied out of
// the stream (which is gone by the time the line is written).
type entry struct {
	format *format

	start                         time.Time
	duration                      time.Duration
	responseCode                  int
	status                        int32 // the upstream response's protocol status (Message.Code)
	hasStatus                     bool  // false for a local reply or a oneway request
	responseFlags, details        string
	bytesReceived, bytesSent      int
	upstreamHost, upstreamCluster string
	route, downstream             string
	listener, protocol            string
	service, method               string
	// req and resp hold the values of format.reqKeys and format.respKeys, by slot.
	req, resp []optional
}

var entries = sync.Pool{New: func() any { return new(entry) }}

func releaseEntry(e *entry) {
	req, resp := e.req[:0], e.resp[:0]
	*e = entry{req: req, resp: resp}
	entries.Put(e)
}

// entry fills an entry for s. Metadata values are referenced, not copied: codecs alias them
// into frames whose bytes the proxy never overwrites (protocol.AliasString), and the entry
// is written within moments.
func (f *Filter) entry(s filter.Stream, r filter.Result) *entry {
	info := s.Info()
	req := s.Request()
	e := entries.Get().(*entry)
	e.format = f.format
	e.start = info.Start
	e.duration = time.Since(info.Start)
	e.responseCode = r.ResponseCode()
	e.responseFlags = r.ResponseFlags()
	e.details = r.ResponseCodeDetails()
	e.bytesReceived = len(req.Frame)
	if r.Response != nil {
		e.bytesSent = len(r.Response.Frame)
		e.status, e.hasStatus = r.Response.Code, r.LocalError == nil
	}
	e.upstreamHost, e.upstreamCluster = info.Upstream, info.Cluster
	e.route, e.downstream, e.listener, e.protocol = info.Route, info.Downstream, f.listener, f.protocol
	e.service, e.method = filter.RPCService(&req.Metadata), filter.RPCMethod(&req.Metadata)
	e.req = lookup(e.req, f.format.reqKeys, &req.Metadata)
	if r.Response != nil {
		e.resp = lookup(e.resp, f.format.respKeys, &r.Response.Metadata)
	} else {
		e.resp = lookup(e.resp, f.format.respKeys, nil)
	}
	return e
}

func lookup(dst []optional, keys []string, md *protocol.Metadata) []optional {
	dst = dst[:0]
	for _, k := range keys {
		var o optional
		if md != nil {
			o.value, o.ok = md.Get(k)
		}
		dst = append(dst, o)
	}
	return dst
}

// Interface guard.
var _ filter.Filter = (*Filter)(nil)
