package overhead

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: the kernel reports them in
// USER_HZ ticks, which the ABI fixes at 100 on the architectures Go supports on Linux
// (it is not the kernel's CONFIG_HZ).
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

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// parseSystemStat returns the busy and total CPU ticks, summed over all CPUs, from the
// aggregate "cpu" line of /proc/stat. Idle and iowait count as not busy; guest time is
// already included in user time, so it is not added again.
func parseSystemStat(data []byte) (busy, total uint64, err error) {
	for line := range bytes.Lines(data) {
		fields := bytes.Fields(line)
		if len(fields) == 0 || string(fields[0]) != "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice]
		if len(fields) < 9 {
			return 0, 0, fmt.Errorf("parse /proc/stat cpu line %q: want at least 8 counters", clip(line))
		}
		for i, f := range fields[1:9] {
			n, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parse /proc/stat cpu counter %d %q: %w", i+1, f, err)
			}
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total, nil
	}
	return 0, 0, fmt.Errorf("parse /proc/stat: no aggregate cpu line")
}
