package webui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/mcplane/mcp/controlplane/webui"
)

// The status page on its own; mcp serve registers it on the HTTP API's mux with Register
// instead, so that the page and the API it reads share an origin.
func ExampleHandler() {
	srv := httptest.NewServer(webui.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
	// Output:
	// 200 OK text/html; charset=utf-8
}

func ExampleRegister() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/instances", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"index":0,"instances":[]}`)
	})
	webui.Register(mux) // GET /, GET /ui/..., GET /api/v1/version

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/version", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// 200 application/json
}
