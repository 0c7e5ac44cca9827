// Package filter is the API of the per-request filter chain: what a filter sees of a
// request, how it passes the request on or answers it, and how filters register.
//
// A listener's chain is built once per config version from its filter configs and swapped
// in atomically; each request then runs through it:
//
//	decode → filter 1 → filter 2 → ... → router → upstream
//
// A filter's OnRequest either calls next.OnRequest(s) to pass the request on, or answers it
// with s.LocalReply. It may do either later, from another goroutine (an injected delay, a
// rate-limit service call): requests do not wait for each other, so OnRequest should return
// promptly and never block on I/O. Exactly one of the two must happen for every request,
// or the client waits for its timeout.
package filter

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
)

// Handler takes a request on its way upstream.
type Handler interface {
	OnRequest(s Stream)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(Stream)

// OnRequest calls f(s).
func (f HandlerFunc) OnRequest(s Stream) { f(s) }

// Filter is one link of the chain.
type Filter interface {
	// OnRequest handles s and then calls next.OnRequest(s) or s.LocalReply, now or later.
	OnRequest(s Stream, next Handler)
}

// FilterFunc adapts a function to Filter.
type FilterFunc func(s Stream, next Handler)

// OnRequest calls f(s, next).
func (f FilterFunc) OnRequest(s Stream, next Handler) { f(s, next) }

// Chain links filters in order in front of terminal (the router).
func Chain(terminal Handler, filters ...Filter) Handler {
	h := terminal
	for i := len(filters) - 1; i >= 0; i-- {
		h = link{f: filters[i], next: h}
	}
	return h
}

type link struct {
	f    Filter
	next Handler
}

func (l link) OnRequest(s Stream) { l.f.OnRequest(s, l.next) }

// Stream is one request's view for filters. Its methods are safe to call from any
// goroutine until the stream finishes.
type Stream interface {
	// Context carries the request's deadline-free lifetime; it is cancelled when the
	// downstream connection closes.
	Context() context.Context
	// Request is the decoded request. Filters read it; they must not keep it after the
	// stream finishes.
	Request() *protocol.Message
	// Codec is the downstream connection's codec, for encoding mutations.
	Codec() protocol.Codec
	// AddRequestMutation asks for key=value to be written into the request upstream.
	AddRequestMutation(key, value string)
	// RequestMutation returns what filters have added so far.
	RequestMutation() protocol.Mutation
	// AddResponseMutation asks for key=value to be written into the response.
	AddResponseMutation(key, value string)
	// Info is the stream's bookkeeping (route, cluster, host, timing) for logs and metrics.
	Info() *Info
	// OnFinish registers fn to run once when the stream finishes, after the reply is
	// queued to the client. Hooks run in reverse order of registration.
	OnFinish(fn func(Result))
	// Respond finishes the stream with an upstream response (the router calls it).
	Respond(resp *protocol.Message)
	// LocalReply finishes the stream with a protocol-native error reply.
	LocalReply(err *protocol.LocalError)
	// Finish finishes a stream that gets no reply (oneway requests).
	Finish()
}

// Info is per-stream bookkeeping, filled in as the request moves along.
type Info struct {
	Listener string
	Start    time.Time
	Route    string
	Cluster  string
	Upstream string // host:port of the endpoint used
	// Downstream is the client's address (host:port).
	Downstream string
	// ResponseFlag is set by a filter that answers a request itself when Envoy has a more
	// precise response flag than the error kind's: "RL" for a rate limit and "RLSE" for a
	// failed rate limit service, where the over_limit reply alone would read "UO", a
	// circuit breaker's overflow.
	ResponseFlag string
}

// Result is how a stream ended.
type Result struct {
	// Response is the upstream response, nil for a local reply or a oneway request. It is
	// valid only while the hook runs.
	Response *protocol.Message
	// LocalError is set when the proxy answered itself.
	LocalError *protocol.LocalError
	// Flag is the Info.ResponseFlag of a local reply ("" when the kind's flag applies).
	Flag string
}

// Factory builds a filter from its typed configuration (a proto message, or nil).
type Factory func(config any) (Filter, error)

var registry = struct {
	sync.RWMutex
	byName map[string]ContextFactory
}{byName: map[string]ContextFactory{}}

// Register adds a filter factory under name. It panics on a duplicate name. A factory that
// needs the listener's context (metrics registry, node identity, logger) registers with
// RegisterWithContext instead.
func Register(name string, f Factory) {
	RegisterWithContext(name, func(_ BuildContext, config any) (Filter, error) { return f(config) })
}

// Build returns the filter registered under name, built from config with an empty
// BuildContext (see BuildWithContext).
func Build(name string, config any) (Filter, error) {
	return BuildWithContext(BuildContext{}, name, config)
}

// Names lists registered filters, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.byName))
	for n := range registry.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
