package localratelimit

import (
	"math"
	"testing"
	"time"

	lrlv1 "github.com/breeze-mesh/breeze/api/filters/localratelimit/v1alpha1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// drain takes tokens until the bucket refuses, returning how many it gave.
func drain(b *bucket, now time.Time) int {
	n := 0
	for b.take(now) {
		n++
	}
	return n
}

// TestBucketRefillsPerInterval follows a bucket of 5 refilled by 2 every second on a clock
// the test moves: it starts full, refills only whole intervals, and never beyond its size.
func TestBucketRefillsPerInterval(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b, err := newBucket("token_bucket", &lrlv1.TokenBucket{MaxTokens: 5, TokensPerFill: wrapperspb.UInt32(2), FillInterval: durationpb.New(time.Second)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at   time.Duration
		want int
	}{
		{0, 5},                       // starts full
		{999 * time.Millisecond, 0},  // no whole interval yet
		{1500 * time.Millisecond, 2}, // one fill
		{2 * time.Second, 2},         // the next fill is due at 2s, not 2.5s
		{10 * time.Second, 5},        // eight fills, capped at the size
		{time.Duration(math.MaxInt64), 5},
	}
	for _, s := range steps {
		if got := drain(b, t0.Add(s.at)); got != s.want {
			t.Errorf("at %v: %d tokens, want %d", s.at, got, s.want)
		}
	}
}

// BenchmarkTake is the cost of a token taken from a bucket that always has one (the
// per-request cost of the filter on top of its condition matching).
func BenchmarkTake(b *testing.B) {
	t0 := time.Now()
	bk, err := newBucket("token_bucket", &lrlv1.TokenBucket{MaxTokens: math.MaxUint32, TokensPerFill: wrapperspb.UInt32(math.MaxUint32), FillInterval: durationpb.New(time.Second)}, t0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		bk.take(t0)
	}
}
