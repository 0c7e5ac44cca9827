package accesslog

import (
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestJSONStringEscaping(t *testing.T) {
	for _, in := range []string{"plain", `quote " and \ backslash`, "ctl\x00\x1f\x7f", "bad utf8 \xff\xfe", "é 中 🙂"} {
		out := appendJSONString(nil, []byte(in))
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Errorf("%q encoded as invalid JSON %s: %v", in, out, err)
			continue
		}
		want := in
		if in == "bad utf8 \xff\xfe" {
			want = "bad utf8 \ufffd\ufffd"
		}
		if back != want {
			t.Errorf("%q round-tripped as %q", in, back)
		}
	}
}

// TestFullQueueDropsAndCounts: with the writer's queue full, a line is dropped and counted
// at once rather than waiting.
func TestFullQueueDropsAndCounts(t *testing.T) {
	m, err := newWriterMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// A writer whose goroutine is not running: nothing drains its queue of one.
	w := &writer{path: "test", queue: make(chan *entry, 1), dropped: m.dropped.WithLabelValues("test")}
	w.enqueue(entries.Get().(*entry))
	w.enqueue(entries.Get().(*entry))
	w.enqueue(entries.Get().(*entry))
	if got := testutil.ToFloat64(w.dropped); got != 2 {
		t.Fatalf("dropped = %v, want 2", got)
	}
	if len(w.queue) != 1 {
		t.Fatalf("queue holds %d, want 1", len(w.queue))
	}
}
