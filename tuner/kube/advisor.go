package kube

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/hpa"
	"github.com/mcplane/mcp/tuner/policy"
	"github.com/mcplane/mcp/tuner/signals"
)

// hpaAdvisor recommends HPA targets from the workload's signals: per minute, the pods' CPU
// use as a fraction of their request and the worst pod's p99, fitted by tuner/hpa.
type hpaAdvisor struct{ client client.Client }

func (a *hpaAdvisor) RecommendHPA(ctx context.Context, p policy.Policy, service string, windows map[signals.Key][]signals.Sample) (int, int, string, error) {
	if p.HPATarget == nil {
		return 0, 0, "", tuner.ErrNotMine
	}
	h, err := findHPA(ctx, a.client, p)
	if err != nil {
		return 0, 0, "", err
	}
	_, cur, err := cpuTarget(h)
	if err != nil {
		return 0, 0, "", err
	}
	req, err := podCPURequest(ctx, a.client, h.Namespace, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
	if err != nil {
		return int(cur), 0, "", fmt.Errorf("read the workload's CPU request: %w", err)
	}
	if req <= 0 {
		return int(cur), 0, "", errors.New("the workload's pods have no CPU request, so CPU utilization means nothing to the HPA")
	}
	// The CPU request changed since the target was set: keep the scale point, the CPU per
	// pod at which the HPA adds pods, where it was.
	if was, err := strconv.ParseInt(h.Annotations[annRequestAtTarget], 10, 64); err == nil && was > 0 && was != req {
		target := p.HPATarget.Clamp(int(math.Round(float64(cur) * float64(was) / float64(req))))
		return int(cur), target, fmt.Sprintf("CPU request %dm→%dm: HPA target %d%%→%d%% keeps the scale point at %dm per pod (within [%d, %d])",
			was, req, cur, target, was*int64(cur)/100, p.HPATarget.Min, p.HPATarget.Max), nil
	}
	if p.LatencySLO <= 0 {
		return int(cur), int(cur), "", errors.New("objectives.latencyP99 is needed to tune the HPA target")
	}
	obs, rates := minutes(windows, float64(req)/1000)
	cfg := hpa.DefaultConfig()
	cfg.SLO, cfg.Bounds, cfg.Current, cfg.MaxStep = p.LatencySLO, *p.HPATarget, int(cur), p.MaxStep
	cfg.LoadGrowth = hpa.EstimateGrowth(rates, 0.99)
	rec, _, err := hpa.Recommend(obs, hpa.DefaultFitConfig(), cfg)
	if err != nil {
		return int(cur), int(cur), "", err
	}
	return int(cur), rec.Target, rec.Reason, nil
}

// minutes turns per-instance samples into one observation a minute: the pods' mean CPU
// utilization of their request and the worst pod's p99, plus the total request rate.
func minutes(windows map[signals.Key][]signals.Sample, requestCores float64) ([]hpa.Observation, []float64) {
	type acc struct {
		util []float64
		p99  float64
		rps  map[string][]float64 // per instance: its samples' rates this minute
	}
	byMin := map[int64]*acc{}
	for k, w := range windows {
		for _, s := range w {
			if !signals.Has(s.CPUCores) || !signals.Has(s.LatencyP99) {
				continue
			}
			m := s.Time.Truncate(time.Minute).Unix()
			a, ok := byMin[m]
			if !ok {
				a = &acc{rps: map[string][]float64{}}
				byMin[m] = a
			}
			a.util = append(a.util, s.CPUCores/requestCores)
			a.p99 = math.Max(a.p99, s.LatencyP99)
			if signals.Has(s.RequestsPerSecond) {
				a.rps[k.Instance] = append(a.rps[k.Instance], s.RequestsPerSecond)
			}
		}
	}
	keys := make([]int64, 0, len(byMin))
	for k := range byMin {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var obs []hpa.Observation
	var rates []float64
	for _, k := range keys {
		a := byMin[k]
		var sum float64
		for _, u := range a.util {
			sum += u
		}
		obs = append(obs, hpa.Observation{Utilization: sum / float64(len(a.util)), P99: a.p99})
		// The workload's rate is the sum over instances of each one's mean this minute.
		var rate float64
		for _, rs := range a.rps {
			var t float64
			for _, r := range rs {
				t += r
			}
			rate += t / float64(len(rs))
		}
		rates = append(rates, rate)
	}
	return obs, rates
}
