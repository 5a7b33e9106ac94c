package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	"github.com/mcplane/mcp/internal/agentclient"
	"github.com/mcplane/mcp/internal/version"
)

// session connects the agent to the control plane through the shared agent client: it is
// the agentclient.Agent for this process.
type session struct {
	a      *Agent
	client *agentclient.Client
}

func newSession(a *Agent) (*session, error) {
	creds, err := a.cfg.transportCredentials()
	if err != nil {
		return nil, err
	}
	s := &session{a: a}
	s.client = agentclient.New(agentclient.Config{
		Endpoint: a.cfg.endpoint, Token: a.cfg.token, Credentials: creds, Logger: a.log,
	}, s)
	a.Subscribe(func(e Event) {
		s.client.Event(&agentv1.AgentEvent{
			Kind: e.Kind, Message: e.Message, TimeUnixNano: e.Time.UnixNano(),
			LiveHeapBytes: e.LiveHeap, LimitBytes: e.Limit, Gogc: int32(e.GOGC),
		})
	})
	return s, nil
}

func (s *session) run(ctx context.Context) { s.client.Run(ctx) }
func (s *session) wait()                   { <-s.client.Done() }
func (s *session) connected() bool         { return s.client.Connected() }

// Apply applies one knob update and builds its acknowledgement.
func (s *session) Apply(u *agentv1.KnobUpdate) *agentv1.KnobAck {
	var st State
	var err error
	if u.GetReset_() {
		st = s.a.Reset()
	} else {
		ku := KnobUpdate{Source: SourceControlPlane, DecisionID: u.GetDecisionId()}
		if u.Gogc != nil {
			v := int(u.GetGogc())
			ku.GOGC = &v
		}
		if u.MemoryLimitBytes != nil {
			v := u.GetMemoryLimitBytes()
			ku.MemoryLimit = &v
		}
		if u.MemoryLimitRatio != nil {
			v := u.GetMemoryLimitRatio()
			ku.MemoryLimitRatio = &v
		}
		if u.Gomaxprocs != nil {
			v := int(u.GetGomaxprocs())
			ku.GOMAXPROCS = &v
		}
		st, err = s.a.SetKnobs(ku)
	}
	ack := &agentv1.KnobAck{DecisionId: u.GetDecisionId(), Applied: err == nil, Knobs: knobStateProto(st)}
	if err != nil {
		var rej *RejectedError
		if errors.As(err, &rej) {
			ack.Reason = rej.Reason
		} else {
			ack.Reason = err.Error()
		}
	}
	return ack
}

// Register describes this process.
func (s *session) Register() *agentv1.Register {
	st := s.a.State()
	host, _ := os.Hostname()
	c := &s.a.cfg
	return &agentv1.Register{
		ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1,
		Service:         st.Service,
		InstanceId:      st.Instance,
		Pod:             c.env("POD_NAME"),
		Namespace:       c.env("POD_NAMESPACE"),
		Node:            c.env("NODE_NAME"),
		Hostname:        host,
		Pid:             int32(os.Getpid()),
		GoVersion:       st.GoVersion,
		AgentVersion:    version.Get().Version,
		Limits:          limitsProto(st),
		Knobs:           knobStateProto(st),
		Runtime:         runtimeProto(s.a.Runtime()),
		Labels:          parseResourceAttributes(c.env("MCP_LABELS")),
	}
}

// Heartbeat reports the process's runtime, knobs, limits and usage.
func (s *session) Heartbeat(seq uint64) *agentv1.Heartbeat {
	st := s.a.State()
	hb := &agentv1.Heartbeat{Seq: seq, Runtime: runtimeProto(s.a.Runtime()), Knobs: knobStateProto(st), Limits: limitsProto(st)}
	if u, err := s.a.usage(); err == nil {
		hb.Usage = &agentv1.ContainerUsage{
			MemoryBytes: u.MemoryBytes, CpuSeconds: u.CPUSeconds, CpuPeriods: u.CPUPeriods,
			CpuThrottledPeriods: u.CPUThrottledPeriods, CpuThrottledSeconds: u.CPUThrottledSeconds, OomKills: u.OOMKills,
		}
	}
	return hb
}

func knobStateProto(st State) *agentv1.KnobState {
	return &agentv1.KnobState{
		Values:     &agentv1.Knobs{Gogc: int32(st.Knobs.GOGC), MemoryLimitBytes: st.Knobs.MemoryLimit, Gomaxprocs: int32(st.Knobs.GOMAXPROCS)},
		Sources:    &agentv1.KnobSources{Gogc: string(st.Sources.GOGC), MemoryLimit: string(st.Sources.MemoryLimit), Gomaxprocs: string(st.Sources.GOMAXPROCS)},
		DecisionId: st.DecisionID,
		Guard:      &agentv1.GuardState{Active: st.Guard.Active, Gogc: int32(st.Guard.GOGC), Activations: st.Guard.Activations},
	}
}

func limitsProto(st State) *agentv1.ContainerLimits {
	return &agentv1.ContainerLimits{MemoryBytes: st.Limits.MemoryBytes, CpuCores: st.Limits.CPUCores, Error: st.LimitError}
}

func runtimeProto(r RuntimeSummary) *agentv1.RuntimeSummary {
	return &agentv1.RuntimeSummary{
		LiveHeapBytes: r.LiveHeapBytes, HeapGoalBytes: r.HeapGoalBytes, HeapAllocBytes: r.HeapAllocBytes,
		TotalMemoryBytes: r.TotalMemory, GcCycles: r.GCCycles, GcCpuSeconds: r.GCCPUSeconds,
		TotalCpuSeconds: r.TotalCPUSeconds, Goroutines: r.Goroutines,
	}
}

// transportCredentials builds the session's TLS from WithTLS or MCP_TLS_CA / MCP_TLS_CERT /
// MCP_TLS_KEY (PEM files; CERT and KEY for mTLS); plaintext when none is set.
func (c *config) transportCredentials() (credentials.TransportCredentials, error) {
	if c.tls != nil {
		return credentials.NewTLS(c.tls), nil
	}
	ca, cert, key := c.env("MCP_TLS_CA"), c.env("MCP_TLS_CERT"), c.env("MCP_TLS_KEY")
	if ca == "" && cert == "" && key == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("MCP_TLS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("MCP_TLS_CA=%s: no PEM certificate in the file", ca)
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("MCP_TLS_CERT and MCP_TLS_KEY go together: set both for mTLS, or neither")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("MCP_TLS_CERT/MCP_TLS_KEY: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}
