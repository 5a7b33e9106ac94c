package hpa

import (
	"context"
	"math"
)

// pod is one simulated pod.
type pod struct {
	created, readyAt int64
	// backlog is the fluid queue of requests beyond what the stationary M/M/c queue holds,
	// built up while arrivals exceed the pod's capacity.
	backlog float64
	// cpu is the pod's cumulative CPU time in core-seconds, as the kubelet reports it;
	// demand is the CPU its arrivals asked for (a request counter, in CPU terms), which
	// the CPU limit does not cap.
	cpu, demand float64
	// The metrics-server's last two scrapes of cpu give the metric.
	scrapeCPU    float64
	scrapeDemand float64
	scrapeAt     int64
	scraped      bool
	hasMetric    bool
	metricMilli  int64
	metricAt     int64
	metricWindow int64
}

// latencyTerm is the response time of the requests one group of pods served in one
// second: network + delay + service time × X, X ~ M/M/c response time; weight requests.
type latencyTerm struct {
	q      mmc
	delay  float64 // seconds of backlog ahead of them
	weight float64
}

// minuteAcc accumulates one minute.
type minuteAcc struct {
	terms     []latencyTerm
	lost      float64 // requests abandoned, or with no ready pod to go to
	arrivals  float64
	busy      float64 // sum over ready pod-seconds of the fraction of cores busy
	readySecs float64
}

// run is one strategy's simulation state.
type run struct {
	cfg        Config
	tr         *trace
	st         strategy
	hpa        *autoscaler
	pods       []pod
	capacity   float64 // requests per second a pod serves at 100% CPU
	maxBacklog float64 // requests: beyond this they would wait longer than the timeout
	svc        float64 // service time, seconds
	syncOffset int64

	acc minuteAcc
	res StrategyResult
	// targetSeconds integrates the target over time, for the mean.
	targetSeconds float64
	podSeconds    float64
	utilSum       float64
	utilMinutes   int
}

func newRun(cfg Config, tr *trace, name string, st strategy) *run {
	svc := cfg.ServiceTime.Seconds()
	r := &run{cfg: cfg, tr: tr, st: st, svc: svc, capacity: float64(cfg.Cores) / svc,
		syncOffset: int64(cfg.SyncPeriod.Seconds()) / 2}
	r.maxBacklog = cfg.Timeout.Seconds() * r.capacity
	r.hpa = &autoscaler{minReplicas: cfg.MinReplicas, maxReplicas: cfg.MaxReplicas, target: st.target(),
		cpu: cfg.ScaleOn == ScaleOnCPU, tolerance: cfg.Tolerance, up: defaultScaleUp(),
		down:          defaultScaleDown(int64(cfg.DownscaleWindow.Seconds())),
		cpuInitPeriod: int64(cfg.CPUInitializationPeriod.Seconds()), readinessDelay: int64(cfg.InitialReadinessDelay.Seconds())}
	// Start in steady state: as many pods as the first second's load needs at the target,
	// started long ago, with a metric already in hand.
	n := int(math.Ceil(tr.rate[0] / r.capacity / (float64(st.target()) / 100)))
	n = min(max(n, cfg.MinReplicas), cfg.MaxReplicas)
	util := tr.rate[0] / float64(n) / r.capacity
	res := int64(cfg.MetricResolution.Seconds())
	for range n {
		r.pods = append(r.pods, pod{created: -day, readyAt: -day, scraped: true, hasMetric: true,
			metricMilli: int64(math.Round(util * float64(cfg.Cores) * 1000)), metricAt: 0, metricWindow: res})
	}
	r.res.Name = name
	return r
}

// simulate runs the whole trace. each is called at the end of every simulated day.
func (r *run) simulate(ctx context.Context, each func(day int, r *run)) error {
	cfg := r.cfg
	n := int64(len(r.tr.rate))
	sync := int64(cfg.SyncPeriod.Seconds())
	resolution := int64(cfg.MetricResolution.Seconds())
	for t := range n {
		if t%sync == r.syncOffset {
			r.sync(t)
		}
		r.serve(t)
		r.podSeconds += float64(len(r.pods))
		r.targetSeconds += float64(r.hpa.target)
		r.res.PeakReplicas = max(r.res.PeakReplicas, len(r.pods))
		if (t+1)%resolution == 0 {
			r.scrape(t + 1)
		}
		if (t+1)%60 == 0 {
			r.endMinute(t + 1)
		}
		if (t+1)%3600 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if (t+1)%day == 0 && each != nil {
			each(int((t+1)/day), r)
		}
	}
	r.finish()
	return nil
}

// sync runs the HPA controller and scales the Deployment: new pods are created (ready
// after the start delay); removed pods are the newest first, as a ReplicaSet prefers
// unready and most recently ready pods.
func (r *run) sync(now int64) {
	states := make([]podState, len(r.pods))
	for i, p := range r.pods {
		states[i] = podState{started: p.created, pending: now < p.readyAt, ready: now >= p.readyAt, readySince: p.readyAt,
			hasMetric: p.hasMetric, usageMilli: p.metricMilli, metricAt: p.metricAt, metricWindow: p.metricWindow,
			requestMilli: int64(r.cfg.Cores) * 1000}
	}
	cur := len(r.pods)
	want := r.hpa.sync(now, cur, states)
	switch {
	case want > cur:
		delay := int64(r.cfg.StartDelay.Seconds())
		for range want - cur {
			r.pods = append(r.pods, pod{created: now, readyAt: now + delay})
		}
		r.res.ScaleEvents++
	case want < cur:
		r.pods = r.pods[:want]
		r.res.ScaleEvents++
	}
}

