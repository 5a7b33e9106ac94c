package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets, as HdrHistogram does: values below
// 2·histSub nanoseconds get a bucket each, and every power-of-two range above is split into
// histSub equal buckets. A bucket is therefore never wider than 1/histSub of the values in
// it, so a quantile is within 1/(2·histSub) ≈ 0.2% of the exact one, at a fixed memory
// cost (about 110 KiB) however many values are recorded.
//
// The zero value is ready to use. A Histogram is not safe for concurrent use.
type Histogram struct {
	counts []uint64 // allocated on first Record
	n      uint64
	sum    float64 // nanoseconds, for the mean
	min    int64
	max    int64
}

const (
	histSubBits = 8
	histSub     = 1 << histSubBits // buckets per power of two
	// histBuckets covers every non-negative int64: the exact range [0, 2·histSub) and one
	// group of histSub buckets for each power of two above it.
	histBuckets = 2*histSub + (63-histSubBits-1)*histSub
)

// bucketOf maps a value in nanoseconds to its bucket index.
func bucketOf(v int64) int {
	if v < 2*histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1 // v>>shift is in [histSub, 2·histSub)
	return 2*histSub + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketRange is the half-open range of values [lo, hi) that fall into bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*histSub {
		return int64(i), int64(i) + 1
	}
	shift := (i-2*histSub)/histSub + 1
	top := int64((i-2*histSub)%histSub + histSub)
	return top << shift, (top + 1) << shift
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest value recorded, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest value recorded, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the mean of the values recorded, exactly; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank definition: the smallest
// recorded value with at least q of all values at or below it, to within the bucket
// resolution. Quantile(0) is Min and Quantile(1) is Max, exactly. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 || math.IsNaN(q) {
		return 0
	}
	if q <= 0 {
		return h.Min()
	}
	if q >= 1 {
		return h.Max()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			// The middle of the bucket halves the worst-case error; the exact extremes
			// bound it so a narrow distribution is not widened by a bucket's width.
			mid := lo + (hi-lo-1)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return h.Max()
}
