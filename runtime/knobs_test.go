package runtime

import (
	"errors"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestResolveUpdate(t *testing.T) {
	ceiling512 := bounds{containerMemory: 512 << 20}.memoryLimitCeiling()
	const mib = 1 << 20
	cur := Knobs{GOGC: 100, MemoryLimit: 460 * mib, GOMAXPROCS: 0}
	limited := bounds{containerMemory: 512 * mib, liveHeap: 100 * mib, numCPU: 4}
	tests := []struct {
		name    string
		cur     Knobs
		u       KnobUpdate
		b       bounds
		want    Knobs
		wantErr string
	}{
		{name: "gogc", u: KnobUpdate{GOGC: ptr(150)}, b: limited, want: Knobs{GOGC: 150, MemoryLimit: 460 * mib}},
		{name: "gogc negative", u: KnobUpdate{GOGC: ptr(-5)}, b: limited, wantErr: "GOGC -5 is outside [25, 2000]"},
		{name: "gogc too high", u: KnobUpdate{GOGC: ptr(5000)}, b: limited, wantErr: "GOGC 5000 is outside [25, 2000]"},
		{name: "gogc off under a limit", u: KnobUpdate{GOGC: ptr(GOGCOff)}, b: limited, want: Knobs{GOGC: GOGCOff, MemoryLimit: 460 * mib}},
		{name: "gogc off without a limit", cur: Knobs{GOGC: 100, MemoryLimit: NoMemoryLimit},
			u: KnobUpdate{GOGC: ptr(GOGCOff)}, b: bounds{numCPU: 4}, wantErr: "GOGC off needs a memory limit"},
		{name: "gogc off with a new limit", cur: Knobs{GOGC: 100, MemoryLimit: NoMemoryLimit},
			u: KnobUpdate{GOGC: ptr(GOGCOff), MemoryLimit: ptr[int64](300 * mib)}, b: bounds{numCPU: 4},
			want: Knobs{GOGC: GOGCOff, MemoryLimit: 300 * mib}},
		{name: "memlimit bytes", u: KnobUpdate{MemoryLimit: ptr[int64](400 * mib)}, b: limited, want: Knobs{GOGC: 100, MemoryLimit: 400 * mib}},
		{name: "memlimit above container", u: KnobUpdate{MemoryLimit: ptr[int64](600 * mib)}, b: limited,
			wantErr: "GOMEMLIMIT 600MiB is above 0.98 × the container memory limit of 512MiB"},
		{name: "memlimit at ceiling", u: KnobUpdate{MemoryLimit: ptr[int64](ceiling512)}, b: limited,
			want: Knobs{GOGC: 100, MemoryLimit: ceiling512}},
		{name: "memlimit below live heap", u: KnobUpdate{MemoryLimit: ptr[int64](90 * mib)}, b: limited,
			wantErr: "GOMEMLIMIT 90MiB is below the floor of 110MiB (live heap 100MiB)"},
		{name: "memlimit ratio", u: KnobUpdate{MemoryLimitRatio: ptr(0.5)}, b: limited, want: Knobs{GOGC: 100, MemoryLimit: 256 * mib}},
		{name: "memlimit ratio above ceiling", u: KnobUpdate{MemoryLimitRatio: ptr(1.2)}, b: limited, wantErr: "ratio 1.2 is outside (0, 0.98]"},
		{name: "memlimit ratio without container", cur: Knobs{GOGC: 100, MemoryLimit: NoMemoryLimit},
			u: KnobUpdate{MemoryLimitRatio: ptr(0.5)}, b: bounds{numCPU: 4}, wantErr: "needs a container memory limit"},
		{name: "memlimit both forms", u: KnobUpdate{MemoryLimit: ptr[int64](400 * mib), MemoryLimitRatio: ptr(0.5)}, b: limited,
			wantErr: "both in bytes and as a ratio"},
		{name: "memlimit none without container", cur: Knobs{GOGC: 100, MemoryLimit: 300 * mib},
			u: KnobUpdate{MemoryLimit: ptr[int64](NoMemoryLimit)}, b: bounds{numCPU: 4}, want: Knobs{GOGC: 100, MemoryLimit: NoMemoryLimit}},
		{name: "memlimit none under container", u: KnobUpdate{MemoryLimit: ptr[int64](NoMemoryLimit)}, b: limited, wantErr: "above 0.98"},
		{name: "gomaxprocs", u: KnobUpdate{GOMAXPROCS: ptr(2)}, b: limited, want: Knobs{GOGC: 100, MemoryLimit: 460 * mib, GOMAXPROCS: 2}},
		{name: "gomaxprocs default", cur: Knobs{GOGC: 100, MemoryLimit: 460 * mib, GOMAXPROCS: 3},
			u: KnobUpdate{GOMAXPROCS: ptr(0)}, b: limited, want: Knobs{GOGC: 100, MemoryLimit: 460 * mib}},
		{name: "gomaxprocs above cpus", u: KnobUpdate{GOMAXPROCS: ptr(64)}, b: limited, wantErr: "GOMAXPROCS 64 is outside [1, 4]"},
		{name: "gomaxprocs negative", u: KnobUpdate{GOMAXPROCS: ptr(-1)}, b: limited, wantErr: "GOMAXPROCS -1 is outside [1, 4]"},
		{name: "operator gogc", u: KnobUpdate{GOGC: ptr(150)},
			b: bounds{containerMemory: 512 * mib, numCPU: 4, operator: KnobSources{GOGC: SourceOperatorEnv}}, wantErr: "GOGC set by operator"},
		{name: "operator memlimit", u: KnobUpdate{MemoryLimitRatio: ptr(0.5)},
			b: bounds{containerMemory: 512 * mib, numCPU: 4, operator: KnobSources{MemoryLimit: SourceOperatorEnv}}, wantErr: "GOMEMLIMIT set by operator"},
		{name: "all or nothing", u: KnobUpdate{GOGC: ptr(200), MemoryLimit: ptr[int64](900 * mib), GOMAXPROCS: ptr(2)}, b: limited,
			wantErr: "GOMEMLIMIT 900MiB is above"},
		{name: "every problem reported", u: KnobUpdate{GOGC: ptr(1), GOMAXPROCS: ptr(99)}, b: limited,
			wantErr: "GOGC 1 is outside [25, 2000]; GOMAXPROCS 99 is outside [1, 4]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cur
			if c == (Knobs{}) {
				c = cur
			}
			got, err := resolveUpdate(c, tt.u, tt.b)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrRejected) {
					t.Errorf("errors.Is(%v, ErrRejected) = false", err)
				}
				if got != c {
					t.Errorf("a rejected update changed the knobs: %+v → %+v", c, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("knobs = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMemoryLimitFloorSmallContainer(t *testing.T) {
	b := bounds{containerMemory: 40 << 20}
	if got := b.memoryLimitFloor(); got != 20<<20 {
		t.Errorf("floor for a 40MiB container = %d, want half of it", got)
	}
}

func TestEmergencyGOGC(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		live, limit int64
		want        int
	}{
		{live: 85 * mib, limit: 100 * mib, want: 11},
		{live: 95 * mib, limit: 100 * mib, want: minEmergencyGOGC},
		{live: 50 * mib, limit: 100 * mib, want: maxEmergencyGOGC},
		{live: 0, limit: 100 * mib, want: maxEmergencyGOGC},
	}
	for _, tt := range tests {
		if got := emergencyGOGC(tt.live, tt.limit); got != tt.want {
			t.Errorf("emergencyGOGC(%d, %d) = %d, want %d", tt.live, tt.limit, got, tt.want)
		}
	}
}

func TestKnobsString(t *testing.T) {
	k := Knobs{GOGC: GOGCOff, MemoryLimit: 230 << 20, GOMAXPROCS: 2}
	if got, want := k.String(), "GOGC=off GOMEMLIMIT=230MiB GOMAXPROCS=2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
