package httpapi

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var in keyward.CreateWebhookInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	e, err := s.authority.CreateWebhook(r.Context(), r.PathValue("project"), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the secret is in the body
	return writeJSON(w, http.StatusCreated, e)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	page, err := s.authority.ListWebhooks(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	e, err := s.authority.Webhook(r.Context(), r.PathValue("project"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	var in keyward.UpdateWebhookInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	e, err := s.authority.UpdateWebhook(r.Context(), r.PathValue("project"), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := s.authority.DeleteWebhook(r.Context(), r.PathValue("project"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rollWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	e, err := s.authority.RollWebhookSecret(r.Context(), r.PathValue("project"), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, e)
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := s.authority.ListWebhookDeliveries(r.Context(), r.PathValue("project"), r.PathValue("id"),
		authority.ListWebhookDeliveriesInput{State: q.Get("state"), Cursor: q.Get("cursor"), Limit: int(limit)})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) replayWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	d, err := s.authority.ReplayWebhookDelivery(r.Context(), r.PathValue("project"), r.PathValue("id"), r.PathValue("delivery"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}
