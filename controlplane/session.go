package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	agentv1 "github.com/mcplane/mcp/api/agent/v1"
	apiv1 "github.com/mcplane/mcp/api/v1"
)

// conn is one agent's session. send may be called from any goroutine.
type conn struct {
	instance string
	service  string
	stream   agentv1.AgentService_SessionServer
	cancel   context.CancelFunc

	sendMu sync.Mutex

	mu     sync.Mutex
	pushed map[string]time.Time // decision → when it was pushed, until acknowledged
}

func (c *conn) send(m *agentv1.ControlMessage) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(m)
}

func (c *conn) pushedAt(decision string, at time.Time) {
	c.mu.Lock()
	c.pushed[decision] = at
	c.mu.Unlock()
}

func (c *conn) acked(decision string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.pushed[decision]
	delete(c.pushed, decision)
	return at, ok
}

// GRPCServerOptions are the options the agent API server needs: keepalive settings that
// let agents ping every 30 s, and the bearer-token check.
func (c *Core) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 20 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.StreamInterceptor(c.authStream),
		grpc.UnaryInterceptor(c.authUnary),
	}
}

// Register adds the agent service to a gRPC server.
func (c *Core) Register(s *grpc.Server) { agentv1.RegisterAgentServiceServer(s, &agentService{c: c}) }

func (c *Core) authorized(ctx context.Context) error {
	if c.cfg.Token == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(agentv1.AuthorizationHeader)
	if len(vals) == 0 {
		c.m.authFailures.Inc()
		return status.Error(codes.Unauthenticated, "no bearer token: set MCP_TOKEN on the agent to the control plane's token")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(c.cfg.Token)) != 1 {
		c.m.authFailures.Inc()
		return status.Error(codes.Unauthenticated, "wrong bearer token: MCP_TOKEN on the agent does not match the control plane's token")
	}
	return nil
}

func (c *Core) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := c.authorized(ss.Context()); err != nil {
		c.m.sessions.WithLabelValues("refused").Inc()
		return err
	}
	return handler(srv, ss)
}

