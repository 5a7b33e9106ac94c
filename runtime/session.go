package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	"github.com/mcplane/mcp/internal/version"
)

// session is the agent's side of the control plane protocol: register, heartbeat, apply
// and acknowledge knob updates, report events, and reconnect with jittered backoff when the
// stream breaks. The knobs never change because the control plane went away.
type session struct {
	a         *Agent
	connected atomic.Bool
	events    chan Event
	done      chan struct{}
	seq       uint64
}

const (
	defaultHeartbeat = 10 * time.Second
	minBackoff       = 500 * time.Millisecond
	maxBackoff       = 30 * time.Second
	registerTimeout  = 10 * time.Second
)

func newSession(a *Agent) *session {
	s := &session{a: a, events: make(chan Event, 64), done: make(chan struct{})}
	a.Subscribe(func(e Event) {
		// Never block the finalizer goroutine: drop the event if the buffer is full.
		select {
		case s.events <- e:
		default:
		}
	})
	return s
}

func (s *session) wait() { <-s.done }

// run keeps a session up until ctx ends.
func (s *session) run(ctx context.Context) {
	defer close(s.done)
	log := s.a.log.With(zap.String("endpoint", s.a.cfg.endpoint))
	creds, err := s.a.cfg.transportCredentials()
	if err != nil {
		log.Error("control plane session disabled", zap.Error(err))
		return
	}
	conn, err := grpc.NewClient(s.a.cfg.endpoint,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	)
	if err != nil {
		log.Error("control plane session disabled", zap.Error(err))
		return
	}
	defer conn.Close()
	client := agentv1.NewAgentServiceClient(conn)
	backoff := minBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := s.once(ctx, client)
		s.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > maxBackoff {
			backoff = minBackoff // the session was healthy for a while: retry quickly
		}
		if status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.PermissionDenied {
			log.Error("control plane refused the agent's token; check MCP_TOKEN", zap.Error(err))
			backoff = maxBackoff
		} else {
			log.Info("control plane session ended; reconnecting", zap.Error(err), zap.Duration("backoff", backoff))
		}
		// Full jitter, so a restarted control plane is not hit by every agent at once.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// once runs one session until the stream breaks or ctx ends.
func (s *session) once(ctx context.Context, client agentv1.AgentServiceClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if tok := s.a.cfg.token; tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	stream, err := client.Session(ctx)
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	if err := stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Register{Register: s.register()}}); err != nil {
		return fmt.Errorf("register: %w", recvErr(stream, err))
	}
	regTimer := time.AfterFunc(registerTimeout, cancel)
	first, err := stream.Recv()
	regTimer.Stop()
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	reg := first.GetRegistered()
	if reg == nil {
		return errors.New("register: the control plane answered without Registered")
	}
	interval := time.Duration(reg.GetHeartbeatIntervalMs()) * time.Millisecond
	if interval <= 0 {
		interval = defaultHeartbeat
	}
	s.connected.Store(true)
	s.a.log.Info("control plane session up", zap.String("session", reg.GetSessionId()), zap.Duration("heartbeat", interval))

	// One goroutine sends, so that acks, heartbeats and events never interleave on the stream.
	out := make(chan *agentv1.AgentMessage, 16)
	recvDone := make(chan error, 1)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				recvDone <- err
				return
			}
			if u := msg.GetKnobs(); u != nil {
				ack := s.apply(u)
				select {
				case out <- &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Ack{Ack: ack}}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	hb := time.NewTicker(interval)
	defer hb.Stop()
	for {
		var msg *agentv1.AgentMessage
		select {
		case <-ctx.Done():
			_ = stream.CloseSend()
			return ctx.Err()
		case err := <-recvDone:
			if errors.Is(err, io.EOF) {
				return errors.New("the control plane closed the session")
			}
			return err
		case m := <-out:
			msg = m
		case e := <-s.events:
			msg = &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Event{Event: &agentv1.AgentEvent{
				Kind: e.Kind, Message: e.Message, TimeUnixNano: e.Time.UnixNano(),
				LiveHeapBytes: e.LiveHeap, LimitBytes: e.Limit, Gogc: int32(e.GOGC),
			}}}
		case <-hb.C:
			msg = &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Heartbeat{Heartbeat: s.heartbeat()}}
		}
		if err := stream.Send(msg); err != nil {
			return recvErr(stream, err)
		}
	}
}

// recvErr turns io.EOF from Send into the stream's real status, as grpc-go documents.
func recvErr(stream agentv1.AgentService_SessionClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.Recv(); rerr != nil {
			return rerr
		}
	}
	return err
}

// apply applies one knob update and builds its acknowledgement.
func (s *session) apply(u *agentv1.KnobUpdate) *agentv1.KnobAck {
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

func (s *session) register() *agentv1.Register {
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

func (s *session) heartbeat() *agentv1.Heartbeat {
	s.seq++
	st := s.a.State()
	hb := &agentv1.Heartbeat{Seq: s.seq, Runtime: runtimeProto(s.a.Runtime()), Knobs: knobStateProto(st), Limits: limitsProto(st)}
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
