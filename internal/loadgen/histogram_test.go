package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRangeContainsValue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, 1, 255, 256, 511, 512, 513, 1023, 1024, math.MaxInt64, math.MaxInt64 - 1}
	for range 10000 {
		values = append(values, r.Int64N(math.MaxInt64>>r.IntN(60)))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, histBuckets)
		}
		lo, hi := bucketRange(i)
		if v < lo || (v >= hi && hi > 0) { // hi overflows for the last bucket
			t.Fatalf("value %d in bucket %d whose range is [%d, %d)", v, i, lo, hi)
		}
		if width := float64(hi - lo); hi > 0 && v >= 2*histSub && width/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket %d [%d, %d) is wider than 1/%d of its values", i, lo, hi, histSub)
		}
	}
}

// The quantiles must be within 1% of the exact ones from sorted samples, on a heavy-tailed
// distribution like real latencies.
func TestQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h Histogram
	samples := make([]time.Duration, 200_000)
	for i := range samples {
		// Log-normal around 2 ms with a long tail reaching seconds.
		d := time.Duration(math.Exp(r.NormFloat64()*1.2) * float64(2*time.Millisecond))
		samples[i] = d
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
			t.Errorf("Quantile(%v) = %v, exact %v: off by %.2f%%", q, got, exact, rel*100)
		}
	}
	if h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
		t.Errorf("Min, Max = %v, %v; want %v, %v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
	}
	if h.Count() != uint64(len(samples)) {
		t.Errorf("Count = %d, want %d", h.Count(), len(samples))
	}
}

func TestQuantileSmallAndEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	for _, d := range []time.Duration{10, 20, 30, 40} {
		h.Record(d)
	}
	// Values this small have exact buckets.
	for q, want := range map[float64]time.Duration{0: 10, 0.25: 10, 0.5: 20, 0.75: 30, 0.76: 40, 1: 40} {
		if got := h.Quantile(q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if h.Mean() != 25 {
		t.Errorf("Mean = %v, want 25ns", h.Mean())
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != all.Count() || m.Mean() != all.Mean() {
		t.Errorf("merged Count, Mean = %d, %v; want %d, %v", m.Count(), m.Mean(), all.Count(), all.Mean())
	}
}
