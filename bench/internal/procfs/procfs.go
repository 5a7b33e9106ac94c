// Package procfs reads the CPU time and memory of processes, and the machine's busy CPU
// time, from Linux's /proc, for the benchmark harnesses. The parsers take the files'
// bytes, so tests and fuzzing feed them directly.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc: the kernel reports them in USER_HZ ticks,
// which the ABI fixes at 100 on the architectures Go supports on Linux (it is not the
// kernel's CONFIG_HZ).
const userHZ = 100

// ErrNeedsLinux is returned by the readers on systems without Linux's /proc.
var ErrNeedsLinux = errors.New("reading process CPU and memory needs Linux's /proc: run the benchmark on Linux")

// Memory is a process's resident set now and at its peak, in bytes.
type Memory struct {
	RSS, Peak uint64
}

// MachineCPU is the time all CPUs of the machine together have been busy, and have
// existed, since boot: Busy/Total over an interval is the machine's busy share.
type MachineCPU struct {
	Busy, Total time.Duration
}

// ProcessCPU is the CPU time (user + system, all threads) process pid has used so far.
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := readProc(strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	return ParseProcStat(data)
}

// ProcessMemory is process pid's resident set now and at its peak.
func ProcessMemory(pid int) (Memory, error) {
	data, err := readProc(strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	return ParseProcStatus(data)
}

// Machine is the machine's busy and total CPU time so far.
func Machine() (MachineCPU, error) {
	data, err := readProc("stat")
	if err != nil {
		return MachineCPU{}, fmt.Errorf("read the machine's CPU time: %w", err)
	}
	return ParseMachineStat(data)
}

// CPUModel is the first "model name" in /proc/cpuinfo, or "" when there is none.
func CPUModel() string {
	data, err := readProc("cpuinfo")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func readProc(name string) ([]byte, error) {
	if runtime.GOOS != "linux" {
		return nil, ErrNeedsLinux
	}
	return os.ReadFile("/proc/" + name)
}

// ParseProcStat returns the user plus system CPU time in a /proc/<pid>/stat line: fields
// 14 (utime) and 15 (stime), counted after the command name, which is in parentheses and
// may itself contain spaces and parentheses.
func ParseProcStat(data []byte) (time.Duration, error) {
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
	if n, ok := ticks(total); ok {
		return n, nil
	}
	return 0, fmt.Errorf("parse /proc stat %q: CPU time out of range", clip(data))
}

// ParseProcStatus reads VmRSS and VmHWM (the resident set's high-water mark) from a
// /proc/<pid>/status file; the kernel gives both in kB.
func ParseProcStatus(data []byte) (Memory, error) {
	var m Memory
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
			return m, fmt.Errorf("parse /proc status line %q: want \"Name: N kB\"", clip(bytes.TrimSpace(line)))
		}
		kb, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil || kb > 1<<53 {
			return m, fmt.Errorf("parse /proc status line %q: not a size in kB", clip(bytes.TrimSpace(line)))
		}
		*dst = kb << 10
	}
	if !haveRSS || !havePeak {
		return m, fmt.Errorf("parse /proc status: VmRSS or VmHWM missing (a kernel thread, or a process that exited)")
	}
	return m, nil
}

// ParseMachineStat returns the busy and total CPU time of all CPUs from the aggregate
// "cpu" line of /proc/stat. Idle and iowait count as not busy; guest time is already
// included in user time, so it is not added again.
func ParseMachineStat(data []byte) (MachineCPU, error) {
	for line := range bytes.Lines(data) {
		fields := bytes.Fields(line)
		if len(fields) == 0 || string(fields[0]) != "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice]
		if len(fields) < 9 {
			return MachineCPU{}, fmt.Errorf("parse /proc/stat cpu line %q: want at least 8 counters", clip(line))
		}
		var busy, total uint64
		for i, f := range fields[1:9] {
			n, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return MachineCPU{}, fmt.Errorf("parse /proc/stat cpu counter %d %q: %w", i+1, f, err)
			}
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		b, okBusy := ticks(busy)
		tot, okTotal := ticks(total)
		if !okBusy || !okTotal {
			return MachineCPU{}, fmt.Errorf("parse /proc/stat cpu line %q: CPU time out of range", clip(line))
		}
		return MachineCPU{Busy: b, Total: tot}, nil
	}
	return MachineCPU{}, fmt.Errorf("parse /proc/stat: no aggregate cpu line")
}

// ticks converts a count of USER_HZ ticks to a duration; ok is false when the count (or a
// sum of counts that overflowed) does not fit.
func ticks(n uint64) (d time.Duration, ok bool) {
	const tick = time.Second / userHZ
	if n > uint64(math.MaxInt64/tick) {
		return 0, false
	}
	return time.Duration(n) * tick, true
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
