package protocol_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// A sized "need more" is still ErrNeedMore to every caller that asks errors.Is.
func TestNeedMoreErrorIsErrNeedMore(t *testing.T) {
	var err error = protocol.NeedMoreError{FrameSize: 20000}
	if !errors.Is(err, protocol.ErrNeedMore) || !errors.Is(fmt.Errorf("decode: %w", err), protocol.ErrNeedMore) {
		t.Fatal("NeedMoreError is not ErrNeedMore")
	}
	if errors.Is(err, protocol.ErrMalformed) {
		t.Fatal("NeedMoreError is ErrMalformed")
	}
	if err.Error() == "" {
		t.Fatal("empty message")
	}
}
