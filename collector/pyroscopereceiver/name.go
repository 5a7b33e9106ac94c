package pyroscopereceiver

import (
	"strings"
	"unicode/utf8"
)

// appName is the parsed `name` query parameter, app[.type]{k=v,...}.
type appName struct {
	// service is the application name with any profile-type suffix removed.
	service string
	// labels hold each label once, in order of first appearance; a repeated
	// name keeps the last value, as the Pyroscope server does.
	labels []label
}

type label struct {
	name, value string
}

// labelLimits bounds the labels taken from one upload.
type labelLimits struct {
	maxLabels      int
	maxNameLength  int
	maxValueLength int
}

// profileTypeSuffixes are the suffixes Pyroscope clients append to the
// application name for one profile type (app.cpu, app.alloc_objects...).
// The type also comes from the pprof sample types, so the suffix is dropped
// rather than made part of service.name.
var profileTypeSuffixes = []string{
	".cpu", ".itimer", ".wall",
	".alloc_objects", ".alloc_space", ".inuse_objects", ".inuse_space",
	".goroutine", ".goroutines",
	".mutex_count", ".mutex_duration", ".block_count", ".block_duration",
	".lock_count", ".lock_duration",
}

// parseAppName parses the `name` query parameter with the grammar the
// Pyroscope server accepts: an application name of [A-Za-z0-9_.-/],
// optionally followed by one brace-enclosed, comma-separated list of
// name=value labels. Label names are [A-Za-z0-9_.]; values run to the next
// ',' or '}', are trimmed of surrounding spaces, and may contain '=' and '{'.
// There is no escape syntax, as in Pyroscope: a backslash is an ordinary
// character. Unlike the Pyroscope server, which skips them silently, a
// missing '}', text after '}' and a label without '=' are errors.
func parseAppName(s string, lim labelLimits) (appName, error) {
	if s == "" {
		return appName{}, badRequest(reasonMalformedName, "query parameter name is required, e.g. name=myapp{env=prod}")
	}
	if !utf8.ValidString(s) {
		return appName{}, badRequest(reasonMalformedName, "name: not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	service, labelList, hasLabels := strings.Cut(s, "{")
	if hasLabels {
		var after string
		var closed bool
		labelList, after, closed = strings.Cut(labelList, "}")
		if !closed {
			return appName{}, badRequest(reasonMalformedName, "name %q: missing closing '}' after the labels", abbrev(s, 256))
		}
		if after != "" {
			return appName{}, badRequest(reasonMalformedName, "name %q: unexpected %q after the closing '}'", abbrev(s, 256), abbrev(after, 64))
		}
	}
	service = strings.TrimSpace(service)
	if service == "" {
		return appName{}, badRequest(reasonMalformedName, "name %q: the application name before '{' is empty", abbrev(s, 256))
	}
	for _, r := range service {
		if !isServiceNameRune(r) {
			return appName{}, badRequest(reasonMalformedName,
				"name %q: character %q is not allowed in the application name (allowed: letters, digits, _ . - /)", abbrev(s, 256), r)
		}
	}
	for _, suffix := range profileTypeSuffixes {
		if trimmed, ok := strings.CutSuffix(service, suffix); ok && trimmed != "" {
			service = trimmed
			break
		}
	}

	labels, err := parseLabels(labelList, lim)
	if err != nil {
		return appName{}, err
	}
	return appName{service: service, labels: labels}, nil
}

func parseLabels(list string, lim labelLimits) ([]label, error) {
	// A trailing comma is accepted, as by the Pyroscope server.
	list = strings.TrimSuffix(strings.TrimSpace(list), ",")
	if list == "" {
		return nil, nil
	}
	var labels []label
	index := make(map[string]int)
	pieces := 0
	for piece := range strings.SplitSeq(list, ",") {
		pieces++
		if pieces > lim.maxLabels {
			return nil, badRequest(reasonTooManyLabels, "name: more than max_labels (%d) labels", lim.maxLabels)
		}
		key, value, ok := strings.Cut(piece, "=")
		if !ok {
			if strings.TrimSpace(piece) == "" {
				return nil, badRequest(reasonMalformedName, "name: empty label in {%s}", abbrev(list, 128))
			}
			return nil, badRequest(reasonMalformedName, "name: label %q has no '='; write name=value", abbrev(strings.TrimSpace(piece), 128))
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if err := checkLabel(key, value, lim); err != nil {
			return nil, err
		}
		for _, r := range key {
			if !isLabelNameRune(r) {
				return nil, badRequest(reasonMalformedName,
					"name: character %q is not allowed in label name %q (allowed: letters, digits, _ .)", r, key)
			}
		}
		if i, seen := index[key]; seen {
			labels[i].value = value
			continue
		}
		index[key] = len(labels)
		labels = append(labels, label{name: key, value: value})
	}
	return labels, nil
}

// checkLabel applies the length limits shared by the labels in the name and
// the labels on pprof samples.
func checkLabel(name, value string, lim labelLimits) error {
	if name == "" {
		return badRequest(reasonMalformedName, "label name is empty")
	}
	if len(name) > lim.maxNameLength {
		return badRequest(reasonLabelTooLong,
			"label name %q is %d bytes, over max_label_name_length (%d)", abbrev(name, 64), len(name), lim.maxNameLength)
	}
	if len(value) > lim.maxValueLength {
		return badRequest(reasonLabelTooLong,
			"value of label %q is %d bytes, over max_label_value_length (%d)", abbrev(name, 64), len(value), lim.maxValueLength)
	}
	return nil
}

func isLabelNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.'
}

func isServiceNameRune(r rune) bool {
	return isLabelNameRune(r) || r == '-' || r == '/'
}

// abbrev shortens s to at most n bytes for an error message, so that an
// oversized input is not echoed back whole.
func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
