package pyroscopereceiver

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Reasons an upload is refused, the values of the reason attribute of
// mcp_pyroscope_rejected_requests. The set is fixed so the metric stays
// low-cardinality.
const (
	reasonMethodNotAllowed  = "method_not_allowed"
	reasonUnsupportedFormat = "unsupported_format"
	reasonMalformedName     = "malformed_name"
	reasonMalformedParam    = "malformed_parameter"
	reasonMalformedBody     = "malformed_body"
	reasonMalformedProfile  = "malformed_profile"
	reasonTooManyLabels     = "too_many_labels"
	reasonLabelTooLong      = "label_too_long"
	reasonStackTooDeep      = "stack_too_deep"
	reasonBodyTooLarge      = "body_too_large"
	reasonProfileTooLarge   = "profile_too_large"
	reasonConsumerRefused   = "consumer_refused"
	reasonConsumerFailed    = "consumer_failed"
)

// ingestError is an upload refused with an HTTP status and a message that
// tells the client what to fix.
type ingestError struct {
	status int
	reason string
	msg    string
}

func (e *ingestError) Error() string { return e.msg }

func badRequest(reason, format string, args ...any) error {
	return &ingestError{status: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, args...)}
}

func tooLarge(reason, format string, args ...any) error {
	return &ingestError{status: http.StatusRequestEntityTooLarge, reason: reason, msg: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return &ingestError{status: http.StatusUnsupportedMediaType, reason: reasonUnsupportedFormat, msg: fmt.Sprintf(format, args...)}
}

// limits bounds what one upload may cost.
type limits struct {
	maxRequestBodySize         int64
	maxDecompressedProfileSize int64
	maxStackDepth              int
	labels                     labelLimits
}

func limitsFromConfig(cfg *Config) limits {
	return limits{
		maxRequestBodySize:         cfg.MaxRequestBodySize,
		maxDecompressedProfileSize: cfg.MaxDecompressedProfileSize,
		maxStackDepth:              cfg.MaxStackDepth,
		labels: labelLimits{
			maxLabels:      cfg.MaxLabels,
			maxNameLength:  cfg.MaxLabelNameLength,
			maxValueLength: cfg.MaxLabelValueLength,
		},
	}
}

// sampleTypeConfig is one entry of the sample_type_config form field, keyed
// by pprof sample type. Only the fields that change the meaning of the data
// are kept.
type sampleTypeConfig struct {
	Units       string `json:"units,omitempty"`
	Aggregation string `json:"aggregation,omitempty"`
	DisplayName string `json:"display-name,omitempty"`
}

// upload is one accepted /ingest request before conversion. The query
// parameters units and sampleRate are not kept (sampleRate is only checked
// to be a number): Pyroscope ignores both for pprof, whose sample types and
// period carry the same facts.
type upload struct {
	name appName
	// from and until are zero when the query left them out.
	from, until     time.Time
	spyName         string
	aggregationType string
	// profile is the uncompressed pprof protobuf.
	profile     []byte
	sampleTypes map[string]sampleTypeConfig
}

// readUpload reads an /ingest request as pyroscope-go sends it: the metadata
// in the query and the gzip-compressed pprof profile in the multipart field
// "profile", next to an optional "sample_type_config" JSON field. A raw pprof
// body is accepted with format=pprof or Content-Type binary/octet-stream+pprof.
// The body must already be capped at lim.maxRequestBodySize.
func readUpload(req *http.Request, lim limits) (*upload, error) {
	q := req.URL.Query()
	name, err := parseAppName(q.Get("name"), lim.labels)
	if err != nil {
		return nil, err
	}
	up := &upload{
		name:            name,
		spyName:         q.Get("spyName"),
		aggregationType: q.Get("aggregationType"),
	}
	for _, p := range []struct{ key, value string }{
		{"spyName", up.spyName}, {"aggregationType", up.aggregationType},
	} {
		if len(p.value) > lim.labels.maxValueLength || !utf8.ValidString(p.value) {
			return nil, badRequest(reasonMalformedParam,
				"query parameter %s must be valid UTF-8 of at most max_label_value_length (%d) bytes",
				p.key, lim.labels.maxValueLength)
		}
	}
	if up.from, err = parseUnixTime("from", q.Get("from")); err != nil {
		return nil, err
	}
	if up.until, err = parseUnixTime("until", q.Get("until")); err != nil {
		return nil, err
	}
	if !up.from.IsZero() && !up.until.IsZero() && up.until.Before(up.from) {
		return nil, badRequest(reasonMalformedParam, "query parameter until (%s) is before from (%s)",
			up.until.UTC().Format(time.RFC3339Nano), up.from.UTC().Format(time.RFC3339Nano))
	}
	if s := q.Get("sampleRate"); s != "" {
		if _, err := strconv.ParseUint(s, 10, 32); err != nil {
			return nil, badRequest(reasonMalformedParam, "query parameter sampleRate %q is not an unsigned 32-bit integer", abbrev(s, 32))
		}
	}

	format := q.Get("format")
	if format != "" && format != "pprof" {
		return nil, unsupported("format %q is not supported; this receiver accepts pprof only (format=pprof, or the multipart field \"profile\" as pyroscope-go sends it)", abbrev(format, 32))
	}
	var mediaType string
	var params map[string]string
	if ct := req.Header.Get("Content-Type"); ct != "" {
		if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
			return nil, badRequest(reasonMalformedBody, "Content-Type %q is malformed: %v", abbrev(ct, 128), err)
		}
	}
	switch {
	case mediaType == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, badRequest(reasonMalformedBody, "Content-Type multipart/form-data has no boundary")
		}
		if err := readMultipart(multipart.NewReader(req.Body, params["boundary"]), up, lim); err != nil {
			return nil, err
		}
	case format == "pprof" || mediaType == "binary/octet-stream+pprof":
		if up.profile, err = readProfile(req.Body, lim); err != nil {
			return nil, err
		}
	default:
		return nil, unsupported("a raw body needs format=pprof (Pyroscope reads it as folded text otherwise, which this receiver does not accept), " +
			"or send a multipart/form-data body with the field \"profile\"")
	}
	return up, nil
}

