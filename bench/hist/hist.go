// Package hist is an HDR-style latency histogram: fixed memory, constant-time recording,
// and quantiles within 1/128 (under 0.8 %) of the recorded value, from a nanosecond up to
// about 18 minutes. Histograms from several goroutines merge by addition, so each
// connection of a load generator records into its own and nothing is shared on the hot path.
package hist

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision: each power-of-two range of values is split into
// 2^(subBits-1) equal buckets, so a bucket spans at most 1/2^(subBits-1) of its values.
const subBits = 8

const (
	subCount  = 1 << subBits // values below this are recorded exactly
	halfCount = subCount / 2 // buckets per power of two above that
	maxExp    = 40           // values up to 2^40 ns (~18 min); larger ones are clamped
	numBucket = subCount + (maxExp-subBits)*halfCount
	maxValue  = int64(1)<<maxExp - 1
)

// Histogram counts durations in log-linear buckets. The zero value is empty and ready.
type Histogram struct {
	counts   [numBucket]uint64
	total    uint64
	sum      float64 // nanoseconds, for the mean
	min, max int64
}

// index returns the bucket of v (nanoseconds, 0 <= v <= maxValue).
func index(v int64) int {
	if v < subCount {
		return int(v)
	}
	// v has e significant bits (e > subBits); keep its top subBits bits.
	e := bits.Len64(uint64(v))
	shift := e - subBits
	top := int(v >> shift) // in [halfCount, subCount)
	return subCount + (shift-1)*halfCount + top - halfCount
}

// lowest returns the smallest value that falls in bucket i; highest the largest.
func lowest(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := (i-subCount)/halfCount + 1
	top := int64((i-subCount)%halfCount + halfCount)
	return top << shift
}

func highest(i int) int64 { return lowest(i+1) - 1 }

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d), 0), maxValue)
	h.counts[index(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min and Max are the exact extremes recorded (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average of the values recorded.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the q-quantile (0 <= q <= 1): the highest value of the bucket holding
// the value of rank ceil(q·count), clamped to the exact min and max. So Quantile(1) is
// the exact maximum and a quantile never understates the latency it reports.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(highest(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
