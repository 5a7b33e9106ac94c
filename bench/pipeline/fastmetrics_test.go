package pipeline

import (
	"bytes"
	"testing"
	"time"
)

// TestFastMetricsMatch: the rewritten bodies are byte for byte the exports metricsSource
// marshals, for every instance over several exports.
func TestFastMetricsMatch(t *testing.T) {
	tmpl, err := agentTemplate()
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_800_000_000, 0)
	slow := newMetricsSource(tmpl, 30, 7, base)
	fast, err := newFastMetrics(newMetricsSource(tmpl, 30, 7, base))
	if err != nil {
		t.Fatal(err)
	}
	sc := slow.scratch()
	var buf []byte
	for i := range 30 * 4 {
		want, wantPoints, err := slow.request(sc)
		if err != nil {
			t.Fatal(err)
		}
		var gotPoints int
		buf, gotPoints = fast.request(buf)
		if !bytes.Equal(buf, want) || gotPoints != wantPoints {
			t.Fatalf("request %d: rewritten body differs from the marshalled one (%d vs %d bytes, %d vs %d points)", i, len(buf), len(want), gotPoints, wantPoints)
		}
	}
}

func BenchmarkMetricsRequest(b *testing.B) {
	tmpl, err := agentTemplate()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("marshal", func(b *testing.B) {
		src := newMetricsSource(tmpl, 1000, 100, time.Now())
		sc := src.scratch()
		for range b.N {
			if _, _, err := src.request(sc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rewrite", func(b *testing.B) {
		f, err := newFastMetrics(newMetricsSource(tmpl, 1000, 100, time.Now()))
		if err != nil {
			b.Fatal(err)
		}
		var buf []byte
		b.ResetTimer()
		for range b.N {
			buf, _ = f.request(buf)
		}
	})
}
