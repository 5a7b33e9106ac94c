// Package webui serves MCP's web status page: one HTML page and a little JavaScript, embedded
// in the binary, that read the JSON API and show instances, decisions with their reasons,
// policies and small charts of each instance's signals.
//
// The page needs no build step and loads nothing from outside the server, so it works in
// clusters with no internet access. Its assets are addressed by content hash (/ui/app.js?v=…),
// so browsers cache them for good and still pick up a new version after an upgrade.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/mcplane/mcp/controlplane/httpapi"
	"github.com/mcplane/mcp/internal/version"
)

//go:embed static
var static embed.FS

// Routes the page is served on. The index is exactly "/", so every other path keeps its
// 404 (and no pattern overlaps the API's own "/api/" catch-all).
const (
	indexPattern   = "GET /{$}"
	assetsPattern  = "GET /ui/"
	versionPattern = "GET /api/v1/version"
)

// contentSecurityPolicy allows only what the page needs from its own origin: no inline
// script, no outside host. SVG attributes set from JavaScript are not styles, so style-src
// needs no 'unsafe-inline'.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	name        string
	body        []byte
	contentType string
	hash        string // hex SHA-256 prefix: the ETag and the ?v= of the page's links
}

var (
	assets = map[string]*asset{} // by name under /ui/
	index  *asset
)

// contentTypes are set explicitly so that the answer does not depend on the host's MIME
// tables (/etc/mime.types), which differ between base images.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// assetRef matches the page's references to its assets, to add their content hash.
var assetRef = regexp.MustCompile(`((?:src|href)=")/ui/([^"?]+)"`)

func init() {
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		if name == "index.html" {
			return nil // built below, once every asset's hash is known
		}
		assets[name] = newAsset(name, body)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("webui: read embedded files: %v", err))
	}
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		panic(fmt.Sprintf("webui: read embedded index.html: %v", err))
	}
	var missing []string
	page = assetRef.ReplaceAllFunc(page, func(m []byte) []byte {
		sub := assetRef.FindSubmatch(m)
		a, ok := assets[string(sub[2])]
		if !ok {
			missing = append(missing, string(sub[2]))
			return m
		}
		return fmt.Appendf(nil, `%s/ui/%s?v=%s"`, sub[1], a.name, a.hash)
	})
	if len(missing) > 0 {
		panic(fmt.Sprintf("webui: index.html links to assets that are not embedded: %v", missing))
	}
	index = newAsset("index.html", page)
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	return &asset{name: name, body: body, contentType: ct, hash: hex.EncodeToString(sum[:8])}
}

// Mux is where Register adds the page's routes: an *http.ServeMux or the HTTP API's
// server.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the status page (GET /), its assets (GET /ui/...) and the running build's
// version (GET /api/v1/version, JSON) to m.
func Register(m Mux) {
	m.Handle(indexPattern, http.HandlerFunc(serveIndex))
	m.Handle(assetsPattern, http.HandlerFunc(serveAsset))
	m.Handle(versionPattern, http.HandlerFunc(serveVersion))
}

// Handler serves the status page, its assets and /api/v1/version on its own; everything
// else is a 404. The page reads the rest of /api/v1 from the same origin.
func Handler() http.Handler {
	mux := http.NewServeMux()
	Register(mux)
	return mux
}

func serveIndex(w http.ResponseWriter, r *http.Request) {
	// The page names its assets by hash; it must be revalidated (cheaply, by ETag) so an
	// upgrade is picked up at once.
	serve(w, r, index, "no-cache")
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[strings.TrimPrefix(r.URL.Path, "/ui/")]
	if !ok {
		http.Error(w, fmt.Sprintf("no status page asset %s", r.URL.Path), http.StatusNotFound)
		return
	}
	cache := "no-cache"
	if r.URL.Query().Get("v") == a.hash {
		// This URL can only ever mean these bytes.
		cache = "public, max-age=31536000, immutable"
	}
	serve(w, r, a, cache)
}

func serve(w http.ResponseWriter, r *http.Request, a *asset, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", `"`+a.hash+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if a == index {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
	}
	// ServeContent answers If-None-Match (304), HEAD and ranges; the zero time leaves
	// Last-Modified out, as embedded files have no meaningful one.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

func serveVersion(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	httpapi.WriteJSON(w, http.StatusOK, version.Get())
}
