package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/mcplane/mcp/collector/distribution"
	"github.com/mcplane/mcp/controlplane"
	"github.com/mcplane/mcp/controlplane/httpapi"
	"github.com/mcplane/mcp/controlplane/store"
	"github.com/mcplane/mcp/controlplane/webui"
	"github.com/mcplane/mcp/internal/version"
	"github.com/mcplane/mcp/tuner"
	"github.com/mcplane/mcp/tuner/kube"
	"github.com/mcplane/mcp/tuner/policy"
	"github.com/mcplane/mcp/tuner/signals"
)

// Server is a running `mcp serve`.
type Server struct {
	cfg      Config
	log      *zap.Logger
	store    store.Store
	core     *controlplane.Core
	api      *httpapi.Server
	registry *prometheus.Registry
	grpc     *grpc.Server
	http     *http.Server
	agentLn  net.Listener
	httpLn   net.Listener
	ready    chan struct{}
	signals  *signals.Store
	otelcol  *otelcol.Collector
	policies *policy.Set
	tuner    *tuner.Tuner
	kube     *kube.Controller
}

// New opens the store and binds both ports, so that a port in use or an unreadable data
// directory is reported before anything starts.
func New(cfg Config, log *zap.Logger) (*Server, error) {
	if err := cfg.ResolveToken(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, registry: prometheus.NewRegistry(), ready: make(chan struct{})}
	s.registry.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st, err := store.OpenBolt(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.store = st
	if s.signals, err = signals.NewStore(cfg.Collector.Signals); err != nil {
		st.Close()
		return nil, err
	}
	s.registry.MustRegister(signals.NewCollector(s.signals))
	ok := false
	defer func() {
		if !ok {
			s.closeListeners()
			st.Close()
		}
	}()
	coreCfg := cfg.Agents
	coreCfg.Token = cfg.Token
	if coreCfg.Replica == "" {
		coreCfg.Replica, _ = os.Hostname()
	}
	if s.core, err = controlplane.New(coreCfg, st, log.Named("controlplane"), s.registry); err != nil {
		return nil, err
	}
	tlsCfg, agentTLS, err := cfg.tlsConfigs()
	if err != nil {
		return nil, err
	}
	if s.agentLn, err = net.Listen("tcp", cfg.AgentAddr); err != nil {
		return nil, fmt.Errorf("listen for agents on %s (agent_addr, --agent-addr): %w", cfg.AgentAddr, err)
	}
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s (http_addr, --http-addr): %w", cfg.HTTPAddr, err)
	}
	grpcOpts := append(s.core.GRPCServerOptions(),
		// Agent messages are small; small buffers keep 10,000 sessions cheap.
		grpc.ReadBufferSize(8<<10), grpc.WriteBufferSize(8<<10), grpc.SharedWriteBuffer(true),
		// A fixed flow-control window turns off BDP estimation, whose ping after every
		// heartbeat was an extra round trip per agent per interval.
		grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10),
		grpc.MaxRecvMsgSize(1<<20))
	if agentTLS != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(agentTLS)))
	}
	s.grpc = grpc.NewServer(grpcOpts...)
	s.core.Register(s.grpc)
	s.api = httpapi.New(httpapi.Options{
		Core: s.core, Token: cfg.Token, Gatherer: s.registry, Logger: log.Named("http"), Pprof: cfg.Pprof,
		Ready: func(ctx context.Context) error {
			select {
			case <-s.ready:
			default:
				return errors.New("starting")
			}
			_, err := s.store.ListPolicies(ctx)
			return err
		},
	})
	s.policies = policy.NewSet()
	if cfg.PolicyFile != "" {
		if err := s.policies.LoadFile(cfg.PolicyFile); err != nil {
			return nil, fmt.Errorf("policy_file (--policy-file): %w", err)
		}
	}
	switch {
	case cfg.Kube.Enabled:
		restCfg, err := kubeConfig(cfg.Kube.Kubeconfig)
		if err != nil {
			return nil, err
		}
		if s.kube, err = kube.New(kube.Options{Config: restCfg, Namespace: cfg.Kube.Namespace,
			LeaderElectionNamespace: cfg.Kube.LeaderElectionNamespace, ControlPlane: s.core, Instances: s.core.Registry(), Signals: s.signals,
			Tuner: cfg.Tuner.Config, Logger: log.Named("kube"), Registry: s.registry}); err != nil {
			return nil, err
		}
		s.tuner = s.kube.Tuner()
	case cfg.Tuner.Enabled:
		if s.tuner, err = tuner.New(cfg.Tuner.Config, s.signals, s.core.Registry(), s.core, s.policies,
			log.Named("tuner"), s.registry); err != nil {
			return nil, err
		}
	}
	polSvc := newPolicyService(s.policies, s.core.Store(), s.tuner)
	polSvc.inCluster = s.kube != nil
	if err := polSvc.loadStored(context.Background()); err != nil {
		return nil, err
	}
	s.api.RegisterPolicies(polSvc)
	s.api.Handle("GET /api/v1/instances/{id}/signals", httpapi.SignalsHandler(s.signals))
	s.api.Handle("GET /api/v1/services/{service}/profile/top", httpapi.ProfileTopHandler(s.signals))
	webui.Register(s.api) // the status page at GET /, its assets under /ui/, GET /api/v1/version
	if cfg.Collector.Enabled {
		if err := distribution.EnableProfiles(); err != nil {
			return nil, err
		}
		text, err := cfg.Collector.YAML(cfg.Token, filepath.Join(cfg.DataDir, "queue"))
		if err != nil {
			return nil, err
		}
		set := distribution.Settings([]string{"yaml:" + text}, s.signals)
		// The collector would replace gRPC's process-wide logger while the agent server
		// already uses it: a data race, and the agent server's logs are ours to route.
		set.SkipSettingGRPCLogger = true
		if s.otelcol, err = otelcol.NewCollector(set); err != nil {
			return nil, fmt.Errorf("embedded collector: %w", err)
		}
	}
	s.http = &http.Server{Handler: s.api, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
		ErrorLog: zap.NewStdLog(log.Named("http"))}
	ok = true
	return s, nil
}

