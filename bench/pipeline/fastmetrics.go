package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// The load generator must not need the cores it measures: building each export with pdata
// and marshalling it costs about as much CPU as the collector spends receiving it. Every
// value an export changes (timestamps, cumulative values, histogram counts) is a fixed-width
// field in OTLP's protobuf encoding (fixed64, sfixed64, double), so each instance's export is
// marshalled once and later exports are that body with those 8-byte fields rewritten. The
// result is byte for byte what metricsSource.request marshals (TestFastMetricsMatch).

// patchKind says how a field's value follows the export number n.
type patchKind uint8

const (
	patchTime   patchKind = iota // base + (n+1) × exportInterval
	patchStart                   // base
	patchInt                     // template × (n+1), sfixed64
	patchDouble                  // template × (n+1), double
	patchCount                   // template × (n+1), fixed64 (bucket counts)
	patchTotal                   // the sum of the histogram's patched bucket counts, fixed64
)

type patch struct {
	offset int
	kind   patchKind
	// template is the captured value (int64 bits for patchInt/patchCount, float64 bits for
	// patchDouble); for patchTotal, the bucket patches it sums are the `from` patches before it.
	template uint64
	from     int
}

// fastInstance is one instance's marshalled export and where to rewrite it.
type fastInstance struct {
	body    []byte
	patches []patch
}

// fastMetrics makes the same requests as a metricsSource from per-instance bodies.
type fastMetrics struct {
	src       *metricsSource
	instances []fastInstance
}

// sentinelBase marks the fields to find in a marshalled body; its high bytes occur nowhere
// else in an export.
const sentinelBase = 0xA5C3_5A3C_0000_0000

func newFastMetrics(src *metricsSource) (*fastMetrics, error) {
	f := &fastMetrics{src: src, instances: make([]fastInstance, src.instances)}
	for inst := range src.instances {
		fi, err := src.fastInstance(inst)
		if err != nil {
			return nil, err
		}
		f.instances[inst] = fi
	}
	return f, nil
}

// fastInstance marshals instance inst's export with a distinct sentinel in every field that
// changes, finds the sentinels, and marshals the real first export over them.
func (s *metricsSource) fastInstance(inst int) (fastInstance, error) {
	md := pmetric.NewMetrics()
	s.tmpl.CopyTo(md)
	rm := md.ResourceMetrics().At(0)
	s.identify(rm, inst)
	type mark struct {
		kind     patchKind
		template uint64
		buckets  int // for patchTotal: the bucket marks just before it
	}
	var marks []mark
	next := func(kind patchKind, template uint64) uint64 {
		marks = append(marks, mark{kind: kind, template: template})
		return sentinelBase + uint64(len(marks)-1)
	}
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				for _, dp := range m.Gauge().DataPoints().All() {
					dp.SetTimestamp(pcommon.Timestamp(next(patchTime, 0)))
				}
			case pmetric.MetricTypeSum:
				sum := m.Sum()
				cumulative := sum.IsMonotonic() && sum.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
				for _, dp := range sum.DataPoints().All() {
					dp.SetTimestamp(pcommon.Timestamp(next(patchTime, 0)))
					if !cumulative {
						continue
					}
					dp.SetStartTimestamp(pcommon.Timestamp(next(patchStart, 0)))
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						dp.SetIntValue(int64(next(patchInt, uint64(dp.IntValue()))))
					} else {
						dp.SetDoubleValue(math.Float64frombits(next(patchDouble, math.Float64bits(dp.DoubleValue()))))
					}
				}
			case pmetric.MetricTypeHistogram:
				for _, dp := range m.Histogram().DataPoints().All() {
					dp.SetTimestamp(pcommon.Timestamp(next(patchTime, 0)))
					dp.SetStartTimestamp(pcommon.Timestamp(next(patchStart, 0)))
					counts := dp.BucketCounts()
					for j := range counts.Len() {
						counts.SetAt(j, next(patchCount, counts.At(j)))
					}
					dp.SetCount(next(patchTotal, 0))
					marks[len(marks)-1].buckets = counts.Len()
					dp.SetSum(math.Float64frombits(next(patchDouble, math.Float64bits(dp.Sum()))))
				}
			}
		}
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return fastInstance{}, err
	}
	fi := fastInstance{body: body, patches: make([]patch, len(marks))}
	var key [8]byte
	for k, m := range marks {
		binary.LittleEndian.PutUint64(key[:], sentinelBase+uint64(k))
		off := bytes.Index(body, key[:])
		if off < 0 || bytes.Index(body[off+1:], key[:]) >= 0 {
			return fastInstance{}, fmt.Errorf("field %d of the agent export is not a unique fixed-width field in its encoding", k)
		}
		fi.patches[k] = patch{offset: off, kind: m.kind, template: m.template, from: k - m.buckets}
	}
	return fi, nil
}

// request returns the body of the next export, the same as metricsSource.request, written
// into buf.
func (f *fastMetrics) request(buf []byte) ([]byte, int) {
	s := f.src
	i := s.next.Add(1) - 1
	fi := &f.instances[i%uint64(s.instances)]
	n := int64(i / uint64(s.instances))
	buf = append(buf[:0], fi.body...)
	ts := uint64(s.base.Add(time.Duration(n+1) * exportInterval).UnixNano())
	start := uint64(s.base.UnixNano())
	grow := float64(n + 1)
	for k := range fi.patches {
		p := &fi.patches[k]
		var v uint64
		switch p.kind {
		case patchTime:
			v = ts
		case patchStart:
			v = start
		case patchInt:
			v = uint64(int64(float64(int64(p.template)) * grow))
		case patchDouble:
			v = math.Float64bits(math.Float64frombits(p.template) * grow)
		case patchCount:
			v = uint64(float64(p.template) * grow)
		case patchTotal:
			for b := p.from; b < k; b++ {
				v += binary.LittleEndian.Uint64(buf[fi.patches[b].offset:])
			}
		}
		binary.LittleEndian.PutUint64(buf[p.offset:], v)
	}
	return buf, s.points
}
