package procfs

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	line := "4242 (demo (app) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 567 0 0 20 0 9 0 100 2000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := ParseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := (1234 + 567) * 10 * time.Millisecond; got != want {
		t.Errorf("ParseProcStat = %v, want %v (utime 1234 + stime 567 ticks of 10ms)", got, want)
	}
	for _, bad := range []string{"", "4242 demo S 1", "4242 (demo) S 1 2 3", "4242 (demo) S 1 4242 4242 0 -1 4194560 5000 0 0 0 x 567 0"} {
		if _, err := ParseProcStat([]byte(bad)); err == nil {
			t.Errorf("ParseProcStat(%q) accepted a malformed line", bad)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	status := []byte("Name:\tmcp\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n")
	got, err := ParseProcStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if got.RSS != 100<<20 || got.Peak != 200<<20 {
		t.Errorf("memory = %+v, want RSS 100 MiB, peak 200 MiB", got)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS: 1 kB\nVmHWM: 2 MB\n", "VmRSS: x kB\nVmHWM: 2 kB\n"} {
		if _, err := ParseProcStatus([]byte(bad)); err == nil {
			t.Errorf("ParseProcStatus(%q) accepted a malformed status", bad)
		}
	}
}

func TestParseMachineStat(t *testing.T) {
	data := "cpu  100 5 30 800 20 1 2 3 40 0\ncpu0 50 2 15 400 10 0 1 1 20 0\nintr 1 2 3\n"
	got, err := ParseMachineStat([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	// Guest time (40) is part of user time already; idle (800) and iowait (20) are not busy.
	want := MachineCPU{Busy: 1410 * time.Millisecond, Total: 9610 * time.Millisecond}
	if got != want {
		t.Errorf("ParseMachineStat = %+v, want %+v", got, want)
	}
	if _, err := ParseMachineStat([]byte("cpu0 1 2 3\n")); err == nil || !strings.Contains(err.Error(), "no aggregate cpu line") {
		t.Errorf("missing cpu line: err = %v", err)
	}
	if _, err := ParseMachineStat([]byte("cpu 1 2 3\n")); err == nil {
		t.Error("a cpu line with 3 counters parsed")
	}
}

// TestReaders reads this test's own /proc files around some busy work.
func TestReaders(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := ProcessCPU(os.Getpid()); err != ErrNeedsLinux {
			t.Errorf("ProcessCPU off Linux: err = %v", err)
		}
		t.Skip("needs /proc")
	}
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		x++ // spin: at least 200 ms of CPU, minus what the scheduler takes away
	}
	after, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 20*time.Millisecond {
		t.Errorf("CPU time grew by %v over 200ms of spinning (x=%d)", after-before, x)
	}
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Error("a process that does not exist has a CPU time")
	}
	if m, err := Machine(); err != nil || m.Busy == 0 || m.Total < m.Busy {
		t.Errorf("Machine() = %+v, %v", m, err)
	}
	if m, err := ProcessMemory(os.Getpid()); err != nil || m.RSS == 0 || m.Peak < m.RSS {
		t.Errorf("ProcessMemory() = %+v, %v", m, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 0 0"))
	f.Add([]byte("cpu  1 2 3 4 5 6 7 8 9 10\n"))
	f.Add([]byte("VmHWM:\t 2 kB\nVmRSS:\t 1 kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := ParseProcStat(data); err == nil && d < 0 {
			t.Errorf("ParseProcStat(%q) = %v, negative", data, d)
		}
		if m, err := ParseMachineStat(data); err == nil && (m.Busy < 0 || m.Total < 0) {
			t.Errorf("ParseMachineStat(%q) = %+v, negative", data, m)
		}
		_, _ = ParseProcStatus(data)
	})
}
