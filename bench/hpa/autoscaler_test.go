package hpa

import "testing"

// newTestHPA is an HPA with Kubernetes' defaults, target 50%, replicas [2, 100].
func newTestHPA() *autoscaler {
	return &autoscaler{minReplicas: 2, maxReplicas: 100, target: 50, cpu: true, tolerance: 0.1,
		cpuInitPeriod: 300, readinessDelay: 30, up: defaultScaleUp(), down: defaultScaleDown(300)}
}

// steady is n 1-core pods, started long ago, ready, with a 15 s metric at util percent
// taken at now.
func steady(n, util int, now int64) []podState {
	out := make([]podState, n)
	for i := range out {
		out[i] = podState{started: -10000, ready: true, readySince: -10000, hasMetric: true,
			usageMilli: int64(util) * 10, metricAt: now, metricWindow: 15, requestMilli: 1000}
	}
	return out
}

func TestReplicasTolerance(t *testing.T) {
	a := newTestHPA()
	for _, tc := range []struct {
		util, want int
	}{
		{50, 10}, // on target
		{54, 10}, // ratio 1.08: within the tolerance
		{56, 12}, // ratio 1.12: ⌈10 × 1.12⌉
		{46, 10}, // ratio 0.92: within
		{44, 9},  // ratio 0.88: ⌈8.8⌉
		// Exactly 10% over is outside: |1 − 55/50| is 0.10000000000000009 in float64, in
		// the controller as here.
		{55, 11},
		{100, 20},
	} {
		got, util, err := a.replicas(100, 10, steady(10, tc.util, 95))
		if err != nil || got != tc.want || util != tc.util {
			t.Errorf("10 pods at %d%%: %d replicas (util %d%%, %v), want %d", tc.util, got, util, err, tc.want)
		}
	}
	// Utilization is the integer percent of summed usage over summed requests: 562m of
	// 1000m is 56% (ratio 1.098 to a 51% target, no change), not 56.2% (1.102, scale).
	pods := steady(5, 0, 95)
	for i := range pods {
		pods[i].usageMilli = 562
	}
	a.target = 51
	if got, util, _ := a.replicas(100, 5, pods); util != 56 || got != 5 {
		t.Errorf("562m of 1000m at target 51%%: %d%%, %d replicas; want 56%%, 5", util, got)
	}
}

func TestReplicasUnreadyPodsOnScaleUp(t *testing.T) {
	a := newTestHPA()
	// 10 ready pods at 100% and 10 still starting: unready pods count as 0% on a
	// scale-up, so (10×100%)/(20×50%) = 1.0 — no further scale-up for pods on their way.
	pods := append(steady(10, 100, 95), make([]podState, 10)...)
	for i := 10; i < 20; i++ {
		pods[i] = podState{started: 80, pending: true, requestMilli: 1000}
	}
	if got, _, _ := a.replicas(100, 20, pods); got != 20 {
		t.Errorf("with 10 pods starting: %d, want 20", got)
	}
	// At 150%: (10×150)/(20×50) = 1.5 → ⌈1.5 × 20⌉ = 30.
	for i := range 10 {
		pods[i].usageMilli = 1500
	}
	if got, _, _ := a.replicas(100, 20, pods); got != 30 {
		t.Errorf("at 150%% with 10 starting: %d, want 30", got)
	}
	// Scaling down, unready pods are ignored: 10 ready at 20% → ⌈0.4 × 10⌉ = 4.
	for i := range 10 {
		pods[i].usageMilli = 200
	}
	if got, _, _ := a.replicas(100, 20, pods); got != 4 {
		t.Errorf("at 20%% with 10 starting: %d, want 4", got)
	}
}

func TestReplicasCPUInitializationPeriod(t *testing.T) {
	a := newTestHPA()
	// A pod ready at 100 whose metric (at 105, 15 s window) began before it turned ready
	// is set aside: only the 4 old pods at 80% count → ⌈1.6 × 4⌉ = 7.
	pods := append(steady(4, 80, 105), podState{started: 50, ready: true, readySince: 100, hasMetric: true,
		usageMilli: 100, metricAt: 105, metricWindow: 15, requestMilli: 1000})
	// scale-up with an unready pod: (4×80)/(5×50) = 1.28 → ⌈1.28 × 5⌉ = 7.
	if got, _, _ := a.replicas(110, 5, pods); got != 7 {
		t.Errorf("new pod within its first window: %d, want 7", got)
	}
	// Once a whole window after readiness is in (metric at 115 ≥ 100 + 15), it counts:
	// (4×80 + 10)/5 = 66% → ratio 1.32 → ⌈6.6⌉ = 7.
	for i := range pods {
		pods[i].metricAt = 115
	}
	if got, util, _ := a.replicas(120, 5, pods); got != 7 || util != 66 {
		t.Errorf("new pod counted: %d at %d%%, want 7 at 66%%", got, util)
	}
	// After the 5-minute initialization period a ready pod always counts.
	pods[4].metricAt, pods[4].readySince = 400, 399
	for i := range 4 {
		pods[i].metricAt = 400
	}
	if got, util, _ := a.replicas(405, 5, pods); got != 7 || util != 66 {
		t.Errorf("after the initialization period: %d at %d%%", got, util)
	}
}

