// Package agentclient is the agent's side of the MCP agent protocol: it keeps one session
// with the control plane up — register, heartbeat, apply and acknowledge knob updates,
// report events — and reconnects with jittered backoff when the stream breaks. The runtime
// agent uses it for the process it runs in; the control plane benchmark uses the same code
// for thousands of simulated instances.
package agentclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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
)

// Agent is what the session reports and changes: the process (or a simulation of one).
type Agent interface {
	// Register describes the instance for the first message of a session.
	Register() *agentv1.Register
	// Heartbeat builds the seq-th heartbeat.
	Heartbeat(seq uint64) *agentv1.Heartbeat
	// Apply applies a knob update (all of it or none) and says what happened.
	Apply(*agentv1.KnobUpdate) *agentv1.KnobAck
}

// Config configures a Client.
type Config struct {
	// Endpoint is the control plane's agent API, host:port.
	Endpoint string
	// Token is sent as "authorization: Bearer <token>".
	Token string
	// Credentials secure the connection. Default: plaintext.
	Credentials credentials.TransportCredentials
	// Logger receives the session's own log lines. Default: none.
	Logger *zap.Logger
	// DialOptions are added to the gRPC client's (buffer sizes for simulations, say).
	DialOptions []grpc.DialOption
	// HeartbeatInterval is used until the control plane says otherwise. Default: 10s.
	HeartbeatInterval time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay. Default: 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
}

// Client runs one session loop.
type Client struct {
	cfg       Config
	agent     Agent
	log       *zap.Logger
	events    chan *agentv1.AgentEvent
	connected atomic.Bool
	sessions  atomic.Uint64
	done      chan struct{}
}

const registerTimeout = 10 * time.Second

// New creates a client; Run starts it.
func New(cfg Config, agent Agent) *Client {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Credentials == nil {
		cfg.Credentials = insecure.NewCredentials()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	return &Client{cfg: cfg, agent: agent, log: cfg.Logger.With(zap.String("endpoint", cfg.Endpoint)),
		events: make(chan *agentv1.AgentEvent, 64), done: make(chan struct{})}
}

// Connected reports whether a session is up.
func (c *Client) Connected() bool { return c.connected.Load() }

// Sessions counts the sessions registered so far.
func (c *Client) Sessions() uint64 { return c.sessions.Load() }

// Event queues an event for the control plane. It never blocks: when the queue is full
// (the control plane is away) the event is dropped.
func (c *Client) Event(e *agentv1.AgentEvent) {
	select {
	case c.events <- e:
	default:
	}
}

// Done is closed when Run has returned.
func (c *Client) Done() <-chan struct{} { return c.done }

// Run keeps a session up until ctx ends. Losing the control plane never changes the
// agent: it keeps its knobs and retries.
func (c *Client) Run(ctx context.Context) {
	defer close(c.done)
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(c.cfg.Credentials),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}, c.cfg.DialOptions...)
	conn, err := grpc.NewClient(c.cfg.Endpoint, opts...)
	if err != nil {
		c.log.Error("control plane session disabled", zap.Error(err))
		return
	}
	defer conn.Close()
	client := agentv1.NewAgentServiceClient(conn)
	backoff := c.cfg.MinBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := c.once(ctx, client)
		c.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > c.cfg.MaxBackoff {
			backoff = c.cfg.MinBackoff // the session was healthy for a while: retry quickly
		}
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied:
			c.log.Error("control plane refused the agent's token; check MCP_TOKEN", zap.Error(err))
			backoff = c.cfg.MaxBackoff
		case codes.InvalidArgument, codes.FailedPrecondition:
			c.log.Error("control plane refused the session", zap.Error(err))
			backoff = c.cfg.MaxBackoff
		default:
			c.log.Info("control plane session ended; reconnecting", zap.Error(err), zap.Duration("backoff", backoff))
		}
		// Jitter, so a restarted control plane is not hit by every agent at once.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

// once runs one session until the stream breaks or ctx ends.
func (c *Client) once(ctx context.Context, client agentv1.AgentServiceClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.cfg.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.cfg.Token)
	}
	stream, err := client.Session(ctx)
	if err != nil {
		return fmt.Errorf("open session: %w", err)
	}
	if err := stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Register{Register: c.agent.Register()}}); err != nil {
		return fmt.Errorf("register: %w", streamErr(stream, err))
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
		interval = c.cfg.HeartbeatInterval
	}
	c.connected.Store(true)
	c.sessions.Add(1)
	c.log.Info("control plane session up", zap.String("session", reg.GetSessionId()), zap.Duration("heartbeat", interval))

	// One goroutine sends, so acks, heartbeats and events never interleave on the stream.
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
				ack := c.agent.Apply(u)
				select {
				case out <- &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Ack{Ack: ack}}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	// Spread heartbeats of agents started together over the interval.
	hb := time.NewTimer(rand.N(interval) + 1)
	defer hb.Stop()
	var seq uint64
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
		case e := <-c.events:
			msg = &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Event{Event: e}}
		case <-hb.C:
			seq++
			msg = &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Heartbeat{Heartbeat: c.agent.Heartbeat(seq)}}
			hb.Reset(interval)
		}
		if err := stream.Send(msg); err != nil {
			return streamErr(stream, err)
		}
	}
}

// streamErr turns io.EOF from Send into the stream's real status, as grpc-go documents.
func streamErr(stream agentv1.AgentService_SessionClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.Recv(); rerr != nil {
			return rerr
		}
	}
	return err
}