// Core is the control plane core, for the parts assembled around it.
func (s *Server) Core() *controlplane.Core { return s.core }

// API is the HTTP API, for the parts that add routes to it.
func (s *Server) API() *httpapi.Server { return s.api }

// Registry is the Prometheus registry behind /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// HTTPAddr and AgentAddr are the bound addresses (useful with port 0).
func (s *Server) HTTPAddr() string  { return s.httpLn.Addr().String() }
func (s *Server) AgentAddr() string { return s.agentLn.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully: HTTP and agent sessions are closed
// (agents keep their knobs and reconnect elsewhere or later), queued acknowledgements are
// flushed, the store is closed.
func (s *Server) Run(ctx context.Context) error {
	coreCtx, stopCore := context.WithCancel(context.Background())
	go s.core.Run(coreCtx)
	// The first failure stops the server; later ones (the others shutting down) are dropped
	// rather than left blocking their goroutines.
	errc := make(chan error, 1)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	go func() {
		var err error
		if s.cfg.TLS.CertFile != "" {
			err = s.http.ServeTLS(s.httpLn, "", "")
		} else {
			err = s.http.Serve(s.httpLn)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			report(fmt.Errorf("serve HTTP: %w", err))
		}
	}()
	go func() {
		if err := s.grpc.Serve(s.agentLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			report(fmt.Errorf("serve agents: %w", err))
		}
	}()
	colDone := make(chan struct{})
	if s.otelcol != nil {
		go func() {
			defer close(colDone)
			// The collector stops when coreCtx ends, after the servers above.
			if err := s.otelcol.Run(coreCtx); err != nil {
				report(fmt.Errorf("embedded collector (collector.* in the configuration): %w", err))
			}
		}()
		if err := s.waitCollector(ctx, errc); err != nil {
			report(err) // shut down the usual way, below
		}
	} else {
		close(colDone)
	}
	go s.expireSignals(coreCtx)
	// The tuner (or the Kubernetes controller) is waited for on the way out: a leader must
	// release its Lease before the process exits, or the next replica waits for it to expire.
	tunerDone := make(chan struct{})
	switch {
	case s.kube != nil:
		go func() {
			defer close(tunerDone)
			if err := s.kube.Start(coreCtx); err != nil {
				report(fmt.Errorf("kubernetes controller: %w", err))
			}
		}()
	case s.tuner != nil:
		go func() {
			defer close(tunerDone)
			s.tuner.Run(coreCtx)
		}()
	default:
		close(tunerDone)
	}
	go s.watchPolicyFile(coreCtx)
	close(s.ready)
	s.log.Info("mcp serving", zap.String("version", version.Get().Version),
		zap.String("http_addr", s.HTTPAddr()), zap.String("agent_addr", s.AgentAddr()),
		zap.String("data_dir", s.cfg.DataDir), zap.Bool("token", s.cfg.Token != ""), zap.Bool("tls", s.cfg.TLS.CertFile != ""),
		zap.Bool("collector", s.otelcol != nil), zap.String("otlp_grpc_addr", s.cfg.Collector.OTLPGRPCAddr),
		zap.String("otlp_http_addr", s.cfg.Collector.OTLPHTTPAddr), zap.String("profile_addr", s.cfg.Collector.ProfileAddr))
	if s.cfg.Token == "" {
		s.log.Warn("no token set: agents and writes are not authenticated; set --token or MCP_TOKEN")
		if s.cfg.Pprof {
			s.log.Warn("--pprof without a token: anyone who reaches the HTTP port can profile this process")
		}
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("mcp shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.http.Shutdown(shutCtx) })
	wg.Go(func() {
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second): // agent sessions never end on their own
			s.grpc.Stop()
		}
	})
	wg.Wait()
	stopCore()
	<-tunerDone
	<-s.core.Flushed()
	<-colDone
	if err := s.store.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close store: %w", err))
	}
	s.log.Info("mcp stopped")
	return runErr
}

