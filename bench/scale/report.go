package scale

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one run: both sides' figures and the targets of the issue.
type Report struct {
	Started           time.Time `json:"started"`
	Instances         int       `json:"instances"`
	HeartbeatSeconds  float64   `json:"heartbeat_seconds"`
	IdleSeconds       float64   `json:"idle_seconds"`
	Pushes            int       `json:"pushes"`
	Rounds            int       `json:"rounds"`
	ClientBufferBytes int       `json:"client_buffer_bytes"`
	// Interleaved: etcd's watchers and MCP's sessions were up at once and the pushes
	// alternated between them; otherwise the sides took turns for Rounds rounds.
	Interleaved bool   `json:"interleaved"`
	CPUs        int    `json:"cpus"`
	GoVersion   string `json:"go_version"`
	EtcdVersion string `json:"etcd_version,omitempty"`
	// ServeEnv is the extra environment `mcp serve` ran with.
	ServeEnv []string `json:"serve_env,omitempty"`
	// FileLimit is the open-file limit the benchmark process and its children ran with.
	FileLimit uint64 `json:"file_limit"`
	MCP       Side   `json:"mcp"`
	Etcd      *Side  `json:"etcd,omitempty"`
	// ClientRSSBytes is the benchmark process's own peak resident set: every simulated
	// client of both sides.
	ClientRSSBytes uint64   `json:"client_rss_bytes"`
	Targets        []Target `json:"targets"`
}

// Side is one fan-out system under test: `mcp serve` with its agent sessions, or etcd with
// its watchers. CPU is in cores (1 = one core busy all the time) and measured for the
// server process alone.
type Side struct {
	Name string `json:"name"`
	// Connections is how many receivers were up when the pushes began.
	Connections         int     `json:"connections"`
	ConnectSeconds      float64 `json:"connect_seconds"`
	ConnectCPUCores     float64 `json:"connect_cpu_cores"`
	ConnectPeakCPUCores float64 `json:"connect_peak_cpu_cores"`
	IdleCPUCores        float64 `json:"idle_cpu_cores"`
	// IdleMachineCores is the whole machine's busy CPU over the idle window: this
	// benchmark's processes and anything else running on the machine.
	IdleMachineCores float64 `json:"idle_machine_cores"`
	// ConnectPeakRSSBytes is the resident set's high-water mark (VmHWM) once every
	// receiver is connected; RSSBytes the resident set after the idle window;
	// PeakRSSBytes the high-water mark at the end of the run, pushes included.
	ConnectPeakRSSBytes uint64 `json:"connect_peak_rss_bytes"`
	RSSBytes            uint64 `json:"rss_bytes"`
	PeakRSSBytes        uint64 `json:"peak_rss_bytes"`
	// Reconnects counts sessions opened beyond one per instance (MCP only).
	Reconnects int `json:"reconnects"`
	// Goroutines, HeapInuseBytes and StackInuseBytes are the Go runtime's own view of the
	// server after the idle window (MCP only, from its /metrics): where the RSS goes.
	Goroutines      int    `json:"goroutines,omitempty"`
	HeapInuseBytes  uint64 `json:"heap_inuse_bytes,omitempty"`
	StackInuseBytes uint64 `json:"stack_inuse_bytes,omitempty"`
	Pushes          []Push `json:"pushes"`
	// P50Seconds, P99Seconds and MaxSeconds are the medians over the pushes (of every
	// round).
	P50Seconds       float64 `json:"p50_seconds"`
	P99Seconds       float64 `json:"p99_seconds"`
	MaxSeconds       float64 `json:"max_seconds"`
	PushPeakCPUCores float64 `json:"push_peak_cpu_cores"`
}

