package hpa

import (
	"errors"
	"math"
)

// The HorizontalPodAutoscaler controller (autoscaling/v2, kube-controller-manager
// pkg/controller/podautoscaler), for one HPA with one metric, re-implemented over
// simulation seconds: the replica calculation (GetResourceReplicas for CPU,
// GetMetricReplicas for a Pods metric) with its treatment of unready and missing pods,
// then the behaviour's stabilization window and rate policies.

// policyType is an HPAScalingPolicyType.
type policyType int

const (
	podsPolicy    policyType = iota // add or remove Value pods per Period
	percentPolicy                   // add or remove Value percent per Period
)

// scalingPolicy is an HPAScalingPolicy.
type scalingPolicy struct {
	kind   policyType
	value  int
	period int64 // seconds
}

// scalingRules is an HPAScalingRules with selectPolicy Max (the default: the policy
// allowing the largest change wins).
type scalingRules struct {
	window   int64 // stabilizationWindowSeconds
	policies []scalingPolicy
}

// defaultScaleUp and defaultScaleDown are the behaviour an HPA gets when it sets none of
// its own (Kubernetes documentation, "Default Behavior"): scale up by the larger of 100%
// and 4 pods every 15 s with no stabilization; scale down by up to 100% every 15 s after a
// 5-minute stabilization window.
func defaultScaleUp() scalingRules {
	return scalingRules{window: 0, policies: []scalingPolicy{{percentPolicy, 100, 15}, {podsPolicy, 4, 15}}}
}

func defaultScaleDown(window int64) scalingRules {
	return scalingRules{window: window, policies: []scalingPolicy{{percentPolicy, 100, 15}}}
}

// podState is what the controller knows of one pod at a sync.
type podState struct {
	// started is the pod's status.startTime (simulation seconds).
	started int64
	// pending: the pod's containers have not started (phase Pending).
	pending bool
	// ready is the Ready condition; readySince its last transition.
	ready      bool
	readySince int64
	// hasMetric: metrics-server has a CPU figure for the pod, usageMilli millicores over
	// the metricWindow seconds up to metricAt.
	hasMetric    bool
	usageMilli   int64
	metricAt     int64
	metricWindow int64
	// requestMilli is the pod's CPU request.
	requestMilli int64
}

// autoscaler is one HPA and the controller's memory of it.
type autoscaler struct {
	minReplicas, maxReplicas int
	target                   int // target average utilization, percent
	// cpu: the HPA scales on the CPU resource metric (a Resource metric, target
	// averageUtilization). Otherwise on a per-pod metric (a Pods metric, target
	// averageValue) — requests per second, expressed here as the CPU they ask for so that
	// the same target percent means the same load — which the controller treats without
	// the CPU-only readiness rules.
	cpu            bool
	tolerance      float64
	cpuInitPeriod  int64 // --horizontal-pod-autoscaler-cpu-initialization-period
	readinessDelay int64 // --horizontal-pod-autoscaler-initial-readiness-delay
	up, down       scalingRules

	recs       []timedValue // unstabilized recommendations
	upEvents   []timedValue // replicas added
	downEvents []timedValue // replicas removed
}

type timedValue struct {
	at int64
	n  int
}

var errNoMetrics = errors.New("did not receive metrics for targeted pods (pods might be unready)")

// replicas is ReplicaCalculator.GetResourceReplicas: the replica count the CPU metric
// asks for, before the behaviour, and the utilization (percent) it saw. An error means
// the controller skips this sync.
func (a *autoscaler) replicas(now int64, current int, pods []podState) (int, int, error) {
	if len(pods) == 0 {
		return 0, 0, errors.New("no pods returned by selector while calculating replica count")
	}
	// groupPods: pending pods and, within the CPU initialization period, pods not ready
	// or whose metric window began before they turned ready are unready; pods without a
	// metric are missing; the rest count.
	type entry struct{ usage, request int64 }
	metrics := map[int]entry{}
	var unready, missing []int
	readyCount := 0
	for i, p := range pods {
		if p.pending {
			unready = append(unready, i)
			continue
		}
		if !p.hasMetric {
			missing = append(missing, i)
			continue
		}
		var isUnready bool
		switch {
		case !a.cpu:
		case p.started+a.cpuInitPeriod > now:
			isUnready = !p.ready || p.metricAt < p.readySince+p.metricWindow
		default:
			isUnready = !p.ready && p.started+a.readinessDelay > p.readySince
		}
		if isUnready {
			unready = append(unready, i)
			continue
		}
		metrics[i] = entry{p.usageMilli, p.requestMilli}
		readyCount++
	}
	if len(metrics) == 0 {
		return 0, 0, errNoMetrics
	}
	ratio := func() (float64, int) {
		var use, req int64
		for _, e := range metrics {
			use += e.usage
			req += e.request
		}
		if !a.cpu { // GetMetricUsageRatio: the average against the target value
			avg := use / int64(len(metrics))
			tv := req / int64(len(metrics)) * int64(a.target) / 100
			return float64(avg) / float64(tv), int(avg * 100 * int64(len(metrics)) / req)
		}
		u := int(use * 100 / req) // integer percent, as metricsclient.GetResourceUtilizationRatio
		return float64(u) / float64(a.target), u
	}
	usage, util := ratio()

	scaleUpWithUnready := len(unready) > 0 && usage > 1
	if !scaleUpWithUnready && len(missing) == 0 {
		if math.Abs(1-usage) <= a.tolerance {
			return current, util, nil
		}
		return int(math.Ceil(usage * float64(readyCount))), util, nil
	}
	if len(missing) > 0 {
		for _, i := range missing {
			switch {
			case usage < 1 && !a.cpu: // scale-down: assume missing pods are at the target
				metrics[i] = entry{pods[i].requestMilli * int64(a.target) / 100, pods[i].requestMilli}
			case usage < 1: // scale-down: assume missing pods use max(100%, target) of their request
				metrics[i] = entry{pods[i].requestMilli * int64(max(100, a.target)) / 100, pods[i].requestMilli}
			case usage > 1: // scale-up: assume they use nothing
				metrics[i] = entry{0, pods[i].requestMilli}
			}
		}
	}
	if scaleUpWithUnready {
		for _, i := range unready {
			metrics[i] = entry{0, pods[i].requestMilli}
		}
	}
	newUsage, _ := ratio()
	if math.Abs(1-newUsage) <= a.tolerance || (usage < 1 && newUsage > 1) || (usage > 1 && newUsage < 1) {
		return current, util, nil // too small a change, or the direction flipped
	}
	n := int(math.Ceil(newUsage * float64(len(metrics))))
	if (newUsage < 1 && n > current) || (newUsage > 1 && n < current) {
		return current, util, nil
	}
	return n, util, nil
}

