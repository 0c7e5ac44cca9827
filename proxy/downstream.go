package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
)

// downstream is one client connection. Its goroutine decodes requests and hands each to the
// filter chain without waiting for the answer, so one slow request never holds up the
// others; answers are queued to a writer goroutine in whatever order they come.
type downstream struct {
	l      *listener
	nc     net.Conn
	remote string // nc's remote address, formatted once for every request's Info
	codec  protocol.Codec
	w      *connio.Writer
	ctx    context.Context
	cancel context.CancelFunc

	inFlight atomic.Int64
	lastUsed atomic.Int64 // unix nanos of the last request or reply, for the idle timeout
	draining atomic.Bool
	drained  chan struct{} // closed when draining and nothing is in flight
	once     sync.Once
}

func newDownstream(l *listener, nc net.Conn) *downstream {
	ctx, cancel := context.WithCancel(context.Background())
	d := &downstream{
		l:       l,
		nc:      nc,
		remote:  nc.RemoteAddr().String(),
		codec:   l.codec.New(protocol.Options{Side: protocol.RequestSide, MaxFrameSize: l.cfg.MaxFrameSize}),
		ctx:     ctx,
		cancel:  cancel,
		drained: make(chan struct{}),
	}
	d.w = connio.NewWriter(nc, func(error) { nc.Close() })
	return d
}

func (d *downstream) serve() {
	defer d.close()
	d.touch()
	if idle := d.l.cfg.IdleTimeout; idle > 0 {
		t := time.AfterFunc(idle, d.checkIdle)
		defer t.Stop()
	}
	fr := connio.NewFrameReader(d.nc, d.codec, d.l.cfg.MaxFrameSize)
	var s *stream
	for {
		if s == nil {
			s = newStream(d)
		}
		if err := fr.Next(&s.req); err != nil {
			d.readFailed(&s.req, err)
			return
		}
		d.touch()
		switch s.req.Type {
		case protocol.Heartbeat:
			d.answerHeartbeat(&s.req) // s is reused for the next frame
		case protocol.Request, protocol.Oneway, protocol.StreamInit:
			d.dispatch(s)
			s = nil
		default:
			// Responses and stream frames from a client have nowhere to go.
			d.l.stats.DecodeErrors.Inc()
		}
	}
}

func (d *downstream) dispatch(s *stream) {
	d.inFlight.Add(1)
	d.l.stats.Requests.Inc()
	d.l.stats.Active.Inc()
	s.info.Start = time.Now()
	d.l.current().chain.OnRequest(s)
}

func (d *downstream) answerHeartbeat(msg *protocol.Message) {
	hr, ok := d.codec.(protocol.HeartbeatResponder)
	if !ok {
		return
	}
	reply, err := hr.HeartbeatReply(msg)
	if err == nil && len(reply) > 0 {
		d.w.Write(reply)
	}
}

// readFailed ends the read loop: a clean close, a drain, or a bad frame. A bad frame whose
// request id is known gets an error reply first, so the client's call fails with a reason.
func (d *downstream) readFailed(msg *protocol.Message, err error) {
	switch {
	case d.draining.Load():
		d.waitDrained()
	case errors.Is(err, protocol.ErrMalformed), errors.Is(err, protocol.ErrFrameTooLarge), errors.Is(err, io.ErrUnexpectedEOF):
		d.l.stats.DecodeErrors.Inc()
		d.l.log.Debug("closing downstream connection after bad frame", "remote", d.nc.RemoteAddr().String(), "error", err)
		if msg.Type == protocol.Request && !errors.Is(err, io.ErrUnexpectedEOF) {
			d.l.stats.LocalReply(protocol.BadRequest)
			d.replyError(msg, &protocol.LocalError{Kind: protocol.BadRequest, Message: err.Error()})
		}
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
	default:
		d.l.log.Debug("downstream read failed", "remote", d.nc.RemoteAddr().String(), "error", err)
	}
}

func (d *downstream) replyError(req *protocol.Message, e *protocol.LocalError) {
	reply, err := d.codec.ErrorReply(req, e)
	if err != nil {
		d.l.log.Warn("codec could not build an error reply", "codec", d.l.codec.Name, "error", err)
		return
	}
	d.w.Write(reply)
}

func (d *downstream) write(frame []byte) {
	d.touch()
	d.w.Write(frame)
}

func (d *downstream) requestDone() {
	d.l.stats.Active.Dec()
	if d.inFlight.Add(-1) == 0 && d.draining.Load() {
		d.once.Do(func() { close(d.drained) })
	}
}

// drain stops reading new requests; serve returns once in-flight requests are answered.
func (d *downstream) drain() {
	d.draining.Store(true)
	if d.inFlight.Load() == 0 {
		d.once.Do(func() { close(d.drained) })
	}
	_ = d.nc.SetReadDeadline(time.Now())
}

func (d *downstream) waitDrained() {
	select {
	case <-d.drained:
	case <-d.l.force:
	}
}

// close flushes queued replies and closes the connection.
func (d *downstream) close() {
	d.cancel()
	d.w.Close()
	d.nc.Close()
	d.l.forget(d)
}

func (d *downstream) touch() { d.lastUsed.Store(time.Now().UnixNano()) }

// checkIdle closes the connection if nothing happened on it for the idle timeout, and
// otherwise re-arms itself for the remaining time.
func (d *downstream) checkIdle() {
	idle := d.l.cfg.IdleTimeout
	since := time.Since(time.Unix(0, d.lastUsed.Load()))
	if d.ctx.Err() != nil {
		return
	}
	if since >= idle && d.inFlight.Load() == 0 {
		d.l.log.Debug("closing idle downstream connection", "remote", d.nc.RemoteAddr().String())
		d.nc.Close()
		return
	}
	time.AfterFunc(max(idle-since, time.Second), d.checkIdle)
}
