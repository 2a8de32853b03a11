package httpapi

import (
	"net/http"

	"github.com/keyward/keyward/authority"
)

// usage answers GET /v1/projects/{project}/usage and .../credentials/{ref}/usage (ref is ""
// on the first): the verifications of a project or a credential by bucket and code.
func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.authority.Usage(r.Context(), r.PathValue("project"), authority.UsageInput{
		Credential: r.PathValue("ref"), Window: r.URL.Query().Get("window"),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