// normalize is normalizeDesiredReplicasWithBehaviors: the stabilization windows, then
// the rate policies and the min/max replicas. It records the unstabilized recommendation.
func (a *autoscaler) normalize(now int64, current, desired int) int {
	// stabilizeRecommendationWithBehaviors: up to the lowest recommendation within the
	// scale-up window, down to the highest within the scale-down window.
	upRec, downRec := desired, desired
	kept := a.recs[:0]
	for _, r := range a.recs {
		if r.at > now-a.up.window {
			upRec = min(upRec, r.n)
		}
		if r.at > now-a.down.window {
			downRec = max(downRec, r.n)
		}
		if r.at > now-max(a.up.window, a.down.window) {
			kept = append(kept, r)
		}
	}
	a.recs = append(kept, timedValue{now, desired})
	rec := current
	if rec < upRec {
		rec = upRec
	}
	if rec > downRec {
		rec = downRec
	}
	// convertDesiredReplicasWithBehaviorRate.
	switch {
	case rec > current:
		limit := max(a.scaleUpLimit(now, current), current)
		allowed := min(a.maxReplicas, limit)
		return min(rec, allowed)
	case rec < current:
		limit := min(a.scaleDownLimit(now, current), current)
		allowed := max(a.minReplicas, limit)
		return max(rec, allowed)
	}
	return rec
}

// changedIn is getReplicasChangePerPeriod: replicas changed in the period before now.
func changedIn(events []timedValue, now, period int64) int {
	n := 0
	for _, e := range events {
		if e.at > now-period {
			n += e.n
		}
	}
	return n
}

// scaleUpLimit is calculateScaleUpLimitWithScalingRules with selectPolicy Max.
func (a *autoscaler) scaleUpLimit(now int64, current int) int {
	limit := math.MinInt
	for _, p := range a.up.policies {
		start := current - changedIn(a.upEvents, now, p.period) + changedIn(a.downEvents, now, p.period)
		var proposed int
		switch p.kind {
		case podsPolicy:
			proposed = start + p.value
		case percentPolicy:
			proposed = int(math.Ceil(float64(start) * (1 + float64(p.value)/100)))
		}
		limit = max(limit, proposed)
	}
	return limit
}

// scaleDownLimit is calculateScaleDownLimitWithBehaviors with selectPolicy Max.
func (a *autoscaler) scaleDownLimit(now int64, current int) int {
	limit := math.MaxInt
	for _, p := range a.down.policies {
		start := current - changedIn(a.upEvents, now, p.period) + changedIn(a.downEvents, now, p.period)
		var proposed int
		switch p.kind {
		case podsPolicy:
			proposed = start - p.value
		case percentPolicy:
			proposed = int(float64(start) * (1 - float64(p.value)/100))
		}
		limit = min(limit, proposed)
	}
	return limit
}

// sync is one reconcileAutoscaler pass: the replica count to scale to (current for no
// change).
func (a *autoscaler) sync(now int64, current int, pods []podState) int {
	var desired int
	switch {
	case current > a.maxReplicas:
		desired = a.maxReplicas
	case current < a.minReplicas:
		desired = a.minReplicas
	default:
		n, _, err := a.replicas(now, current, pods)
		if err != nil {
			return current // the HPA reports the error and leaves the scale alone
		}
		desired = a.normalize(now, current, n)
	}
	if desired != current {
		a.record(now, current, desired)
	}
	return desired
}

// record is storeScaleEvent, keeping the events the longest policy period still needs.
func (a *autoscaler) record(now int64, current, desired int) {
	var longest int64
	for _, p := range append(append([]scalingPolicy(nil), a.up.policies...), a.down.policies...) {
		longest = max(longest, p.period)
	}
	prune := func(es []timedValue) []timedValue {
		out := es[:0]
		for _, e := range es {
			if e.at > now-longest {
				out = append(out, e)
			}
		}
		return out
	}
	a.upEvents, a.downEvents = prune(a.upEvents), prune(a.downEvents)
	if desired > current {
		a.upEvents = append(a.upEvents, timedValue{now, desired - current})
	} else {
		a.downEvents = append(a.downEvents, timedValue{now, current - desired})
	}
}
