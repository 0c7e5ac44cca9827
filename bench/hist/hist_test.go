package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every bucket's range starts right after the previous one ends, so each value has exactly
// one bucket and index and lowest agree.
func TestBucketsTile(t *testing.T) {
	for i := 0; i < numBucket-1; i++ {
		if lowest(i+1) != highest(i)+1 {
			t.Fatalf("bucket %d ends at %d, bucket %d starts at %d", i, highest(i), i+1, lowest(i+1))
		}
		for _, v := range []int64{lowest(i), highest(i)} {
			if got := index(v); got != i {
				t.Fatalf("index(%d) = %d, want %d", v, got, i)
			}
		}
	}
	if got := index(maxValue); got != numBucket-1 {
		t.Fatalf("index(maxValue) = %d, want the last bucket %d", got, numBucket-1)
	}
}

// Quantiles agree with an exact sort within the promised relative precision, and never
// understate.
func TestQuantileMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var exact []int64
	for range 100000 {
		// Log-uniform from 100 ns to 100 ms: every bucket scale gets values.
		v := int64(100 * math.Pow(10, rng.Float64()*6))
		h.Record(time.Duration(v))
		exact = append(exact, v)
	}
	slices.Sort(exact)
	for _, q := range []float64{0, 0.001, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := max(int(q*float64(len(exact))+0.999999), 1)
		want := exact[rank-1]
		got := int64(h.Quantile(q))
		if got < want || float64(got-want) > float64(want)/halfCount+1 {
			t.Errorf("Quantile(%v) = %d, exact %d (allowed up to +%.2f%%)", q, got, want, 100.0/halfCount)
		}
	}
	if h.Max() != time.Duration(exact[len(exact)-1]) || h.Min() != time.Duration(exact[0]) {
		t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), exact[0], exact[len(exact)-1])
	}
}

func TestMergeAndEdges(t *testing.T) {
	var a, b Histogram
	if a.Quantile(0.5) != 0 || a.Mean() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	a.Record(-5)                  // clamped to 0
	b.Record(time.Hour * 24 * 30) // clamped to maxValue
	b.Record(10 * time.Microsecond)
	a.Merge(&b)
	if a.Count() != 3 {
		t.Fatalf("count = %d, want 3", a.Count())
	}
	if a.Min() != 0 || a.Max() != time.Duration(maxValue) {
		t.Fatalf("min/max = %v/%v", a.Min(), a.Max())
	}
	if got := a.Quantile(0.5); got < 10*time.Microsecond || got > 10*time.Microsecond+100*time.Nanosecond {
		t.Fatalf("median = %v, want about 10µs", got)
	}
	a.Reset()
	if a.Count() != 0 {
		t.Fatal("Reset left values")
	}
}
