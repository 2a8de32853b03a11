package httpapi

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	var in keyward.CreateProjectInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	p, err := s.authority.CreateProject(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/projects/"+p.Slug)
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	page, err := s.authority.ListProjects(r.Context(), r.URL.Query().Get("cursor"), int(limit))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authority.Project(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) createCredential(w http.ResponseWriter, r *http.Request) error {
	var in keyward.CreateCredentialInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	c, err := s.authority.CreateCredential(r.Context(), r.PathValue("project"), in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	page, err := s.authority.ListCredentials(r.Context(), r.PathValue("project"), authority.ListCredentialsInput{
		Type: keyward.CredentialType(q.Get("type")), Environment: keyward.Environment(q.Get("environment")),
		State: keyward.State(q.Get("state")), Cursor: q.Get("cursor"), Limit: int(limit),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) getCredential(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authority.Credential(r.Context(), r.PathValue("project"), r.PathValue("ref"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) updateCredential(w http.ResponseWriter, r *http.Request) error {
	version, err := ifMatch(r)
	if err != nil {
		return err
	}
	var in keyward.UpdateCredentialInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	in.Version = version
	c, err := s.authority.UpdateCredential(r.Context(), r.PathValue("project"), r.PathValue("ref"), in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) renewCredential(w http.ResponseWriter, r *http.Request) error {
	var in keyward.RenewInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	c, err := s.authority.RenewCredential(r.Context(), r.PathValue("project"), r.PathValue("ref"), in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) rollCredential(w http.ResponseWriter, r *http.Request) error {
	var in keyward.RollInput
	if err := decode(r, &in, true); err != nil {
		return err
	}
	c, err := s.authority.RollCredential(r.Context(), r.PathValue("project"), r.PathValue("ref"), in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) revokeCredential(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authority.RevokeCredential(r.Context(), r.PathValue("project"), r.PathValue("ref"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(c.Version))
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	who, err := s.authority.Whoami(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, who)
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	credID, err := queryInt(r, "credential")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := s.authority.ListEvents(r.Context(), authority.ListEventsInput{
		Project: q.Get("project"), CredentialID: credID, Cursor: q.Get("cursor"), Limit: int(limit),
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}
