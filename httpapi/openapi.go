package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 document of the native API, written by hand: every path, method,
// body and status the server answers (internal/openapitest holds the tests to it). Dialects are
// not part of it.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the native API, as served at /v1/openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// openAPIDoc serves the document without authentication: it describes the API and holds no
// secret. It changes only with the binary, so caches may keep it an hour.
func (s *Server) openAPIDoc(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, err := w.Write(openAPI)
	return err
}
