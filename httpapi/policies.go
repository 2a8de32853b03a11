package httpapi

import (
	"net/http"

	"github.com/keyward/keyward"
)

func (s *Server) getProjectPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authority.ProjectPolicy(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) setProjectPolicy(w http.ResponseWriter, r *http.Request) error {
	var in keyward.Policy
	if err := decode(r, &in, false); err != nil {
		return err
	}
	p, err := s.authority.SetProjectPolicy(r.Context(), r.PathValue("project"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}
