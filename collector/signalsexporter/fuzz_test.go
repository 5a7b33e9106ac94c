package signalsexporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzConsume feeds arbitrary OTLP (metrics, traces, profiles decoded from the bytes, as
// the OTLP receiver would hand them over) to the exporter: it must never panic, whatever
// the values, bounds, indices or timestamps.
func FuzzConsume(f *testing.F) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "fuzz")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	dp := m.SetEmptyHistogram().DataPoints().AppendEmpty()
	dp.ExplicitBounds().FromRaw([]float64{0.1})
	dp.BucketCounts().FromRaw([]uint64{1, 2})
	dp.SetCount(3)
	dp.SetTimestamp(pcommon.Timestamp(1))
	b, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	f.Add(b)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	st := newTestStore(f)
	_ = st
	fac := NewFactory(WithStore(st))
	set := exportertest.NewNopSettings(componentType)
	cfg := fac.CreateDefaultConfig()
	e, err := fac.CreateMetrics(context.Background(), set, cfg)
	if err != nil {
		f.Fatal(err)
	}
	exp, _ := NewFactory(WithStore(st)).(xexporterFactory).CreateProfiles(context.Background(), set, cfg)
	te, _ := fac.CreateTraces(context.Background(), set, cfg)
	f.Fuzz(func(t *testing.T, b []byte) {
		if md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b); err == nil {
			_ = e.ConsumeMetrics(context.Background(), md)
		}
		if td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b); err == nil {
			_ = te.ConsumeTraces(context.Background(), td)
		}
		if pd, err := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(b); err == nil {
			_ = exp.ConsumeProfiles(context.Background(), pd)
		}
	})
}
