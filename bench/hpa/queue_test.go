package hpa

import (
	"math"
	"testing"
	"time"
)

func TestErlangC(t *testing.T) {
	for _, tc := range []struct {
		c    int
		a    float64
		want float64
	}{
		{1, 0.7, 0.7},              // M/M/1: P(wait) = ρ
		{2, 1, 1.0 / 3},            // (1/2 · 2) / (1 + 1 + 1)
		{4, 3, 0.5094339622641509}, // 3.375·4 / (1 + 3 + 4.5 + 4.5 + 3.375·4)
	} {
		if got := erlangC(tc.c, tc.a); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("C(%d, %v) = %.12f, want %.12f", tc.c, tc.a, got, tc.want)
		}
	}
}

func TestP99(t *testing.T) {
	// M/M/1: the response time is exponential with rate μ(1−ρ): p99 = S ln(100)/(1−ρ).
	for _, rho := range []float64{0.01, 0.5, 0.9} {
		got, want := P99(1, 0.02, rho), 0.02*math.Log(100)/(1-rho)
		if math.Abs(got/want-1) > 1e-9 {
			t.Errorf("M/M/1 at %v: %v, want %v", rho, got, want)
		}
	}
	// M/M/4, 25 ms: ≈ 115 ms idle, ≈ 172 ms at 80%, and the 200 ms SLO crossed near 83.5%.
	if got := P99(4, 0.025, 0.001); math.Abs(got-0.1151) > 0.0005 {
		t.Errorf("M/M/4 idle: %v", got)
	}
	if got := P99(4, 0.025, 0.8); math.Abs(got-0.1723) > 0.001 {
		t.Errorf("M/M/4 at 80%%: %v", got)
	}
	if lo, hi := P99(4, 0.025, 0.83), P99(4, 0.025, 0.84); !(lo < 0.2 && hi > 0.2) {
		t.Errorf("M/M/4 p99 at 83%%, 84%%: %v, %v; want 200 ms between", lo, hi)
	}
	// More workers, flatter: at the same utilization p99 falls with c.
	prev := math.Inf(1)
	for c := 1; c <= 16; c *= 2 {
		p := P99(c, 0.025, 0.7)
		if p >= prev {
			t.Errorf("c=%d: %v not below %v", c, p, prev)
		}
		prev = p
	}
}

// flat is a config with constant load: no diurnal shape, noise or spikes.
func flat(rate float64) Config {
	c := DefaultConfig()
	c.Days, c.PeakRate, c.Trough, c.DayToDay, c.Noise, c.SpikesPerDay = 1, rate, 1, 0, 0, 0
	return c
}

func TestMinuteP99IsTheQueueingModel(t *testing.T) {
	cfg := flat(1280) // 10 pods at 50% target: 128 rps each = 80% of 160
	tr := newTrace(cfg)
	r := newRun(cfg, &tr, "x", static(80))
	if len(r.pods) != 10 {
		t.Fatalf("%d pods", len(r.pods))
	}
	for s := range int64(60) {
		r.serve(s)
	}
	want := 0.005 + P99(4, 0.025, 0.8)
	if got := r.minuteP99(); math.Abs(got-want) > 1e-6 {
		t.Errorf("minute p99 = %v, want network + M/M/4 p99 = %v", got, want)
	}
	if u := r.acc.busy / r.acc.readySecs; math.Abs(u-0.8) > 1e-9 {
		t.Errorf("utilization %v, want 0.8", u)
	}
}

func TestOverloadBuildsABacklogAndCapsCPU(t *testing.T) {
	cfg := flat(1920) // 150% of 8 pods
	cfg.Timeout = 5 * time.Second
	tr := newTrace(cfg)
	r := newRun(cfg, &tr, "x", static(50))
	r.pods = r.pods[:8]
	for s := range int64(60) {
		r.serve(s)
	}
	if u := r.acc.busy / r.acc.readySecs; u != 1 {
		t.Errorf("CPU utilization at 150%% load: %v, want the limit (1)", u)
	}
	// The backlog grows 80 requests a second per pod, up to 5 s × 160 = 800, then the
	// excess times out.
	if b := r.pods[0].backlog; math.Abs(b-800) > 1e-9 {
		t.Errorf("backlog %v, want 800", b)
	}
	if p := r.minuteP99(); p != cfg.Timeout.Seconds() {
		t.Errorf("p99 in overload: %v, want the timeout", p)
	}
	// Back under capacity, it drains at the spare capacity.
	r.acc = minuteAcc{}
	for i := range r.pods {
		r.pods[i].backlog = 160 // 1 s of work
	}
	r.tr = &trace{rate: []float64{640, 640, 640}} // 50%: drains 80 a second
	r.serve(0)
	if b := r.pods[0].backlog; math.Abs(b-80) > 1e-9 {
		t.Errorf("after a second at 50%%: backlog %v, want 80", b)
	}
}
