package webui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mcplane/mcp/controlplane/httpapi"
	"github.com/mcplane/mcp/internal/version"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIndex(t *testing.T) {
	resp := get(t, Handler(), http.MethodGet, "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %s", resp.Status)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-cache",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy = %q, want scripts from the server only and nothing inline", csp)
	}
	if resp.Header.Get("ETag") == "" {
		t.Error("no ETag: the page cannot be revalidated cheaply")
	}
	page := body(t, resp)
	for _, id := range []string{"services-body", "instances-body", "charts", "decisions-body", "policies-body", "health-summary", "version"} {
		if !strings.Contains(page, `data-testid="`+id+`"`) {
			t.Errorf("page has no data-testid=%q", id)
		}
	}
	// Every asset the page links to is addressed by the hash of what is served for it.
	links := regexp.MustCompile(`(?:src|href)="(/ui/[^"?]+)\?v=([0-9a-f]+)"`).FindAllStringSubmatch(page, -1)
	if len(links) < 3 {
		t.Fatalf("page links to %d hashed assets, want the script, the style sheet and the icon", len(links))
	}
	for _, l := range links {
		a := get(t, Handler(), http.MethodGet, l[1], nil)
		if a.StatusCode != http.StatusOK || a.Header.Get("ETag") != `"`+l[2]+`"` {
			t.Errorf("%s?v=%s: %s with ETag %s", l[1], l[2], a.Status, a.Header.Get("ETag"))
		}
	}
}

func TestAssets(t *testing.T) {
	for _, tc := range []struct{ name, contentType string }{
		{"app.js", "text/javascript; charset=utf-8"},
		{"style.css", "text/css; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := assets[tc.name]
			if a == nil {
				t.Fatalf("%s is not embedded", tc.name)
			}
			resp := get(t, Handler(), http.MethodGet, "/ui/"+tc.name+"?v="+a.hash, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control with the current hash = %q, want immutable", got)
			}
			if got := body(t, resp); got != string(a.body) {
				t.Errorf("body differs from the embedded file")
			}
			// Without the hash (or with an old one) the browser must revalidate.
			for _, target := range []string{"/ui/" + tc.name, "/ui/" + tc.name + "?v=0123456789abcdef"} {
				if got := get(t, Handler(), http.MethodGet, target, nil).Header.Get("Cache-Control"); got != "no-cache" {
					t.Errorf("%s: Cache-Control = %q, want no-cache", target, got)
				}
			}
		})
	}
}

func TestNotModified(t *testing.T) {
	for _, target := range []string{"/", "/ui/app.js"} {
		first := get(t, Handler(), http.MethodGet, target, nil)
		etag := first.Header.Get("ETag")
		resp := get(t, Handler(), http.MethodGet, target, http.Header{"If-None-Match": {etag}})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: %s, want 304", target, etag, resp.Status)
		}
		if b := body(t, resp); b != "" {
			t.Errorf("%s: 304 with a body of %d bytes", target, len(b))
		}
	}
}

func TestHead(t *testing.T) {
	resp := get(t, Handler(), http.MethodHead, "/", nil)
	if want := strconv.Itoa(len(index.body)); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != want {
		t.Errorf("HEAD / = %s, Content-Length %q, want 200 and %s", resp.Status, resp.Header.Get("Content-Length"), want)
	}
	if b := body(t, resp); b != "" {
		t.Errorf("HEAD / has a body of %d bytes", len(b))
	}
}

func TestNotFound(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/ui/missing.js", http.StatusNotFound},
		{http.MethodGet, "/ui/", http.StatusNotFound},
		{http.MethodGet, "/ui/static/app.js", http.StatusNotFound},
		{http.MethodGet, "/ui/index.html", http.StatusNotFound},
		{http.MethodGet, "/index.html", http.StatusNotFound},
		{http.MethodGet, "/elsewhere", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
	} {
		if got := get(t, Handler(), tc.method, tc.target, nil).StatusCode; got != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.target, got, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	resp := get(t, Handler(), http.MethodGet, "/api/v1/version", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/version = %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var got version.Info
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got != version.Get() {
		t.Errorf("version = %+v, want %+v", got, version.Get())
	}
}

// TestRegisterBesideTheAPI registers the page on the HTTP API's own mux, as mcp serve
// does: no pattern may clash with the API's routes (ServeMux panics on a conflict), and
// unknown API paths keep the API's JSON 404.
func TestRegisterBesideTheAPI(t *testing.T) {
	api := httpapi.New(httpapi.Options{})
	Register(api)
	if resp := get(t, api, http.MethodGet, "/", nil); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET / = %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if resp := get(t, api, http.MethodGet, "/api/v1/version", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/v1/version = %s", resp.Status)
	}
	resp := get(t, api, http.MethodGet, "/api/v1/nothing", nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body(t, resp), `"error"`) {
		t.Errorf("GET /api/v1/nothing = %s, want the API's JSON 404", resp.Status)
	}
	if resp := get(t, api, http.MethodGet, "/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %s", resp.Status)
	}
}

// TestNothingFromOutside keeps the page self-contained: clusters without internet access
// must render it, so nothing may be loaded from another host.
func TestNothingFromOutside(t *testing.T) {
	outside := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["'` + "`" + `]https?:`)
	files := map[string][]byte{"index.html": index.body}
	for name, a := range assets {
		files[name] = a.body
	}
	for name, b := range files {
		if m := outside.Find(b); m != nil {
			t.Errorf("%s refers to another host: %q", name, m)
		}
	}
}