// Push is one value fanned out to every receiver. Latency is a receiver's arrival time
// minus the time the write (POST /api/v1/decisions, or etcd Put) was sent; both clocks are
// this machine's.
type Push struct {
	// Key is the decision id (MCP) or the value put (etcd).
	Key        string  `json:"key"`
	Received   int     `json:"received"`
	Missing    int     `json:"missing"`
	P50Seconds float64 `json:"p50_seconds"`
	P99Seconds float64 `json:"p99_seconds"`
	MaxSeconds float64 `json:"max_seconds"`
	// FirstSeconds is the first receiver's delay: what the write cost before the fan-out
	// began.
	FirstSeconds float64 `json:"first_seconds"`
	// DurableSeconds is the server's own time to make the write durable: MCP's
	// create_decision store operation (bbolt, fsync), or etcd's WAL fsyncs during the put,
	// from their /metrics.
	DurableSeconds float64 `json:"durable_seconds"`
	// ReturnedSeconds is when the write returned: for MCP, the decision is stored and every
	// session has been handed the update.
	ReturnedSeconds float64 `json:"returned_seconds"`
	// CPUSeconds is the server's CPU from the write until every receiver had it and, for
	// MCP, every acknowledgement was settled.
	CPUSeconds   float64 `json:"cpu_seconds"`
	PeakCPUCores float64 `json:"peak_cpu_cores"`
	// ClientCPUSeconds is this process's CPU over the same window: every simulated
	// receiver of both sides. Server and clients share the machine's cores.
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	// MachineCores is the whole machine's busy CPU over the window, in cores: when it is
	// near the machine's CPU count while server and clients use less, something else was
	// running.
	MachineCores float64 `json:"machine_cores"`
	// Acked, AckP50Seconds and AckP99Seconds are MCP's own view: the decision's applied
	// count, and mcp_knob_push_latency_seconds (push to ack) over this push.
	Acked         int     `json:"acked,omitempty"`
	AckP50Seconds float64 `json:"ack_p50_seconds,omitempty"`
	AckP99Seconds float64 `json:"ack_p99_seconds,omitempty"`
}

// Target is one of the goals and whether this run met it.
type Target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"`
	Met   bool    `json:"met"`
}

// summarize fills a side's medians from its pushes.
func (s *Side) summarize() {
	var p50, p99, mx, peak []float64
	for _, p := range s.Pushes {
		p50, p99, mx = append(p50, p.P50Seconds), append(p99, p.P99Seconds), append(mx, p.MaxSeconds)
		peak = append(peak, p.PeakCPUCores)
	}
	s.P50Seconds, s.P99Seconds, s.MaxSeconds = median(p50), median(p99), median(mx)
	s.PushPeakCPUCores = 0
	for _, c := range peak {
		s.PushPeakCPUCores = max(s.PushPeakCPUCores, c)
	}
}

// The targets.
const (
	targetP99Ratio  = 2.0
	targetBusyCores = 1.0
	targetIdleCores = 0.05
	targetRSSBytes  = 512 << 20
)

// judge sets r.Targets from the sides' figures.
func (r *Report) judge() {
	r.Targets = nil
	if r.Etcd != nil && r.Etcd.P99Seconds > 0 {
		ratio := r.MCP.P99Seconds / r.Etcd.P99Seconds
		r.Targets = append(r.Targets, Target{Name: "fan-out p99, MCP / etcd", Value: ratio, Limit: targetP99Ratio, Unit: "×", Met: ratio <= targetP99Ratio})
	}
	busy := max(r.MCP.ConnectPeakCPUCores, r.MCP.PushPeakCPUCores)
	r.Targets = append(r.Targets,
		Target{Name: "MCP CPU, busiest second connecting or pushing", Value: busy, Limit: targetBusyCores, Unit: "cores", Met: busy <= targetBusyCores},
		Target{Name: "MCP idle CPU, heartbeats only", Value: r.MCP.IdleCPUCores, Limit: targetIdleCores, Unit: "cores", Met: r.MCP.IdleCPUCores < targetIdleCores},
		Target{Name: "MCP peak RSS", Value: float64(r.MCP.PeakRSSBytes), Limit: targetRSSBytes, Unit: "bytes", Met: r.MCP.PeakRSSBytes <= targetRSSBytes},
	)
}