// serve runs one second of traffic, spread evenly over the ready pods (the Service's
// endpoints are the ready pods).
func (r *run) serve(t int64) {
	lambda := r.tr.rate[t]
	r.acc.arrivals += lambda
	ready := 0
	for i := range r.pods {
		if r.pods[i].readyAt <= t {
			ready++
		}
	}
	if ready == 0 {
		r.acc.lost += lambda
		return
	}
	per := lambda / float64(ready)
	// Above 0.99 the stationary queue is already seconds deep; the fluid backlog carries
	// the rest.
	q := newMMC(r.cfg.Cores, math.Min(per/r.capacity, 0.99))
	first := len(r.acc.terms)
	for i := range r.pods {
		p := &r.pods[i]
		if p.readyAt > t {
			continue
		}
		b0 := p.backlog
		served := math.Min(r.capacity, per+b0)
		b1 := b0 + per - served
		lost := math.Max(0, b1-r.maxBacklog)
		b1 -= lost
		p.backlog = b1
		busy := served / r.capacity
		p.cpu += busy * float64(r.cfg.Cores)
		p.demand += per / r.capacity * float64(r.cfg.Cores)
		r.acc.busy += busy
		r.acc.readySecs++
		r.acc.lost += lost
		// This second's arrivals wait behind the backlog, taken at mid-second.
		delay := (b0 + b1) / 2 / r.capacity
		w := per - lost
		merged := false
		for j := first; j < len(r.acc.terms); j++ {
			if r.acc.terms[j].delay == delay {
				r.acc.terms[j].weight += w
				merged = true
				break
			}
		}
		if !merged {
			r.acc.terms = append(r.acc.terms, latencyTerm{q: q, delay: delay, weight: w})
		}
	}
}

// scrape is metrics-server (or, scaling on requests, the custom metrics pipeline): every
// resolution it reads each pod's counter, and the pod's metric is the rate between its
// last two readings.
func (r *run) scrape(now int64) {
	for i := range r.pods {
		p := &r.pods[i]
		if p.scraped && now > p.scrapeAt {
			w := now - p.scrapeAt
			used := p.cpu - p.scrapeCPU
			if !r.hpa.cpu {
				used = p.demand - p.scrapeDemand
			}
			p.hasMetric, p.metricAt, p.metricWindow = true, now, w
			p.metricMilli = int64(math.Round(used / float64(w) * 1000))
		}
		p.scrapeCPU, p.scrapeDemand, p.scrapeAt, p.scraped = p.cpu, p.demand, now, true
	}
}

// endMinute closes a minute: its p99 over all its requests, whether it violated the SLO,
// and what the strategy sees of it.
func (r *run) endMinute(now int64) {
	p99 := r.minuteP99()
	minute := now/60 - 1
	if p99 > r.cfg.SLO.Seconds() {
		r.res.SLOViolationMinutes++
		if r.tr.inSpike(minute, spikeRecovery) {
			r.res.SpikeViolationMinutes++
		}
	}
	o := minuteObs{p99: p99, rate: r.acc.arrivals / 60}
	if r.acc.readySecs > 0 {
		o.utilization = r.acc.busy / r.acc.readySecs
		r.utilSum += o.utilization
		r.utilMinutes++
	}
	r.hpa.target = r.st.minute(now, o)
	r.acc = minuteAcc{terms: r.acc.terms[:0]}
}

// spikeRecovery is how long after a spike a violation minute still counts as the spike's
// (for the report's split only).
const spikeRecovery = 10 * 60

// minuteP99 is the p99 of the response times of all the minute's requests, capped at the
// timeout: the time t at which the fraction of requests slower than t falls to 1%.
func (r *run) minuteP99() float64 {
	acc := &r.acc
	total := acc.lost
	for _, x := range acc.terms {
		total += x.weight
	}
	timeout := r.cfg.Timeout.Seconds()
	if total <= 0 {
		return 0
	}
	net := r.cfg.NetworkLatency.Seconds()
	slower := func(t float64) float64 {
		s := acc.lost
		for _, x := range acc.terms {
			s += x.weight * x.q.tail((t-net-x.delay)/r.svc)
		}
		return s / total
	}
	if slower(timeout) > 0.01 {
		return timeout
	}
	lo, hi := net, timeout
	for range 40 {
		m := (lo + hi) / 2
		if slower(m) > 0.01 {
			lo = m
		} else {
			hi = m
		}
	}
	return hi
}

func (r *run) finish() {
	n := float64(len(r.tr.rate))
	r.res.ReplicaHours = r.podSeconds / 3600
	r.res.MeanTarget = r.targetSeconds / n
	r.res.FinalTarget = r.hpa.target
	if r.utilMinutes > 0 {
		r.res.MeanUtilization = r.utilSum / float64(r.utilMinutes)
	}
	if m, ok := r.st.(*mcpStrategy); ok {
		r.res.TargetChanges = m.changes
		r.res.LastReason = m.last
	}
}
