package scale

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: the kernel reports them in
// USER_HZ ticks, which the ABI fixes at 100 on the architectures Go supports on Linux.
const userHZ = 100

// parseProcStat returns the user plus system CPU time in a /proc/<pid>/stat line: fields
// 14 (utime) and 15 (stime), counted after the command name, which is in parentheses and
// may itself contain spaces and parentheses.
func parseProcStat(data []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("parse /proc stat %q: no ')' after the command name", clip(data))
	}
	// Fields after the command: state(3) ppid(4) ... utime(14) stime(15).
	fields := bytes.Fields(data[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("parse /proc stat %q: %d fields after the command name, want at least %d", clip(data), len(fields), stime+1)
	}
	var total uint64
	for _, i := range []int{utime, stime} {
		n, err := strconv.ParseUint(string(fields[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc stat field %d %q: %w", i+3, fields[i], err)
		}
		total += n
	}
	return time.Duration(total) * time.Second / userHZ, nil
}

// memory is a process's resident set now and at its peak.
type memory struct {
	RSS, Peak uint64 // bytes
}

// parseProcStatus reads VmRSS and VmHWM (the resident set's high-water mark) from a
// /proc/<pid>/status file; the kernel gives both in kB.
func parseProcStatus(data []byte) (memory, error) {
	var m memory
	var haveRSS, havePeak bool
	for line := range bytes.Lines(data) {
		var dst *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst, haveRSS = &m.RSS, true
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst, havePeak = &m.Peak, true
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[2]) != "kB" {
			return m, fmt.Errorf("parse /proc status line %q: want \"Name: N kB\"", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return m, fmt.Errorf("parse /proc status line %q: %w", bytes.TrimSpace(line), err)
		}
		*dst = kb << 10
	}
	if !haveRSS || !havePeak {
		return m, fmt.Errorf("parse /proc status: VmRSS or VmHWM missing (a kernel thread, or a process that exited)")
	}
	return m, nil
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

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
		cpu, err := processCPU(s.pid)
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
	mem     memory
	machine time.Duration
}

func readUsage(pid int) (usage, error) {
	cpu, err := processCPU(pid)
	if err != nil {
		return usage{}, err
	}
	mem, err := processMemory(pid)
	if err != nil {
		return usage{}, err
	}
	// The machine's figure only explains noise: a failure to read it is not fatal.
	machine, _ := machineBusy()
	return usage{at: time.Now(), cpu: cpu, mem: mem, machine: machine}, nil
}

// since is the process's CPU use, in cores, from u0 to u.
func (u usage) since(u0 usage) float64 { return cores(u.cpu-u0.cpu, u.at.Sub(u0.at)) }

// machineSince is the whole machine's CPU use, in cores, from u0 to u: every process,
// the benchmark's and anyone else's.
func (u usage) machineSince(u0 usage) float64 { return cores(u.machine-u0.machine, u.at.Sub(u0.at)) }

// parseMachineStat returns the busy CPU time of all CPUs from /proc/stat's first line:
// everything but idle and iowait.
func parseMachineStat(data []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 6 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("parse /proc/stat: first line %q is not the cpu total", clip(line))
	}
	var busy uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/stat cpu field %d %q: %w", i+1, v, err)
		}
		// Fields: user nice system idle iowait irq softirq steal guest guest_nice; guest
		// time is already counted in user.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}
