package main

import (
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
)

func ptr(n int) *int { return &n }

// within reports whether got is within frac of want.
func within(got, want float64, frac float64) bool {
	return math.Abs(got-want) <= frac*want
}

func TestLiveHeapSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a few hundred MiB of heap")
	}
	if raceEnabled {
		t.Skip("the race detector changes heap sizes")
	}
	base := settledLiveHeap(t)
	e, err := newEngine(Workload{LiveHeapMiB: 128})
	if err != nil {
		t.Fatal(err)
	}
	// Grow, shrink and grow again: each size must be the real live heap, not just the
	// first one built.
	for _, mib := range []int{128, 32, 200, 8} {
		if _, err := e.Update(WorkloadPatch{LiveHeapMiB: ptr(mib)}); err != nil {
			t.Fatal(err)
		}
		// Serving requests rewrites customers and fills the cache with real quotes; the
		// size must hold for those too.
		for range 2000 {
			if _, err := e.serve(nil, 4, 0); err != nil {
				t.Fatal(err)
			}
		}
		got := liveHeap(t) - base
		want := int64(mib) << 20
		t.Logf("live_heap_mib=%d: live heap grew by %.1f MiB (estimate %.1f MiB)", mib, float64(got)/(1<<20), float64(e.liveEstimate())/(1<<20))
		if !within(float64(got), float64(want), 0.25) {
			t.Errorf("live_heap_mib=%d: live heap grew by %d bytes, want %d ± 25%%", mib, got, want)
		}
	}
	runtime.KeepAlive(e)
}

func TestGarbagePerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	e, err := newEngine(Workload{LiveHeapMiB: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, kib := range []int{16, 64, 256, 1024} {
		requests := max(50, 20_000/kib)
		got := allocsPerRequest(t, e, itemsFor(kib), requests)
		// The engine's share: net/http allocates the rest when served for real.
		want := float64(kib<<10 - httpOverheadBytes)
		t.Logf("garbage_kib=%d: %d items, %.1f KiB per request served in-process (want %.1f)", kib, itemsFor(kib), got/1024, want/1024)
		if !within(got, want, 0.25) {
			t.Errorf("garbage_kib=%d: %.0f bytes allocated per request, want %.0f ± 25%%", kib, got, want)
		}
	}
}

func TestWorkloadValidate(t *testing.T) {
	if err := DefaultWorkload().Validate(); err != nil {
		t.Fatalf("default workload: %v", err)
	}
	for field, w := range map[string]Workload{
		"live_heap_mib": {LiveHeapMiB: -1},
		"garbage_kib":   {GarbageKiB: maxGarbageKiB + 1},
		"cpu_us":        {CPUMicros: -5},
	} {
		if err := w.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%+v: Validate() = %v, want an error naming %s", w, err, field)
		}
	}
}

func TestUpdateIsAllOrNothing(t *testing.T) {
	e, err := newEngine(Workload{LiveHeapMiB: 1, GarbageKiB: 16, CPUMicros: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update(WorkloadPatch{GarbageKiB: ptr(32), CPUMicros: ptr(-1)}); err == nil {
		t.Fatal("negative cpu_us accepted")
	}
	if w := e.Workload(); w != (Workload{LiveHeapMiB: 1, GarbageKiB: 16, CPUMicros: 5}) {
		t.Errorf("a rejected update changed the workload to %+v", w)
	}
}

func TestServeOrders(t *testing.T) {
	e, err := newEngine(Workload{LiveHeapMiB: 1, GarbageKiB: 32, CPUMicros: 10})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	var resp orderResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	if resp.OrderID == "" || len(resp.Lines) == 0 || len(resp.SKUs) != len(resp.Lines) || resp.Digest == "" || resp.CustomerName == "" {
		t.Errorf("generated order's response is incomplete: %+v", resp)
	}

	posted := `{"order_id":"o-1","customer":"cust-3","currency":"EUR","coupon":"SAVE10",
		"items":[{"sku":"A-1","name":"Red Kettle","category":"kitchen","quantity":5,"price":10},
		         {"sku":"A-1","name":"Red Kettle","category":"kitchen","quantity":1,"price":10},
		         {"sku":"B-2","name":"Blue Book","category":"books","quantity":1,"price":20}]}`
	out, err = e.Serve([]byte(posted))
	if err != nil {
		t.Fatal(err)
	}
	resp = orderResponse{}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	// 6 kettles with the volume discount (57) and a book (20), 10% off, tax 16% and 7%.
	wantTotal := round2(77 - 7.7 + 57*0.16 + 20*0.07)
	if resp.Total != wantTotal || len(resp.Lines) != 2 || resp.SKUs[0] != "A-1" {
		t.Errorf("posted order: total %v, lines %q; want total %v and 2 lines", resp.Total, resp.Lines, wantTotal)
	}

	for body, want := range map[string]string{
		`{"order_id":`: "invalid order JSON",
		`{"order_id":"o","customer":"c","items":[]}`:                           "items is empty",
		`{"order_id":"o","customer":"c","items":[{"sku":"x","quantity":0}]}`:   "items[0]",
		`{"customer":"c","items":[{"sku":"x","quantity":1}]}`:                  "order_id",
		`{"order_id":"o","items":[{"sku":"x","quantity":1,"price":1}]}`:        "customer",
		`{"order_id":"o","customer":"c","items":[{"sku":"x","quantity":"1"}]}`: "invalid order JSON",
	} {
		_, err := e.Serve([]byte(body))
		var bad *badRequest
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), want) {
			t.Errorf("Serve(%s) = %v, want a bad request mentioning %q", body, err, want)
		}
	}
}

func TestCalibrateBurn(t *testing.T) {
	if u := calibrateBurn(); !(u > 0) || math.IsInf(u, 0) {
		t.Fatalf("calibrateBurn() = %v, want a positive rate", u)
	}
}

// BenchmarkServe reports what one in-process request costs at the default workload; with
// -benchmem, B/op is the engine's share of garbage_kib.
func BenchmarkServe(b *testing.B) {
	e, err := newEngine(DefaultWorkload())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Serve(nil); err != nil {
			b.Fatal(err)
		}
	}
}
