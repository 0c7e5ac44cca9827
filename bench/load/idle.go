package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/breeze-mesh/breeze/bench/peers"
)

// IdleConns is a set of open connections that each made one request and then went quiet.
type IdleConns struct {
	conns []net.Conn
}

// OpenIdle opens n connections to addr, sends req once on each and waits for its
// response, and leaves them open: what a pool of mostly idle clients costs the target.
func OpenIdle(ctx context.Context, addr string, f peers.Framing, req []byte, n int) (*IdleConns, error) {
	ic := &IdleConns{conns: make([]net.Conn, n)}
	const workers = 32
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := append([]byte(nil), req...)
			var buf []byte
			for i := range next {
				c, err := openOne(ctx, addr, f, msg, &buf)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				ic.conns[i] = c
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		ic.Close()
		return nil, first
	}
	return ic, nil
}

func openOne(ctx context.Context, addr string, f peers.Framing, msg []byte, buf *[]byte) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	f.SetID(msg, 1)
	if _, err := c.Write(msg); err != nil {
		c.Close()
		return nil, err
	}
	n, err := peers.ReadFrame(newReaderSize(c, 4<<10), f, buf)
	if err == nil && f.OK != nil && !f.OK((*buf)[:n]) {
		err = errors.New("the response reports an error")
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Len is the number of open connections.
func (ic *IdleConns) Len() int { return len(ic.conns) }

// Close closes every connection.
func (ic *IdleConns) Close() {
	for _, c := range ic.conns {
		if c != nil {
			c.Close()
		}
	}
}
