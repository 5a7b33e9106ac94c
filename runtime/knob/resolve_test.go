package knob

import (
	"errors"
	"strings"
	"testing"
)

const mib = 1 << 20

func ptr[T any](v T) *T { return &v }

func TestResolve(t *testing.T) {
	ceiling512 := MemoryLimitCeiling(512 << 20)
	cur := Values{GOGC: 100, MemoryLimit: 460 * mib, GOMAXPROCS: 0}
	limited := Limits{ContainerMemory: 512 * mib, LiveHeap: 100 * mib, NumCPU: 4}
	tests := []struct {
		name    string
		cur     Values
		c       Change
		l       Limits
		want    Values
		wantErr string
	}{
		{name: "gogc", c: Change{GOGC: ptr(150)}, l: limited, want: Values{GOGC: 150, MemoryLimit: 460 * mib}},
		{name: "gogc negative", c: Change{GOGC: ptr(-5)}, l: limited, wantErr: "GOGC -5 is outside [25, 2000]"},
		{name: "gogc too high", c: Change{GOGC: ptr(5000)}, l: limited, wantErr: "GOGC 5000 is outside [25, 2000]"},
		{name: "gogc off under a limit", c: Change{GOGC: ptr(GOGCOff)}, l: limited, want: Values{GOGC: GOGCOff, MemoryLimit: 460 * mib}},
		{name: "gogc off without a limit", cur: Values{GOGC: 100, MemoryLimit: NoMemoryLimit},
			c: Change{GOGC: ptr(GOGCOff)}, l: Limits{NumCPU: 4}, wantErr: "GOGC off needs a memory limit"},
		{name: "gogc off with a new limit", cur: Values{GOGC: 100, MemoryLimit: NoMemoryLimit},
			c: Change{GOGC: ptr(GOGCOff), MemoryLimit: ptr[int64](300 * mib)}, l: Limits{NumCPU: 4},
			want: Values{GOGC: GOGCOff, MemoryLimit: 300 * mib}},
		{name: "memlimit bytes", c: Change{MemoryLimit: ptr[int64](400 * mib)}, l: limited, want: Values{GOGC: 100, MemoryLimit: 400 * mib}},
		{name: "memlimit above container", c: Change{MemoryLimit: ptr[int64](600 * mib)}, l: limited,
			wantErr: "GOMEMLIMIT 600MiB is above 0.98 × the container memory limit of 512MiB"},
		{name: "memlimit at ceiling", c: Change{MemoryLimit: ptr[int64](ceiling512)}, l: limited,
			want: Values{GOGC: 100, MemoryLimit: ceiling512}},
		{name: "memlimit below live heap", c: Change{MemoryLimit: ptr[int64](90 * mib)}, l: limited,
			wantErr: "GOMEMLIMIT 90MiB is below the floor of 110MiB (live heap 100MiB)"},
		{name: "memlimit ratio", c: Change{MemoryLimitRatio: ptr(0.5)}, l: limited, want: Values{GOGC: 100, MemoryLimit: 256 * mib}},
		{name: "memlimit ratio above ceiling", c: Change{MemoryLimitRatio: ptr(1.2)}, l: limited, wantErr: "ratio 1.2 is outside (0, 0.98]"},
		{name: "memlimit ratio without container", cur: Values{GOGC: 100, MemoryLimit: NoMemoryLimit},
			c: Change{MemoryLimitRatio: ptr(0.5)}, l: Limits{NumCPU: 4}, wantErr: "needs a container memory limit"},
		{name: "memlimit both forms", c: Change{MemoryLimit: ptr[int64](400 * mib), MemoryLimitRatio: ptr(0.5)}, l: limited,
			wantErr: "both in bytes and as a ratio"},
		{name: "memlimit none without container", cur: Values{GOGC: 100, MemoryLimit: 300 * mib},
			c: Change{MemoryLimit: ptr[int64](NoMemoryLimit)}, l: Limits{NumCPU: 4}, want: Values{GOGC: 100, MemoryLimit: NoMemoryLimit}},
		{name: "memlimit none under container", c: Change{MemoryLimit: ptr[int64](NoMemoryLimit)}, l: limited, wantErr: "above 0.98"},
		{name: "gomaxprocs", c: Change{GOMAXPROCS: ptr(2)}, l: limited, want: Values{GOGC: 100, MemoryLimit: 460 * mib, GOMAXPROCS: 2}},
		{name: "gomaxprocs default", cur: Values{GOGC: 100, MemoryLimit: 460 * mib, GOMAXPROCS: 3},
			c: Change{GOMAXPROCS: ptr(0)}, l: limited, want: Values{GOGC: 100, MemoryLimit: 460 * mib}},
		{name: "gomaxprocs above cpus", c: Change{GOMAXPROCS: ptr(64)}, l: limited, wantErr: "GOMAXPROCS 64 is outside [1, 4]"},
		{name: "gomaxprocs negative", c: Change{GOMAXPROCS: ptr(-1)}, l: limited, wantErr: "GOMAXPROCS -1 is outside [1, 4]"},
		{name: "operator gogc", c: Change{GOGC: ptr(150)},
			l: Limits{ContainerMemory: 512 * mib, NumCPU: 4, Operator: Sources{GOGC: SourceOperatorEnv}}, wantErr: "GOGC set by operator"},
		{name: "operator memlimit", c: Change{MemoryLimitRatio: ptr(0.5)},
			l: Limits{ContainerMemory: 512 * mib, NumCPU: 4, Operator: Sources{MemoryLimit: SourceOperatorEnv}}, wantErr: "GOMEMLIMIT set by operator"},
		{name: "all or nothing", c: Change{GOGC: ptr(200), MemoryLimit: ptr[int64](900 * mib), GOMAXPROCS: ptr(2)}, l: limited,
			wantErr: "GOMEMLIMIT 900MiB is above"},
		{name: "every problem reported", c: Change{GOGC: ptr(1), GOMAXPROCS: ptr(99)}, l: limited,
			wantErr: "GOGC 1 is outside [25, 2000]; GOMAXPROCS 99 is outside [1, 4]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cur
			if c == (Values{}) {
				c = cur
			}
			got, err := Resolve(c, tt.c, tt.l)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrRejected) {
					t.Errorf("errors.Is(%v, ErrRejected) = false", err)
				}
				if got != c {
					t.Errorf("a rejected change changed the knobs: %+v → %+v", c, got)
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
	b := Limits{ContainerMemory: 40 << 20}
	if got := b.MemoryLimitFloor(); got != 20<<20 {
		t.Errorf("floor for a 40MiB container = %d, want half of it", got)
	}
}

func TestKnobsString(t *testing.T) {
	k := Values{GOGC: GOGCOff, MemoryLimit: 230 << 20, GOMAXPROCS: 2}
	if got, want := k.String(), "GOGC=off GOMEMLIMIT=230MiB GOMAXPROCS=2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
