package overhead

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
	got, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := (1234 + 567) * 10 * time.Millisecond; got != want {
		t.Errorf("parseProcStat = %v, want %v (utime 1234 + stime 567 ticks of 10ms)", got, want)
	}
	for _, bad := range []string{"", "4242 demo S 1", "4242 (demo) S 1 2 3", "4242 (demo) S 1 4242 4242 0 -1 4194560 5000 0 0 0 x 567 0"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) accepted a malformed line", bad)
		}
	}
}

func TestParseSystemStat(t *testing.T) {
	data := "cpu  100 5 30 800 20 1 2 3 40 0\ncpu0 50 2 15 400 10 0 1 1 20 0\nintr 1 2 3\n"
	busy, total, err := parseSystemStat([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	// Guest time (40) is part of user time already.
	if busy != 100+5+30+1+2+3 || total != 100+5+30+800+20+1+2+3 {
		t.Errorf("busy, total = %d, %d; want 141, 961", busy, total)
	}
	if _, _, err := parseSystemStat([]byte("cpu0 1 2 3\n")); err == nil || !strings.Contains(err.Error(), "no aggregate cpu line") {
		t.Errorf("missing cpu line: err = %v", err)
	}
}

// TestProcessCPU reads this test's own /proc/<pid>/stat around some busy work.
func TestProcessCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		x++ // spin: at least 200 ms of CPU, minus what the scheduler takes away
	}
	after, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 20*time.Millisecond {
		t.Errorf("CPU time grew by %v over 200ms of spinning (x=%d)", after-before, x)
	}
	if _, err := processCPU(1 << 30); err == nil {
		t.Error("a process that does not exist has a CPU time")
	}
	if busy, total, err := systemCPU(); err != nil || busy == 0 || total < busy {
		t.Errorf("systemCPU() = %d, %d, %v", busy, total, err)
	}
}
