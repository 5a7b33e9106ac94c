package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// readMetric reads one runtime/metrics uint64 value.
func readMetric(t testing.TB, name string) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("runtime metric %s unavailable", name)
	}
	return s[0].Value.Uint64()
}

// liveHeap is the live heap after a full GC.
func liveHeap(t testing.TB) int64 {
	runtime.GC()
	return int64(readMetric(t, "/gc/heap/live:bytes"))
}

// settledLiveHeap is the live heap once what earlier tests left running (server
// connections, a stopped agent's goroutines) has let go of its memory.
func settledLiveHeap(t testing.TB) int64 {
	prev := liveHeap(t)
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		cur := liveHeap(t)
		if prev-cur < 64<<10 {
			return cur
		}
		prev = cur
	}
	return prev
}

// allocsPerRequest is the mean bytes one request of items line items allocates.
func allocsPerRequest(t testing.TB, e *engine, items, requests int) float64 {
	t.Helper()
	for range 20 { // warm up pools and lazily built state
		if _, err := e.serve(nil, items, 0); err != nil {
			t.Fatal(err)
		}
	}
	before := readMetric(t, "/gc/heap/allocs:bytes")
	for range requests {
		if _, err := e.serve(nil, items, 0); err != nil {
			t.Fatal(err)
		}
	}
	return float64(readMetric(t, "/gc/heap/allocs:bytes")-before) / float64(requests)
}

// TestGarbageCalibration reports the constants baseGarbageBytes and garbagePerItemBytes
// should have; run it with -v after changing what a request does.
func TestGarbageCalibration(t *testing.T) {
	e, err := newEngine(Workload{LiveHeapMiB: 16})
	if err != nil {
		t.Fatal(err)
	}
	small := allocsPerRequest(t, e, 1, 2000)
	large := allocsPerRequest(t, e, 201, 200)
	perItem := (large - small) / 200
	t.Logf("per item %.0f B (garbagePerItemBytes = %d), base %.0f B (serveBaseBytes = %d)",
		perItem, garbagePerItemBytes, small-perItem, serveBaseBytes)
}

// TestLiveHeapCalibration reports the constants customerBytes and quoteBytes should have;
// run it with -v after changing the records.
func TestLiveHeapCalibration(t *testing.T) {
	var d dataset
	before := settledLiveHeap(t)
	d.resize(100)
	perCustomer := float64(liveHeap(t)-before) / float64(d.size())
	c := newQuoteCache()
	before = liveHeap(t)
	c.resize(20_000)
	perQuote := float64(liveHeap(t)-before) / float64(c.len())
	t.Logf("per customer %.0f B (customerBytes = %d), per quote %.0f B (quoteBytes = %d)",
		perCustomer, customerBytes, perQuote, quoteBytes)
	runtime.KeepAlive(&d)
	runtime.KeepAlive(c)
}
