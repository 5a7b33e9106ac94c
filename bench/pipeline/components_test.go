package pipeline

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/xexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"

	"github.com/mcplane/mcp/collector/signalsexporter"
)

// The benchmarks below run the mcpsignals exporter alone on the payloads of `mcp bench
// pipeline`, to find where its share of the pipeline's CPU goes:
//
//	go test -run '^$' -bench Signals -cpuprofile cpu.pprof ./bench/pipeline

// BenchmarkSignalsMetrics consumes agent exports of a fleet of 1,000 instances, each export
// newer than the instance's last, as a live fleet sends them.
func BenchmarkSignalsMetrics(b *testing.B) {
	tmpl, err := agentTemplate()
	if err != nil {
		b.Fatal(err)
	}
	f := signalsexporter.NewFactory()
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	src := newMetricsSource(tmpl, 1000, 100, time.Now().Add(-time.Hour))
	sc := src.scratch()
	// Exports are made ahead, a chunk at a time, outside the timer.
	const chunk = 2000
	batch := make([]pmetric.Metrics, 0, chunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%chunk == 0 {
			b.StopTimer()
			batch = batch[:0]
			for range chunk {
				body, _, err := src.request(sc)
				if err != nil {
					b.Fatal(err)
				}
				req := pmetricotlp.NewExportRequest()
				if err := req.UnmarshalProto(body); err != nil {
					b.Fatal(err)
				}
				batch = append(batch, req.Metrics())
			}
			b.StartTimer()
		}
		if err := exp.ConsumeMetrics(context.Background(), batch[i%chunk]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*src.points)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkSignalsProfiles consumes the CPU and heap profiles of `mcp bench pipeline`, as
// the pyroscope receiver hands them on, in turn, from 100 services.
func BenchmarkSignalsProfiles(b *testing.B) {
	src, err := newProfilesSource(context.Background(), time.Second, 1000, 100)
	if err != nil {
		b.Fatal(err)
	}
	var profiles []pprofile.Profiles
	for svc := range 100 {
		for k := range 2 {
			req := pprofileotlp.NewExportRequest()
			if err := req.UnmarshalProto(src.otlp[k][svc]); err != nil {
				b.Fatal(err)
			}
			profiles = append(profiles, req.Profiles())
		}
	}
	f := signalsexporter.NewFactory().(xexporter.Factory)
	exp, err := f.CreateProfiles(context.Background(), exportertest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := exp.ConsumeProfiles(context.Background(), profiles[i%len(profiles)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
}

// BenchmarkSignalsProfilesMemory fills the process's store through the exporter as 100
// services of 10 instances do in ten minutes — each instance a CPU and a heap upload every
// 15 s, 130 of each kind per service — and reports the heap the profile summaries keep. Run
// it alone, once (the store is the process's):
//
//	go test -run '^$' -bench SignalsProfilesMemory -benchtime 1x ./bench/pipeline
func BenchmarkSignalsProfilesMemory(b *testing.B) {
	const services, perService = 100, 130
	src, err := newProfilesSource(context.Background(), time.Second, 1000, services)
	if err != nil {
		b.Fatal(err)
	}
	var profiles []pprofile.Profiles
	for svc := range services {
		for k := range 2 {
			req := pprofileotlp.NewExportRequest()
			if err := req.UnmarshalProto(src.otlp[k][svc]); err != nil {
				b.Fatal(err)
			}
			profiles = append(profiles, req.Profiles())
		}
	}
	f := signalsexporter.NewFactory().(xexporter.Factory)
	exp, err := f.CreateProfiles(context.Background(), exportertest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		total := services * 2 * perService
		start := time.Now().Add(-10 * time.Minute)
		for i := range total {
			pd := profiles[i%len(profiles)]
			setTime(pd, start.Add(time.Duration(i)*10*time.Minute/time.Duration(total)))
			if err := exp.ConsumeProfiles(context.Background(), pd); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB-kept")
}

// setTime dates every profile of pd at t, as the receiver dates an upload by its from.
func setTime(pd pprofile.Profiles, t time.Time) {
	ts := pcommon.NewTimestampFromTime(t)
	for _, rp := range pd.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for _, p := range sp.Profiles().All() {
				p.SetTime(ts)
			}
		}
	}
}
