package scale

import (
	"context"
	"sync"
	"time"

	"github.com/mcplane/mcp/bench/internal/procfs"
)

// cpuSample is a process's CPU time at one moment.
type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// sampler records a process's CPU time every interval, so the busiest second of a phase
// can be found afterwards; averages over a phase come from reads at its ends.
type sampler struct {
	pid      int
	interval time.Duration

	mu      sync.Mutex
	samples []cpuSample
	err     error
}

func newSampler(pid int, interval time.Duration) *sampler {
	return &sampler{pid: pid, interval: interval}
}

// run samples until ctx ends or the process can no longer be read.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		cpu, err := procfs.ProcessCPU(s.pid)
		now := time.Now()
		s.mu.Lock()
		if err != nil {
			s.err = err
			s.mu.Unlock()
			return
		}
		s.samples = append(s.samples, cpuSample{at: now, cpu: cpu})
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// peak is the highest CPU use, in cores, over any window of at least width between from
// and to. It is 0 when fewer than two samples fall in the span.
func (s *sampler) peak(from, to time.Time, width time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in []cpuSample
	for _, c := range s.samples {
		if !c.at.Before(from) && !c.at.After(to) {
			in = append(in, c)
		}
	}
	best := 0.0
	j := 0
	for i := range in {
		for j < len(in) && in[j].at.Sub(in[i].at) < width {
			j++
		}
		if j == len(in) {
			// The tail is shorter than width: count it only when the whole span is.
			if i == 0 && len(in) > 1 {
				best = max(best, cores(in[len(in)-1].cpu-in[0].cpu, in[len(in)-1].at.Sub(in[0].at)))
			}
			break
		}
		best = max(best, cores(in[j].cpu-in[i].cpu, in[j].at.Sub(in[i].at)))
	}
	return best
}

// cores is CPU time used per wall time: 1 is one core busy all the time.
func cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return cpu.Seconds() / wall.Seconds()
}

// usage is a process's CPU time and memory, and the whole machine's busy CPU time, at
// one moment.
type usage struct {
	at      time.Time
	cpu     time.Duration
	mem     procfs.Memory
	machine time.Duration
}

func readUsage(pid int) (usage, error) {
	cpu, err := procfs.ProcessCPU(pid)
	if err != nil {
		return usage{}, err
	}
	mem, err := procfs.ProcessMemory(pid)
	if err != nil {
		return usage{}, err
	}
	// The machine's figure only explains noise: a failure to read it is not fatal.
	machine, _ := procfs.Machine()
	return usage{at: time.Now(), cpu: cpu, mem: mem, machine: machine.Busy}, nil
}

// since is the process's CPU use, in cores, from u0 to u.
func (u usage) since(u0 usage) float64 { return cores(u.cpu-u0.cpu, u.at.Sub(u0.at)) }

// machineSince is the whole machine's CPU use, in cores, from u0 to u: every process,
// the benchmark's and anyone else's.
func (u usage) machineSince(u0 usage) float64 { return cores(u.machine-u0.machine, u.at.Sub(u0.at)) }
