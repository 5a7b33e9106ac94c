package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane"
)

// WriteJSON writes v as the response body. It encodes before writing the status, so a
// value that cannot be encoded is a 500, not a 200 with an empty body.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(apiv1.Error{Error: "encode answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// WriteError writes the API's error body.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, apiv1.Error{Error: msg})
}

// WriteCoreError maps a control plane error to its status.
func WriteCoreError(w http.ResponseWriter, err error) {
	var ce *controlplane.Error
	if errors.As(err, &ce) {
		code := map[controlplane.ErrorKind]int{
			controlplane.KindInvalid: http.StatusBadRequest, controlplane.KindNotFound: http.StatusNotFound,
			controlplane.KindConflict: http.StatusConflict,
		}[ce.Kind]
		if code == 0 {
			code = http.StatusBadRequest
		}
		WriteError(w, code, ce.Msg)
		return
	}
	WriteError(w, http.StatusInternalServerError, err.Error())
}

// DecodeJSON decodes a request body strictly (unknown fields are errors) and answers 400 or
// 413 itself when it cannot; it returns false then.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			err = errors.New("more than one JSON value in the body")
		} else if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
	case errors.Is(err, io.EOF):
		WriteError(w, http.StatusBadRequest, "request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		WriteError(w, http.StatusBadRequest, "request body is not valid JSON: it ends in the middle of a value")
	case errors.As(err, &syntax):
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("request body is not valid JSON (at byte %d): %v", syntax.Offset, err))
	case errors.As(err, &typ):
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("%s: want a JSON %s, got %s", typ.Field, typ.Type, typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		WriteError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "json: ")+" (see docs/API.md for the fields)")
	default:
		WriteError(w, http.StatusBadRequest, "request body: "+err.Error())
	}
	return false
}

func sortServices(s []apiv1.Service) {
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
}
