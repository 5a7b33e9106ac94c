package hpa

import "math"

// The simulation's own M/M/c latency, written apart from tuner/hpa's on purpose: the
// simulated world must not share a bug with the model that learns it. Times are in units
// of the mean service time (service rate 1) unless said otherwise.

// erlangC is the probability that an arrival waits in an M/M/c queue with offered load
// a = λ/μ < c, by the Erlang B recursion B(k) = a·B(k−1)/(k + a·B(k−1)),
// C = c·B/(c − a(1 − B)).
func erlangC(c int, a float64) float64 {
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return float64(c) * b / (float64(c) - a*(1-b))
}

// mmc is an M/M/c queue at one utilization, ready to answer tail questions.
type mmc struct {
	c     int
	rho   float64 // per-server utilization, < 1
	pWait float64 // Erlang C
	theta float64 // rate of the wait, given that there is one: c(1−ρ)
}

func newMMC(c int, rho float64) mmc {
	return mmc{c: c, rho: rho, pWait: erlangC(c, rho*float64(c)), theta: float64(c) * (1 - rho)}
}

// tail is P(T > x) for the response time T in service times: with probability 1−C no
// wait and an Exp(1) service; with probability C an Exp(θ) wait before it, whose sum with
// the service is hypoexponential, P(W+S > x) = (θe^{−x} − e^{−θx})/(θ − 1).
func (q mmc) tail(x float64) float64 {
	if x <= 0 {
		return 1
	}
	e := math.Exp(-x)
	var both float64
	if d := q.theta - 1; math.Abs(d) < 1e-9 {
		both = e * (1 + x)
	} else {
		both = (q.theta*e - math.Exp(-q.theta*x)) / d
	}
	return (1-q.pWait)*e + q.pWait*both
}

// quantile is the response time (in service times) that a fraction p of requests exceed.
func (q mmc) quantile(p float64) float64 {
	lo, hi := 0.0, 1.0
	for q.tail(hi) > p {
		lo, hi = hi, 2*hi
	}
	for range 60 {
		m := (lo + hi) / 2
		if q.tail(m) > p {
			lo = m
		} else {
			hi = m
		}
	}
	return (lo + hi) / 2
}

// P99 is the p99 response time of a pod with c workers, mean service time svc and
// per-worker utilization rho < 1, in the unit of svc.
func P99(c int, svc, rho float64) float64 {
	return svc * newMMC(c, rho).quantile(0.01)
}
