package pyroscopereceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

const (
	ingestPath = "/ingest"
	// formatPprof is the format reported to the receiver's obsreport metrics
	// and spans.
	formatPprof = "pprof"
	// rejectedRequestsMetric counts uploads answered with an error, by
	// reason; Prometheus exports it as mcp_pyroscope_rejected_requests.
	rejectedRequestsMetric = "mcp_pyroscope_rejected_requests"
	scopeName              = "github.com/mcplane/mcp/collector/pyroscopereceiver"
)

// pyroscopeReceiver serves the Pyroscope /ingest endpoint and hands each
// upload to the next consumer as OTLP profiles.
type pyroscopeReceiver struct {
	cfg      *Config
	limits   limits
	next     xconsumer.Profiles
	settings receiver.Settings
	obsrep   *receiverhelper.ObsReport
	rejected metric.Int64Counter
	now      func() time.Time

	server *http.Server
	// addr is the address the server listens on, known once Start returns.
	addr       net.Addr
	shutdownWG sync.WaitGroup
}

func newReceiver(cfg *Config, set receiver.Settings, next xconsumer.Profiles) (*pyroscopeReceiver, error) {
	obsrep, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, fmt.Errorf("create obsreport: %w", err)
	}
	rejected, err := set.MeterProvider.Meter(scopeName).Int64Counter(rejectedRequestsMetric,
		metric.WithDescription("Pyroscope uploads refused with an HTTP error, by reason."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, fmt.Errorf("create metric %s: %w", rejectedRequestsMetric, err)
	}
	return &pyroscopeReceiver{
		cfg:      cfg,
		limits:   limitsFromConfig(cfg),
		next:     next,
		settings: set,
		obsrep:   obsrep,
		rejected: rejected,
		now:      time.Now,
	}, nil
}

// Start binds the endpoint, failing if it is taken, and serves in the
// background until Shutdown.
func (r *pyroscopeReceiver) Start(ctx context.Context, host component.Host) error {
	mux := http.NewServeMux()
	mux.Handle(ingestPath, http.HandlerFunc(r.handleIngest))
	server, err := r.cfg.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, mux)
	if err != nil {
		return fmt.Errorf("create HTTP server for %s: %w", r.cfg.NetAddr.Endpoint, err)
	}
	ln, err := r.cfg.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("listen on endpoint %s: %w", r.cfg.NetAddr.Endpoint, err)
	}
	r.server, r.addr = server, ln.Addr()
	r.settings.Logger.Info("Starting Pyroscope ingest server", zap.String("endpoint", ln.Addr().String()))
	r.shutdownWG.Go(func() {
		if err := server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	})
	return nil
}

// Shutdown stops accepting uploads and waits for the server to stop.
func (r *pyroscopeReceiver) Shutdown(ctx context.Context) error {
	if r.server == nil {
		return nil
	}
	err := r.server.Shutdown(ctx)
	r.shutdownWG.Wait()
	return err
}

// handleIngest answers as the Pyroscope server does: 200 with an empty body
// once the profiles are handed on; otherwise an error status with a plain
// text reason, which pyroscope-go logs.
func (r *pyroscopeReceiver) handleIngest(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.reject(w, req, &ingestError{
			status: http.StatusMethodNotAllowed,
			reason: reasonMethodNotAllowed,
			msg:    fmt.Sprintf("method %s is not allowed; %s accepts POST", req.Method, ingestPath),
		})
		return
	}
	// The confighttp server caps the body already; capping here too keeps
	// the handler safe on its own.
	req.Body = http.MaxBytesReader(w, req.Body, r.limits.maxRequestBodySize)

	up, err := readUpload(req, r.limits)
	if err != nil {
		r.reject(w, req, err)
		return
	}
	src, err := parsePprof(up.profile)
	if err != nil {
		r.reject(w, req, err)
		return
	}
	up.profile = nil // The parsed profile replaces the bytes; let them go.
	pd, err := toProfiles(up, src, r.limits, r.now())
	if err != nil {
		r.reject(w, req, err)
		return
	}

	ctx := r.obsrep.StartProfilesOp(req.Context())
	samples := pd.SampleCount()
	err = r.next.ConsumeProfiles(ctx, pd)
	r.obsrep.EndProfilesOp(ctx, formatPprof, samples, err)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case consumererror.IsPermanent(err):
		r.reject(w, req, &ingestError{
			status: http.StatusBadRequest,
			reason: reasonConsumerRefused,
			msg:    fmt.Sprintf("the collector pipeline refused the profile: %v", err),
		})
	default:
		r.reject(w, req, &ingestError{
			status: http.StatusServiceUnavailable,
			reason: reasonConsumerFailed,
			msg:    fmt.Sprintf("the collector pipeline could not take the profile, retry later: %v", err),
		})
	}
}

// parsePprof parses an uncompressed pprof protobuf. Only the protobuf
// encoding is accepted, not pprof's legacy text formats.
func parsePprof(data []byte) (p *profile.Profile, err error) {
	defer func() {
		// The pprof parser is not written for hostile input; a panic in it
		// must cost one 400, not the collector.
		if v := recover(); v != nil {
			p, err = nil, badRequest(reasonMalformedProfile, "profile is not a valid pprof protobuf: %v", v)
		}
	}()
	p, err = profile.ParseUncompressed(data)
	if err == nil {
		err = p.CheckValid()
	}
	if err != nil {
		return nil, badRequest(reasonMalformedProfile, "profile is not a valid pprof protobuf: %v", err)
	}
	return p, nil
}

func (r *pyroscopeReceiver) reject(w http.ResponseWriter, req *http.Request, err error) {
	var ie *ingestError
	if !errors.As(err, &ie) {
		ie = &ingestError{status: http.StatusInternalServerError, reason: "internal", msg: err.Error()}
	}
	r.rejected.Add(req.Context(), 1, metric.WithAttributes(attribute.String("reason", ie.reason)))
	r.settings.Logger.Debug("Pyroscope upload rejected",
		zap.String("reason", ie.reason), zap.Int("status", ie.status), zap.String("error", ie.msg),
		zap.String("remote_addr", req.RemoteAddr))
	http.Error(w, ie.msg, ie.status)
}
