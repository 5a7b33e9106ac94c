package scale

import (
	"bufio"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// latencies are the arrival delays of one push, sorted.
type latencies []time.Duration

func latenciesSince(sent time.Time, arrived []time.Time) latencies {
	l := make(latencies, len(arrived))
	for i, t := range arrived {
		l[i] = t.Sub(sent)
	}
	slices.Sort(l)
	return l
}

// quantile is the nearest-rank q-quantile (0 < q ≤ 1): the smallest delay that at least
// q of the receivers saw.
func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(l)))) - 1
	return l[min(max(i, 0), len(l)-1)]
}

func (l latencies) min() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[0]
}

func (l latencies) max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[len(l)-1]
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// bucket is one cumulative bucket of a Prometheus histogram.
type bucket struct {
	le    float64
	count float64
}

// histogramBuckets reads the cumulative buckets of histogram name (without labels other
// than le) from a Prometheus text exposition, in order of le.
func histogramBuckets(exposition, name string) []bucket {
	var out []bucket
	prefix := name + `_bucket{le="`
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		bound, err1 := strconv.ParseFloat(le, 64)
		count, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, bucket{le: bound, count: count})
	}
	slices.SortFunc(out, func(a, b bucket) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	return out
}

// histogramDelta is after minus before, bucket by bucket (the observations in between).
func histogramDelta(before, after []bucket) []bucket {
	out := slices.Clone(after)
	for i := range out {
		for _, b := range before {
			if b.le == out[i].le {
				out[i].count -= b.count
			}
		}
	}
	return out
}

// histogramQuantile estimates the q-quantile from cumulative buckets the way PromQL's
// histogram_quantile does: linear interpolation inside the bucket that holds it. It is
// NaN with no observations, and the highest finite bound when the quantile falls in +Inf.
func histogramQuantile(q float64, bs []bucket) float64 {
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return math.NaN()
	}
	rank := q * bs[len(bs)-1].count
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower
			}
			if b.count == below {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.le, b.count
	}
	return lower
}

// metricValue is the value of the sample named exactly name (labels included, as
// written in the exposition), or 0 when there is none.
func metricValue(exposition, name string) float64 {
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return 0
}
