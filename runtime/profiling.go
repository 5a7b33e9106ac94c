package runtime

import (
	"fmt"

	"github.com/grafana/pyroscope-go"
	"go.uber.org/zap"
)

type profiler interface{ Stop() error }

// startProfiling starts continuous profiling with the real Pyroscope client when it is on.
// Forced GCs before heap profiles are disabled: they would distort the GC behaviour the
// tuner measures.
func startProfiling(a *Agent) (profiler, error) {
	url := a.cfg.profilingURL()
	if url == "" {
		return nil, nil
	}
	tags := map[string]string{"instance": a.cfg.instanceID}
	if v := a.cfg.env("POD_NAMESPACE"); v != "" {
		tags["namespace"] = v
	}
	if v := a.cfg.env("POD_NAME"); v != "" {
		tags["pod"] = v
	}
	cfg := pyroscope.Config{
		ApplicationName: a.cfg.serviceName,
		ServerAddress:   url,
		Tags:            tags,
		DisableGCRuns:   true,
		Logger:          pyroscopeLogger{a.log},
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU,
			pyroscope.ProfileAllocObjects,
			pyroscope.ProfileAllocSpace,
			pyroscope.ProfileInuseObjects,
			pyroscope.ProfileInuseSpace,
		},
	}
	if a.cfg.token != "" {
		cfg.HTTPHeaders = map[string]string{"Authorization": "Bearer " + a.cfg.token}
	}
	p, err := pyroscope.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("start profiling to %s: %w", url, err)
	}
	a.log.Info("profiling started", zap.String("url", url))
	return p, nil
}

// pyroscopeLogger adapts the agent's zap logger to the Pyroscope client's Logger.
type pyroscopeLogger struct{ l *zap.Logger }

func (p pyroscopeLogger) Infof(format string, args ...any)  { p.l.Debug(fmt.Sprintf(format, args...)) }
func (p pyroscopeLogger) Debugf(format string, args ...any) { p.l.Debug(fmt.Sprintf(format, args...)) }
func (p pyroscopeLogger) Errorf(format string, args ...any) {
	p.l.Warn("profile upload", zap.String("error", fmt.Sprintf(format, args...)))
}
