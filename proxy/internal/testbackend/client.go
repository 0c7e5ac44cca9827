package testbackend

import (
	"net"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

// Client is a raw testcodec client on one connection, for driving a proxy listener. Its
// methods that take no error fail the test instead, so they belong to the test's own
// goroutine; other goroutines use Conn and Next.
type Client struct {
	// Conn is the connection, for what the helpers do not cover: bad bytes, reading
	// until close.
	Conn   net.Conn
	t      testing.TB
	fr     *connio.FrameReader
	lastID uint64
}

// Dial connects to addr; the connection is closed at the end of the test.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{Conn: c, t: t, fr: connio.NewFrameReader(c, newCodec(protocol.ResponseSide), maxFrame)}
}

// Send writes one frame (see testcodec.Frame).
func (c *Client) Send(typ byte, id uint64, md map[string]string, payload string) {
	c.t.Helper()
	if _, err := c.Conn.Write(testcodec.Frame(typ, id, md, payload)); err != nil {
		c.t.Fatal(err)
	}
}

// Next reads the next message into msg, waiting at most a generous bound.
func (c *Client) Next(msg *protocol.Message) error {
	_ = c.Conn.SetReadDeadline(time.Now().Add(patience))
	return c.fr.Next(msg)
}

// Recv reads the next message.
func (c *Client) Recv() *protocol.Message {
	c.t.Helper()
	msg := new(protocol.Message)
	if err := c.Next(msg); err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return msg
}

// NextID returns a request id this client's Request has not used; Request and Call number
// their requests 1, 2, 3...
func (c *Client) NextID() uint64 {
	c.lastID++
	return c.lastID
}

// Request sends a two-way request with the next id and returns the id.
func (c *Client) Request(md map[string]string, payload string) uint64 {
	c.t.Helper()
	id := c.NextID()
	c.Send('Q', id, md, payload)
	return id
}

// Answer reads the next message, which must answer request id: an error's kind ("" for a
// response) and the payload.
func (c *Client) Answer(id uint64) (kind, payload string) {
	c.t.Helper()
	msg := c.Recv()
	if msg.RequestID != id {
		c.t.Fatalf("response id %d, want %d", msg.RequestID, id)
	}
	if msg.Type == protocol.Error {
		return msg.Metadata.Value("error-kind"), testcodec.Payload(msg)
	}
	return "", testcodec.Payload(msg)
}

// Call sends a request and returns its answer: the payload, or "error:<kind>".
func (c *Client) Call(md map[string]string, payload string) string {
	c.t.Helper()
	kind, body := c.Answer(c.Request(md, payload))
	if kind != "" {
		return "error:" + kind
	}
	return body
}