func (c *Core) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.authorized(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// agentService implements the gRPC service on the core.
type agentService struct {
	agentv1.UnimplementedAgentServiceServer
	c *Core
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$`)

// validateRegister checks a Register message; errors name the field.
func validateRegister(r *agentv1.Register) error {
	var problems []string
	if v := r.GetProtocolVersion(); v != agentv1.ProtocolVersion_PROTOCOL_VERSION_1 {
		return status.Errorf(codes.FailedPrecondition,
			"register.protocol_version: %d is not spoken here; this control plane speaks version 1 (upgrade the agent or the control plane)", int32(v))
	}
	if !nameRE.MatchString(r.GetService()) {
		problems = append(problems, fmt.Sprintf("register.service: %q must be 1-253 letters, digits, '.', '_', ':', '/' or '-'", r.GetService()))
	}
	if !nameRE.MatchString(r.GetInstanceId()) {
		problems = append(problems, fmt.Sprintf("register.instance_id: %q must be 1-253 letters, digits, '.', '_', ':', '/' or '-'", r.GetInstanceId()))
	}
	if l := r.GetLimits(); l != nil && (l.GetMemoryBytes() < 0 || l.GetCpuCores() < 0) {
		problems = append(problems, "register.limits: negative limit")
	}
	if len(problems) > 0 {
		return status.Error(codes.InvalidArgument, strings.Join(problems, "; "))
	}
	return nil
}

// Session runs one agent's session: register, then heartbeats, acks and events until the
// stream ends. Knob pushes arrive on the stream from other goroutines through conn.send.
func (s *agentService) Session(stream agentv1.AgentService_SessionServer) error {
	c := s.c
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	first, err := recvWithTimeout(ctx, stream, 10*time.Second)
	if err != nil {
		c.m.sessions.WithLabelValues("refused").Inc()
		return err
	}
	reg := first.GetRegister()
	if reg == nil {
		c.m.invalid.Inc()
		c.m.sessions.WithLabelValues("refused").Inc()
		return status.Error(codes.InvalidArgument, "the first message of a session must be a register")
	}
	if err := validateRegister(reg); err != nil {
		c.m.invalid.Inc()
		c.m.sessions.WithLabelValues("refused").Inc()
		c.log.Warn("agent registration refused", zap.String("service", reg.GetService()),
			zap.String("instance", reg.GetInstanceId()), zap.Error(err))
		return err
	}
	now := c.clock.Now()
	cn := &conn{instance: reg.GetInstanceId(), service: reg.GetService(), stream: stream, cancel: cancel,
		pushed: map[string]time.Time{}}
	inst := instanceFromRegister(reg, c.cfg.Replica, now)
	if old := c.reg.register(inst, cn); old != nil {
		old.cancel() // the agent reconnected before its old session broke
	}
	defer c.reg.disconnected(cn.instance, cn)
	c.confirmRecovered(cn.instance, inst.DecisionID)
	c.m.sessions.WithLabelValues("registered").Inc()
	// Fields, not log.With: a derived logger per session costs a buffer each, and there are
	// thousands of sessions.
	who := []zap.Field{zap.String("service", cn.service), zap.String("instance", cn.instance)}
	with := func(fs ...zap.Field) []zap.Field {
		return append(append(make([]zap.Field, 0, len(who)+len(fs)), who...), fs...)
	}
	c.log.Info("agent registered", with(zap.String("go_version", reg.GetGoVersion()),
		zap.Int64("memory_limit_bytes", inst.Limits.MemoryBytes), zap.Float64("cpu_limit_cores", inst.Limits.CPUCores),
		zap.Int("gogc", inst.Knobs.GOGC), zap.String("gogc_source", string(inst.Sources.GOGC)))...)

	var sid [8]byte
	_, _ = rand.Read(sid[:])
	if err := cn.send(registeredProto(hex.EncodeToString(sid[:]), c.cfg.HeartbeatInterval)); err != nil {
		return err
	}
	// An instance that connects after a decision gets the knob change in force at once.
	if k, id := c.DesiredFor(cn.service, cn.instance); !k.IsEmpty() && id != inst.DecisionID {
		cn.pushedAt(id, now)
		if err := cn.send(knobUpdateProto(id, k)); err != nil {
			return err
		}
		c.log.Info("knob change in force pushed on registration", with(zap.String("decision", id), zap.Stringer("knobs", k))...)
	}

	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				c.log.Info("agent session ended", who...)
				return nil
			}
			c.log.Info("agent session broke", with(zap.Error(err))...)
			return err
		}
		switch m := msg.GetMsg().(type) {
		case *agentv1.AgentMessage_Heartbeat:
			c.m.messages.WithLabelValues("heartbeat").Inc()
			hb := m.Heartbeat
			c.reg.heartbeat(cn.instance, cn, c.clock.Now(), func(i *apiv1.Instance) {
				applyHeartbeat(i, hb)
			})
		case *agentv1.AgentMessage_Ack:
			c.m.messages.WithLabelValues("ack").Inc()
			c.handleAck(cn, m.Ack)
		case *agentv1.AgentMessage_Event:
			c.m.messages.WithLabelValues("event").Inc()
			ev := m.Event
			c.log.Warn("agent event", with(zap.String("kind", ev.GetKind()), zap.String("message", ev.GetMessage()))...)
			c.reg.addEvent(cn.instance, eventFromProto(ev))
		case *agentv1.AgentMessage_Register:
			c.m.invalid.Inc()
			return status.Error(codes.InvalidArgument, "register sent twice in one session")
		default:
			c.m.invalid.Inc()
			return status.Error(codes.InvalidArgument, "empty or unknown agent message")
		}
	}
}

func (c *Core) handleAck(cn *conn, a *agentv1.KnobAck) {
	now := c.clock.Now()
	pushedAt, ok := cn.acked(a.GetDecisionId())
	ack := ackFromProto(a, cn.instance, now)
	if ok {
		ack.LatencySeconds = now.Sub(pushedAt).Seconds()
		c.m.pushLatency.Observe(ack.LatencySeconds)
	}
	if ack.Applied {
		c.m.pushes.WithLabelValues("applied").Inc()
	} else {
		c.m.pushes.WithLabelValues("rejected").Inc()
		c.log.Info("agent rejected knob update", zap.String("decision", ack.DecisionID),
			zap.String("instance", cn.instance), zap.String("reason", ack.Reason))
	}
	c.reg.heartbeat(cn.instance, cn, now, func(i *apiv1.Instance) { applyKnobState(i, a.GetKnobs()) })
	select {
	case c.ackQ <- ack:
	default:
		c.log.Warn("ack queue full; acknowledgement not recorded", zap.String("decision", ack.DecisionID), zap.String("instance", cn.instance))
	}
}

func recvWithTimeout(ctx context.Context, stream agentv1.AgentService_SessionServer, d time.Duration) (*agentv1.AgentMessage, error) {
	type result struct {
		m   *agentv1.AgentMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := stream.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(d):
		return nil, status.Errorf(codes.DeadlineExceeded, "no register within %v of opening the session", d)
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}