func readMultipart(mr *multipart.Reader, up *upload, lim limits) error {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bodyError(err, lim, "read multipart body")
		}
		switch part.FormName() {
		case "profile":
			if up.profile != nil {
				return badRequest(reasonMalformedBody, "multipart body has more than one field \"profile\"")
			}
			if up.profile, err = readProfile(part, lim); err != nil {
				return err
			}
		case "sample_type_config":
			// The field is bounded by the body limit already; it is small JSON.
			raw, err := io.ReadAll(part)
			if err != nil {
				return bodyError(err, lim, "read field sample_type_config")
			}
			if err := json.Unmarshal(raw, &up.sampleTypes); err != nil {
				return badRequest(reasonMalformedBody, "field sample_type_config is not a JSON object of sample types: %v", err)
			}
		default:
			// prev_profile (sent by old clients, ignored by Pyroscope too) and
			// fields of newer clients: skip.
			if _, err := io.Copy(io.Discard, part); err != nil {
				return bodyError(err, lim, "read multipart body")
			}
		}
	}
	if up.profile == nil {
		return badRequest(reasonMalformedBody, "multipart body has no field \"profile\"; this receiver accepts pprof profiles")
	}
	return nil
}

// readProfile reads one pprof profile, decompressing it when it is gzipped.
// It never holds more than lim.maxDecompressedProfileSize+1 bytes: a profile
// that expands beyond that is refused while it is being read.
func readProfile(r io.Reader, lim limits) ([]byte, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, bodyError(err, lim, "read profile")
	}
	gzipped := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if gzipped {
		gz, err := gzip.NewReader(br)
		if err != nil {
			if isMaxBytesError(err) {
				return nil, bodyError(err, lim, "read profile")
			}
			return nil, badRequest(reasonMalformedProfile, "profile is not valid gzip: %v", err)
		}
		defer gz.Close()
		src = gz
	}
	data, err := readAtMost(src, lim.maxDecompressedProfileSize)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, tooLarge(reasonProfileTooLarge,
			"profile is larger than max_decompressed_profile_size (%d bytes) after decompression", lim.maxDecompressedProfileSize)
	case err != nil && gzipped && !isMaxBytesError(err):
		return nil, badRequest(reasonMalformedProfile, "profile is not valid gzip: %v", err)
	case err != nil:
		return nil, bodyError(err, lim, "read profile")
	case len(data) == 0:
		return nil, badRequest(reasonMalformedProfile, "profile is empty")
	}
	return data, nil
}

var errTooLarge = errors.New("over the limit")

// readAtMost reads r to the end, or fails with errTooLarge as soon as it has
// read more than limit bytes. Its buffer grows by doubling but never past
// limit+1 bytes: at most 1.5 times the limit is held at once, and about
// three times the limit is allocated in all.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(limit+1, 32<<10))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, errTooLarge
			}
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if int64(len(buf)) > limit {
				return nil, errTooLarge
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// bodyError tells a body over max_request_body_size from a malformed one.
func bodyError(err error, lim limits, op string) error {
	if isMaxBytesError(err) {
		return tooLarge(reasonBodyTooLarge, "request body is larger than max_request_body_size (%d bytes)", lim.maxRequestBodySize)
	}
	return badRequest(reasonMalformedBody, "%s: %v", op, err)
}

func isMaxBytesError(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// Thresholds that tell the unit of a Unix timestamp by its magnitude. Each
// unit covers the dates from 1970 to year 5138 (1e11 s) before the next
// one takes over, so any plausible profiling time is read correctly.
const (
	secondsBelow      = 1e11
	millisecondsBelow = 1e14
	microsecondsBelow = 1e17
)

// latestTime is the latest time a pcommon.Timestamp can hold (in 2262).
var latestTime = time.Unix(0, math.MaxInt64)

// parseUnixTime reads a from/until query parameter: a Unix timestamp in
// seconds, milliseconds, microseconds or nanoseconds, told apart by
// magnitude (pyroscope-go sends nanoseconds, older clients seconds). An
// empty value gives the zero time.
func parseUnixTime(key, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	v, err := strconv.ParseInt(value, 10, 64)
	if err != nil || v <= 0 {
		return time.Time{}, badRequest(reasonMalformedParam,
			"query parameter %s %q is not a positive Unix timestamp in s, ms, µs or ns", key, abbrev(value, 32))
	}
	var t time.Time
	switch {
	case v < secondsBelow:
		t = time.Unix(v, 0)
	case v < millisecondsBelow:
		t = time.UnixMilli(v)
	case v < microsecondsBelow:
		t = time.UnixMicro(v)
	default:
		t = time.Unix(0, v)
	}
	if t.After(latestTime) {
		return time.Time{}, badRequest(reasonMalformedParam,
			"query parameter %s %q is after %d, the latest time OTLP can carry", key, value, latestTime.Year())
	}
	return t, nil
}
