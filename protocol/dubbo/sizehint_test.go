package dubbo

import (
	"errors"
	"strings"
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/breeze-mesh/breeze/protocol"
)

// A large frame whose header is in but whose body is not reports its size, so the proxy can
// read the body into one buffer; a small one reports plain ErrNeedMore.
func TestIncompleteFrameSizeHint(t *testing.T) {
	for _, tc := range []struct {
		payload int
		sized   bool
	}{{100, false}, {20 << 10, true}} {
		e := hessian.NewEncoder()
		if err := e.Encode(int32(responseValue)); err != nil {
			t.Fatal(err)
		}
		if err := e.Encode(strings.Repeat("y", tc.payload)); err != nil {
			t.Fatal(err)
		}
		frame := appendHeader(nil, serializationHessian2, statusOK, 7)
		frame = append(frame, e.Buffer()...)
		putBodyLen(frame)

		c := New(protocol.Options{Side: protocol.ResponseSide})
		var msg protocol.Message
		n, err := c.Decode(frame[:len(frame)/2], &msg)
		if n != 0 || !errors.Is(err, protocol.ErrNeedMore) {
			t.Fatalf("%d bytes: Decode(half) = %d, %v", len(frame), n, err)
		}
		var sized protocol.NeedMoreError
		ok := errors.As(err, &sized)
		if ok != tc.sized || ok && sized.FrameSize != len(frame) {
			t.Fatalf("%d-byte frame: error %#v, want a size hint: %v", len(frame), err, tc.sized)
		}
		if n, err := c.Decode(frame, &msg); err != nil || n != len(frame) {
			t.Fatalf("whole frame: %d, %v", n, err)
		}
	}
}
