package hpa

import "math"

// The M/M/c curve family the model fits. Times are in units of the mean service time
// (service rate 1); the model scales them by its fitted service time.

// erlangC is the probability that an arrival waits in an M/M/c queue with c servers and
// offered load a = λ/μ (a < c). It uses the Erlang B recursion, which stays stable for
// large c where a^c/c! would overflow.
func erlangC(c int, a float64) float64 {
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return float64(c) * b / (float64(c) - a*(1-b))
}

// survival is P(T > t) for the response time T (wait plus service) of a FCFS M/M/c queue
// at per-server utilization rho < 1, service rate 1. The wait is 0 with probability 1−C
// and exponential with rate θ = c(1−ρ) otherwise (C is Erlang C); the service time is
// exponential with rate 1, so T is a mixture of an exponential and a hypoexponential.
func survival(c int, rho, t float64) float64 {
	return survivalWith(c, rho, erlangC(c, rho*float64(c)), t)
}

// survivalWith is survival with Erlang C already computed (pw), for searches over t.
func survivalWith(c int, rho, pw, t float64) float64 {
	if t <= 0 {
		return 1
	}
	theta := float64(c) * (1 - rho)
	var both float64 // P(W + S > t) given that the arrival waits
	if d := theta - 1; math.Abs(d) < 1e-9 {
		both = math.Exp(-t) * (1 + t)
	} else {
		both = (theta*math.Exp(-t) - math.Exp(-theta*t)) / d
	}
	return (1-pw)*math.Exp(-t) + pw*both
}

// unitP99 is the p99 response time of an M/M/c queue at per-server utilization rho, in
// mean service times: ln(100) ≈ 4.6 at rho = 0, growing without bound as rho → 1.
func unitP99(c int, rho float64) float64 {
	if rho <= 0 {
		return math.Log(100)
	}
	if rho >= 1 {
		return math.Inf(1)
	}
	pw := erlangC(c, rho*float64(c))
	lo, hi := 0.0, 8.0
	for survivalWith(c, rho, pw, hi) > 0.01 {
		lo, hi = hi, hi*2
	}
	// 60 halvings of an interval of at most hi: far below any latency that matters.
	for range 60 {
		m := (lo + hi) / 2
		if survivalWith(c, rho, pw, m) > 0.01 {
			lo = m
		} else {
			hi = m
		}
	}
	return (lo + hi) / 2
}
