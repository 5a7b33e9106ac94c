// Package pyroscopereceiver is an OpenTelemetry Collector receiver that takes
// profile uploads in the Pyroscope protocol and passes them on as OTLP
// profiles.
//
// # What it accepts
//
// POST /ingest on the configured endpoint (default localhost:4040, the
// Pyroscope port), exactly as github.com/grafana/pyroscope-go sends it:
//
//   - query parameters name=app{k=v,...} (the application name, with an
//     optional profile-type suffix such as .cpu that is dropped, and labels),
//     from and until (Unix time in s, ms, µs or ns, told apart by
//     magnitude), spyName, sampleRate, aggregationType and units;
//   - a multipart/form-data body whose field "profile" holds a pprof profile,
//     gzip-compressed or not, and whose optional field "sample_type_config"
//     holds Pyroscope's JSON sample type configuration;
//   - or, with format=pprof or Content-Type binary/octet-stream+pprof, the
//     pprof profile as the raw body.
//
// Pyroscope's other formats (folded, lines, jfr, ...) are answered 415.
// Malformed uploads are answered 400 and uploads over a configured limit
// 413 or 400, each with a message naming what to fix or the limit's YAML
// key; 405 for a method other than POST. A successful upload is answered 200
// with an empty body once the next consumer took it; a consumer error is
// answered 400 if it is permanent and 503 otherwise.
//
// # What it produces
//
// One pprofile.Profiles per upload: one resource, one scope, and one Profile
// per pprof sample type (a Go heap profile gives alloc_objects, alloc_space,
// inuse_objects and inuse_space), sharing one dictionary of strings,
// mappings, locations, functions, stacks and attributes.
//
//   - Resource: service.name is the application name. Every label of the
//     name becomes a resource attribute of the same name (env, region,
//     process.runtime.name, ...), except otel.scope.name and
//     otel.scope.version, which name the instrumentation scope, and
//     pyroscope-go's __session_id__, which becomes pyroscope.session_id. An
//     "instance" label also sets service.instance.id. spyName becomes
//     pyroscope.spy_name.
//   - Profile: time and duration from from/until (else the pprof profile's
//     own), sample type, period type and period from pprof, and the
//     attributes pyroscope.aggregation (sum or average), and when the
//     sample_type_config gives them pyroscope.display_name and
//     pyroscope.units.
//   - Samples: one value each, for the Profile's sample type; samples whose
//     value is zero are left out. pprof sample labels (pprof.Labels) become
//     sample attributes; numeric labels keep their unit.
//   - Mappings keep their build ID as process.executable.build_id.gnu.
//
// An upload without samples (an idle CPU window) is still passed on, with
// its Profiles and no samples: it says the service was profiled and idle.
//
// A collector service passes profiles between components only with the
// feature gate service.profilesSupport enabled.
//
// # Metrics
//
// Besides the collector's receiver metrics (otelcol_receiver_accepted_profile_samples,
// otelcol_receiver_refused_profile_samples, otelcol_receiver_requests, ...)
// it emits:
//
//   - mcp_pyroscope_rejected_requests (exported to Prometheus as
//     mcp_pyroscope_rejected_requests): uploads answered with an error,
//     by reason (malformed_name, malformed_parameter, malformed_body,
//     malformed_profile, unsupported_format, method_not_allowed,
//     too_many_labels, label_too_long, stack_too_deep, body_too_large,
//     profile_too_large,
//     consumer_refused, consumer_failed).
package pyroscopereceiver