func TestReplicasMissingPods(t *testing.T) {
	a := newTestHPA()
	// Scale-down: 4 pods at 20% and one without a metric, assumed at 100%:
	// (80 + 100)/5 = 36% → ratio 0.72 → ⌈3.6⌉ = 4.
	pods := append(steady(4, 20, 95), podState{started: 0, ready: true, readySince: 10, requestMilli: 1000})
	if got, _, _ := a.replicas(100, 5, pods); got != 4 {
		t.Errorf("scale-down with a missing pod: %d, want 4", got)
	}
	// Scale-up: 4 at 100%, the missing one at 0%: 400/5 = 80% → 1.6 → 8.
	for i := range 4 {
		pods[i].usageMilli = 1000
	}
	if got, _, _ := a.replicas(100, 5, pods); got != 8 {
		t.Errorf("scale-up with a missing pod: %d, want 8", got)
	}
	if _, _, err := a.replicas(100, 1, []podState{{pending: true, requestMilli: 1000}}); err == nil {
		t.Error("no pod with a metric: no error")
	}
}

func TestScaleDownStabilizationWindow(t *testing.T) {
	a := newTestHPA()
	// A recommendation of 10 at t=0, then 6 from t=15 on: the highest of the last 5
	// minutes (10) holds until the t=0 sample leaves the window at t=300.
	if got := a.normalize(0, 10, 10); got != 10 {
		t.Fatalf("t=0: %d", got)
	}
	for now := int64(15); now < 300; now += 15 {
		if got := a.normalize(now, 10, 6); got != 10 {
			t.Fatalf("t=%d: %d, want 10 (stabilized)", now, got)
		}
	}
	if got := a.normalize(300, 10, 6); got != 6 {
		t.Errorf("t=300: %d, want 6", got)
	}
	// A scale-up is not stabilized (window 0).
	if got := a.normalize(315, 6, 9); got != 9 {
		t.Errorf("scale-up: %d, want 9", got)
	}
	// and scaling down again waits for the 9 to leave the window.
	if got := a.normalize(330, 9, 6); got != 9 {
		t.Errorf("right after the raise: %d, want 9", got)
	}
}

func TestScaleUpPolicyLimits(t *testing.T) {
	for _, tc := range []struct {
		current, desired, want int
	}{
		{3, 20, 7},   // +4 pods beats +100% (6)
		{10, 50, 20}, // +100% beats +4
		{10, 12, 12}, // within the limit
		{60, 150, 100},
	} {
		a := newTestHPA()
		if got := a.normalize(0, tc.current, tc.desired); got != tc.want {
			t.Errorf("%d → %d: %d, want %d", tc.current, tc.desired, got, tc.want)
		}
	}
	// Within one 15 s period the limit counts from the replicas at its start: after
	// 10 → 20 at t=0, at t=10 the limit is still 20; at t=15 the event is a period old.
	a := newTestHPA()
	if got := a.sync(0, 10, steady(10, 100, 0)); got != 20 {
		t.Fatalf("first scale-up: %d", got)
	}
	if got := a.normalize(10, 20, 40); got != 20 {
		t.Errorf("same period: %d, want 20", got)
	}
	if got := a.normalize(15, 20, 40); got != 40 {
		t.Errorf("next period: %d, want 40", got)
	}
}

func TestScaleDownPolicyAndBounds(t *testing.T) {
	a := newTestHPA()
	a.down.window = 0 // isolate the rate policy: −100% per 15 s allows anything down to min
	if got := a.normalize(0, 10, 1); got != 2 {
		t.Errorf("10 → 1 with min 2: %d", got)
	}
	a = newTestHPA()
	if got := a.sync(0, 1, nil); got != 2 {
		t.Errorf("below min: %d", got)
	}
	if got := a.sync(0, 120, nil); got != 100 {
		t.Errorf("above max: %d", got)
	}
	// An error from the metrics leaves the scale alone.
	if got := a.sync(0, 5, []podState{{pending: true, requestMilli: 1000}}); got != 5 {
		t.Errorf("no metrics: %d", got)
	}
}

func TestReplicasOnAPodsMetric(t *testing.T) {
	a := newTestHPA()
	a.cpu = false
	// No CPU initialization rules: a pod just ready, with a window that began before, counts.
	pods := append(steady(4, 80, 105), podState{started: 50, ready: true, readySince: 100, hasMetric: true,
		usageMilli: 100, metricAt: 105, metricWindow: 15, requestMilli: 1000})
	// average (4×800 + 100)/5 = 660 against a target value of 500 → 1.32 → ⌈6.6⌉ = 7.
	if got, _, _ := a.replicas(110, 5, pods); got != 7 {
		t.Errorf("Pods metric: %d, want 7", got)
	}
	// Beyond the CPU limit the value keeps counting: 4 pods asking for 300% → ×6 → 24.
	for i := range pods {
		pods[i].usageMilli = 3000
	}
	if got, _, _ := a.replicas(110, 4, pods[:4]); got != 24 {
		t.Errorf("Pods metric at 300%%: %d, want 24", got)
	}
}