func (s *Server) closeListeners() {
	if s.agentLn != nil {
		s.agentLn.Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
}

// tlsConfigs builds the HTTP and agent TLS configurations (nil: plaintext).
func (c Config) tlsConfigs() (httpTLS, agentTLS *tls.Config, err error) {
	if c.TLS.CertFile == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
	}
	httpTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	agentTLS = httpTLS.Clone()
	if c.TLS.ClientCAFile != "" {
		pem, err := os.ReadFile(c.TLS.ClientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls.client_ca_file %s: no PEM certificate in the file", c.TLS.ClientCAFile)
		}
		agentTLS.ClientCAs = pool
		agentTLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return httpTLS, agentTLS, nil
}

// waitCollector waits until the embedded collector runs, or reports why it could not start
// (a port in use, say).
func (s *Server) waitCollector(ctx context.Context, errc chan error) error {
	deadline := time.After(30 * time.Second)
	for s.otelcol.GetState() != otelcol.StateRunning {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.New("embedded collector did not start within 30s")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// expireSignals drops the signal windows of instances that went quiet.
func (s *Server) expireSignals(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n := s.signals.Expire(now); n > 0 {
				s.log.Debug("signal windows expired", zap.Int("instances", n))
			}
		}
	}
}

// Signals is the tuner's signal store.
func (s *Server) Signals() *signals.Store { return s.signals }

// watchPolicyFile re-reads the policy file when it changes; a file that no longer parses is
// reported and the policies in force stay as they were.
func (s *Server) watchPolicyFile(ctx context.Context) {
	if s.cfg.PolicyFile == "" {
		return
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			reloaded, err := s.policies.ReloadIfChanged()
			switch {
			case err != nil:
				s.log.Error("policy file not reloaded; the policies in force stay", zap.String("file", s.cfg.PolicyFile), zap.Error(err))
			case reloaded:
				s.log.Info("policy file reloaded", zap.String("file", s.cfg.PolicyFile), zap.Int("policies", len(s.policies.Policies())))
			}
		}
	}
}

// Tuner is the tuning loop (nil when disabled).
func (s *Server) Tuner() *tuner.Tuner { return s.tuner }

// kubeConfig reads a kubeconfig file, or the in-cluster configuration (KUBECONFIG when set).
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("kube.kubeconfig %s: %w", path, err)
		}
		return c, nil
	}
	c, err := ctrlconfig.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("kube: no Kubernetes configuration (in-cluster or KUBECONFIG): %w", err)
	}
	return c, nil
}
