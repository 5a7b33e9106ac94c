// Package hpa is the HPA target benchmark (`mcp bench hpa`): a simulation, since no
// kubelets run here, of one Deployment scaled by a HorizontalPodAutoscaler on CPU
// utilization through days of diurnal load with bursts, once per strategy for the HPA's
// target — fixed at 50%, 70% or 80%, or set by MCP's HPA model (tuner/hpa) — reporting
// the replica-hours each paid and the minutes its p99 latency spent over the SLO.
//
// Every strategy sees the same load, second by second. What is modelled, and how:
//
// Pods. Each pod is an M/M/c queue: c = Config.Cores workers (the pod's CPU request and
// limit, which are equal, and its GOMAXPROCS), requests arriving at random and needing an
// exponentially distributed CPU time of mean Config.ServiceTime, served first come, first
// served. Its capacity is c / ServiceTime requests per second; its CPU utilization is the
// fraction of its cores busy, which is arrival rate / capacity while that is below 1 and
// 100% — the CPU limit — above. Response times are the M/M/c response time at the
// second's utilization (the queue is taken to be in steady state within each second,
// which holds at the utilizations that matter: it settles in a few service times), plus
// Config.NetworkLatency, which does not queue on the pod. Above capacity the queue has no
// steady state: the excess piles up as a fluid backlog that later arrivals wait behind
// and that drains once the pod has spare capacity; requests that would wait longer than
// Config.Timeout are abandoned by their clients (over the SLO, no CPU used). A new pod
// takes Config.StartDelay from creation to ready, uses no CPU meanwhile and gets no
// traffic until ready; load is balanced evenly over ready pods (the Service's endpoints).
// Removed pods leave the endpoints at once, newest first (a ReplicaSet removes unready and
// most recently ready pods first).
//
// Latency and the SLO. A minute's p99 is the 99th percentile of all the response times of
// that minute's requests, across pods and seconds (a mixture of the per-pod, per-second
// distributions, abandoned requests counting as slowest), capped at the timeout. A minute
// whose p99 is above Config.SLO is an SLO-violation minute.
//
// Metrics. metrics-server reads each pod's CPU counter every Config.MetricResolution
// (15 s) and reports the rate between its last two readings. The HPA syncs every
// Config.SyncPeriod (15 s), half a period after the scrapes, so what it reads is the
// average over the 15 s that ended 7 s before.
//
// The HPA. The autoscaling/v2 controller's algorithm on those metrics, with Kubernetes'
// defaults: desired = ⌈ready pods × utilization / target⌉ with utilization as the
// integer percent of summed usage over summed requests; no change while
// |utilization/target − 1| ≤ 0.1; a scale-down stabilization window of 5 minutes (the
// highest recommendation of the window wins); at most +100% or +4 pods, whichever is
// more, per 15 s up and −100% per 15 s down; min and max replicas. Pods are treated as
// the controller treats them: a pod that is starting counts as Pending, so unready; within
// the 5-minute CPU initialization period a ready pod whose metric window began before it
// turned ready is unready too; unready pods are left out of the utilization, except that
// on a scale-up they count as using 0% (which holds the HPA back from scaling again for
// pods that are coming). Pods without a metric count as 100% on a scale-down and 0% on a
// scale-up. The simplification: a starting pod is Pending until ready, where a real one is
// Running but not ready for part of that time — the controller treats both as unready in
// the initialization period, so the replica counts are the same.
//
// Scaling on requests (Config.ScaleOn = ScaleOnRequests) swaps the CPU metric for a
// per-pod request rate (a Pods metric with target averageValue = target% × capacity),
// read through the same 15 s pipeline: it keeps counting load a pod cannot serve, where
// CPU stops at the limit, and the controller applies no CPU initialization rules to it.
// It is there to measure how much of a burst's cost comes from the CPU metric saturating.
//
// Load. A diurnal curve (lowest at 04:00 at Config.Trough of the peak, highest at 16:00),
// each day's peak drawn within ±Config.DayToDay, times log-normal noise with a few minutes'
// correlation, times bursts: Config.SpikesPerDay a day on average, each multiplying the
// load by ×2 to ×3 at once for 2 to 10 minutes. Deterministic from Config.Seed.
//
// The mcp strategy. It starts at Config.MCP.Initial (50%, the usual default) and does what
// MCP's tuner does: it observes each minute's mean CPU utilization of ready pods and its
// p99 (measured with Config.MCP.MeasurementNoise of log-normal error), and every
// Config.MCP.Refit (30 minutes) fits the tuner's model (tuner/hpa.Recommend, the same
// function) to the last Config.MCP.History of minutes, with the load growth estimated from
// the observed per-minute request rates (hpa.EstimateGrowth), and sets the target it
// recommends within the bounds and change budget. Until the model has enough distinct
// utilization levels it keeps the target it has.
package hpa

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Run simulates every strategy over the same trace and reports what each cost and how
// often it missed the SLO. Progress lines go to progress (nil: none).
func Run(ctx context.Context, cfg Config, progress io.Writer) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	start := time.Now()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(progress, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	tr := newTrace(cfg)
	say("trace: %d days, %d spikes, seed %d", cfg.Days, len(tr.spikes), cfg.Seed)

	results := make([]StrategyResult, len(Strategies))
	errs := make([]error, len(Strategies))
	var wg sync.WaitGroup
	for i, name := range Strategies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRun(cfg, &tr, name, newStrategy(cfg, name))
			errs[i] = r.simulate(ctx, func(d int, r *run) {
				say("%-9s day %d/%d: %.0f replica-hours, %d SLO-violation minutes, target %d%%",
					name, d, cfg.Days, r.podSeconds/3600, r.res.SLOViolationMinutes, r.hpa.target)
			})
			results[i] = r.res
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return Report{}, err
		}
	}
	return newReport(cfg, tr, results), nil
}

func newStrategy(cfg Config, name string) strategy {
	switch name {
	case "static-50":
		return static(50)
	case "static-70":
		return static(70)
	case "static-80":
		return static(80)
	case "mcp":
		return newMCP(cfg)
	}
	panic("unknown strategy " + name)
}