// WriteTable writes the report as the table `mcp bench scale` prints.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	mode := fmt.Sprintf("etcd and MCP one after the other, %d rounds (order alternating)", r.Rounds)
	if r.Interleaved {
		mode = "etcd and MCP up together, pushes alternating"
	}
	fmt.Fprintf(&b, "mcp bench scale: %d instances, heartbeat %v, idle window %v, pushes %d; %s\n",
		r.Instances, seconds(r.HeartbeatSeconds), seconds(r.IdleSeconds), r.Pushes, mode)
	fmt.Fprintf(&b, "%d CPUs, %s, simulated clients' gRPC buffers %d KiB (read and write, shared write buffer), open-file limit %d\n\n",
		r.CPUs, r.GoVersion, r.ClientBufferBytes>>10, r.FileLimit)
	if len(r.ServeEnv) > 0 {
		fmt.Fprintf(&b, "mcp serve environment: %s\n", strings.Join(r.ServeEnv, " "))
	}

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	etcdName := "etcd (not run)"
	if r.Etcd != nil {
		etcdName = r.Etcd.Name
	}
	fmt.Fprintf(tw, "\t%s\t%s\n", r.MCP.Name, etcdName)
	row := func(label string, f func(*Side) string) {
		e := "-"
		if r.Etcd != nil {
			e = f(r.Etcd)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", label, f(&r.MCP), e)
	}
	row("receivers connected", func(s *Side) string { return fmt.Sprint(s.Connections) })
	row("connect time", func(s *Side) string { return fmt.Sprintf("%.1f s", s.ConnectSeconds) })
	row("CPU connecting, mean / busiest s", func(s *Side) string {
		return fmt.Sprintf("%.2f / %.2f cores", s.ConnectCPUCores, s.ConnectPeakCPUCores)
	})
	row("idle CPU (heartbeats only for MCP)", func(s *Side) string { return fmt.Sprintf("%.2f%% of a core", 100*s.IdleCPUCores) })
	row("machine busy meanwhile (all processes)", func(s *Side) string { return fmt.Sprintf("%.2f of %d cores", s.IdleMachineCores, r.CPUs) })
	row("RSS peak connecting / idle / peak", func(s *Side) string {
		return fmt.Sprintf("%s / %s / %s", mib(s.ConnectPeakRSSBytes), mib(s.RSSBytes), mib(s.PeakRSSBytes))
	})
	row("reconnects", func(s *Side) string { return fmt.Sprint(s.Reconnects) })
	if r.MCP.Goroutines > 0 {
		fmt.Fprintf(tw, "Go heap in use / stacks / goroutines\t%s / %s / %d\t-\n",
			mib(r.MCP.HeapInuseBytes), mib(r.MCP.StackInuseBytes), r.MCP.Goroutines)
	}
	pushes := len(r.MCP.Pushes)
	if r.Etcd != nil {
		pushes = max(pushes, len(r.Etcd.Pushes))
	}
	for i := range pushes {
		push := func(s *Side) (Push, bool) {
			if i >= len(s.Pushes) {
				return Push{}, false
			}
			return s.Pushes[i], true
		}
		row(fmt.Sprintf("push %d: p50 / p99 / max", i+1), func(s *Side) string {
			p, ok := push(s)
			if !ok {
				return "-"
			}
			txt := fmt.Sprintf("%s / %s / %s", ms(p.P50Seconds), ms(p.P99Seconds), ms(p.MaxSeconds))
			if p.Missing > 0 {
				txt += fmt.Sprintf(" (%d missing)", p.Missing)
			}
			return txt
		})
		row(fmt.Sprintf("push %d: first / durable / write returned", i+1), func(s *Side) string {
			p, ok := push(s)
			if !ok {
				return "-"
			}
			return fmt.Sprintf("%s / %s / %s", ms(p.FirstSeconds), ms(p.DurableSeconds), ms(p.ReturnedSeconds))
		})
		row(fmt.Sprintf("push %d: server CPU; busiest s; clients; machine", i+1), func(s *Side) string {
			p, ok := push(s)
			if !ok {
				return "-"
			}
			return fmt.Sprintf("%.2f cpu-s; %.2f cores; clients %.2f cpu-s; machine %.2f cores", p.CPUSeconds, p.PeakCPUCores, p.ClientCPUSeconds, p.MachineCores)
		})
		if p, ok := push(&r.MCP); ok {
			fmt.Fprintf(tw, "push %d: push→ack p50 / p99 (server metric)\t%s / %s, %d acked\t-\n",
				i+1, ms(p.AckP50Seconds), ms(p.AckP99Seconds), p.Acked)
		}
	}
	row("median p50 / p99 / max", func(s *Side) string {
		return fmt.Sprintf("%s / %s / %s", ms(s.P50Seconds), ms(s.P99Seconds), ms(s.MaxSeconds))
	})
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nsimulated clients (this process): peak RSS %s\n\ntargets:\n", mib(r.ClientRSSBytes))
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		verdict := "met"
		if !t.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\tlimit %s\t%s\n", t.Name, t.format(t.Value), t.format(t.Limit), verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (t Target) format(v float64) string {
	switch t.Unit {
	case "bytes":
		return mib(uint64(v))
	case "cores":
		return fmt.Sprintf("%.3f cores", v)
	case "×":
		return fmt.Sprintf("%.2f×", v)
	}
	return fmt.Sprintf("%g %s", v, t.Unit)
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ms(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", s*1000)
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write the report as JSON: %w", err)
	}
	return nil
}
