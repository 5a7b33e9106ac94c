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
	"github.com/mcplane/mcp/runtime/agentclient"
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
	a.Subscribe(func(e Event) { s.client.Event(eventProto(e)) })
	return s, nil
}

func (s *session) run(ctx context.Context) { s.client.Run(ctx) }
func (s *session) wait()                   { <-s.client.Done() }
func (s *session) connected() bool         { return s.client.Connected() }

// Apply applies one knob update and builds its acknowledgement.
func (s *session) Apply(u *agentv1.KnobUpdate) *agentv1.KnobAck {
	st, err := s.a.SetKnobs(changeFromProto(u), u.GetDecisionId())
	return ackProto(u.GetDecisionId(), st, err)
}

// Register describes this process.
func (s *session) Register() *agentv1.Register {
	st := s.a.State()
	host, _ := os.Hostname()
	c := &s.a.cfg
	return registerProto(st, s.a.Runtime(), identity{
		pod: c.env("POD_NAME"), namespace: c.env("POD_NAMESPACE"), node: c.env("NODE_NAME"), hostname: host,
		pid: os.Getpid(), agentVersion: agentVersion(), labels: parseResourceAttributes(c.env("MCP_LABELS")),
	})
}

// Heartbeat reports the process's runtime, knobs, limits and usage.
func (s *session) Heartbeat(seq uint64) *agentv1.Heartbeat {
	u, err := s.a.usage()
	return heartbeatProto(seq, s.a.State(), s.a.Runtime(), u, err == nil)
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
