package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePhases(t *testing.T) {
	got, err := ParsePhases(" 60s:live=64,garbage=256 ; 1m30s:live_heap_mib=200, cpu=500;10s;5m:garbage_kib=0,cpu_us=0;")
	if err != nil {
		t.Fatal(err)
	}
	want := []Phase{
		{Duration: 60 * time.Second, Patch: WorkloadPatch{LiveHeapMiB: ptr(64), GarbageKiB: ptr(256)}},
		{Duration: 90 * time.Second, Patch: WorkloadPatch{LiveHeapMiB: ptr(200), CPUMicros: ptr(500)}},
		{Duration: 10 * time.Second},
		{Duration: 5 * time.Minute, Patch: WorkloadPatch{GarbageKiB: ptr(0), CPUMicros: ptr(0)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParsePhases = %v, want %v", got, want)
	}
	if s := got[0].String(); s != "1m0s:live=64,garbage=256" {
		t.Errorf("String() = %q", s)
	}
}

func TestParsePhasesErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                           "phase 1 is empty",
		"60s:live=64;;60s":           "phase 2 is empty",
		"live=64":                    `phase 1 ("live=64"): duration "live=64"`,
		"0s:live=1":                  "want a positive Go duration",
		"-5s:live=1":                 "want a positive Go duration",
		"60s:live=x":                 `live="x": want a whole number`,
		"60s:live=-1":                `live="-1"`,
		"60s:garbage=99999999":       `garbage="99999999": want a whole number from 0 to 65536`,
		"60s:heap=5":                 `unknown setting "heap"`,
		"60s:live":                   `setting "live": want key=value`,
		"60s:live=1,live_heap_mib=2": "setting live_heap_mib given twice",
		"10s:cpu=1;20s:cpu=1.5":      `phase 2 ("20s:cpu=1.5"): cpu="1.5"`,
	} {
		_, err := ParsePhases(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePhases(%q) = %v, want an error containing %q", spec, err, want)
		}
	}
}

// fakeTimers hands the phase runner timers the test fires by hand.
type fakeTimers struct{ started chan chan time.Time }

func (f *fakeTimers) after(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.started <- c
	return c
}

// startRunner runs a two-phase schedule with fake timers; it returns the timers, the
// phases applied, and a channel closed when the runner returns.
func startRunner(ctx context.Context, t *testing.T, repeat bool) (*fakeTimers, chan int, chan struct{}) {
	phases, err := ParsePhases("10s:live=1;20s:live=2")
	if err != nil {
		t.Fatal(err)
	}
	timers := &fakeTimers{started: make(chan chan time.Time, 10)}
	applied, done := make(chan int, 10), make(chan struct{})
	r := &phaseRunner{phases: phases, repeat: repeat, after: timers.after, apply: func(i int, _ Phase) { applied <- i }}
	go func() { r.run(ctx); close(done) }()
	return timers, applied, done
}

func TestPhaseRunnerOnce(t *testing.T) {
	timers, applied, done := startRunner(context.Background(), t, false)
	for want := range 2 {
		timer := <-timers.started
		if got := <-applied; got != want {
			t.Fatalf("applied phase %d, want %d", got, want)
		}
		timer <- time.Time{}
	}
	<-done // the schedule ends after its last phase, leaving that phase's workload
}

func TestPhaseRunnerRepeats(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	timers, applied, done := startRunner(ctx, t, true)
	for _, want := range []int{0, 1, 0, 1, 0} {
		timer := <-timers.started
		if got := <-applied; got != want {
			t.Fatalf("applied phase %d, want %d", got, want)
		}
		timer <- time.Time{}
	}
	cancel()
	<-done
}
