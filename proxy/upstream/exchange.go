package upstream

import (
	"time"

	"github.com/breeze-mesh/breeze/protocol"
)

// Callbacks receive the outcome of one request. Exactly one of them is called, once, from
// a goroutine of this package; neither may block.
type Callbacks interface {
	// OnResponse gets the response, its request id already set back to the request's own.
	// resp is valid only until OnResponse returns (its Frame bytes stay valid for good).
	OnResponse(resp *protocol.Message)
	// OnFailure gets why no response will come.
	OnFailure(err *protocol.LocalError)
}

// Request is one frame to send and where its outcome goes.
type Request struct {
	// Frame is the encoded request. With a multiplexed pool its id field is rewritten in
	// place, so it must be the caller's to modify.
	Frame []byte
	// ID is the request id the client used; the response carries it back.
	ID uint64
	// Oneway requests get no response and no callback.
	Oneway bool
	// Timeout bounds the wait for the response (0: none).
	Timeout time.Duration
	// Callbacks receive the outcome of a two-way request.
	Callbacks Callbacks
}

// exchange is a request awaiting its response on one connection.
type exchange struct {
	origID uint64
	cb     Callbacks
	timer  *time.Timer
}
