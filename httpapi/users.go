package httpapi

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/peer"
)

// list wraps a slice as {"items": [...]}, the shape of every unpaginated list.
type list[T any] struct {
	Items []T `json:"items"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in keyward.LoginInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	c, err := s.authority.Login(r.Context(), in, peer.Host(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authority.Logout(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var in keyward.CreateUserInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	u, err := s.authority.CreateUser(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/users/"+u.Name)
	return writeJSON(w, http.StatusCreated, u)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	page, err := s.authority.ListUsers(r.Context(), r.URL.Query().Get("cursor"), int(limit))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.authority.User(r.Context(), r.PathValue("user"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in keyward.UpdateUserInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	u, err := s.authority.UpdateUser(r.Context(), r.PathValue("user"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.authority.DeleteUser(r.Context(), r.PathValue("user"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error {
	var in keyward.SetPasswordInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	if err := s.authority.SetPassword(r.Context(), r.PathValue("user"), in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	page, err := s.authority.ListSessions(r.Context(), r.PathValue("user"), r.URL.Query().Get("cursor"), int(limit))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authority.RevokeSession(r.Context(), r.PathValue("user"), r.PathValue("session"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) revokeSessions(w http.ResponseWriter, r *http.Request) error {
	res, err := s.authority.RevokeSessions(r.Context(), r.PathValue("user"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

func (s *Server) userRoles(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.authority.UserRoles(r.Context(), r.PathValue("user"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[keyward.Binding]{Items: bs})
}

func (s *Server) grantGlobalRole(w http.ResponseWriter, r *http.Request) error {
	var in keyward.BindingInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	if in.Role == "" {
		return keyward.Invalid("role", "is required")
	}
	b, err := s.authority.GrantGlobalRole(r.Context(), r.PathValue("user"), in.Role)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, b)
}

func (s *Server) revokeGlobalRole(w http.ResponseWriter, r *http.Request) error {
	if err := s.authority.RevokeGlobalRole(r.Context(), r.PathValue("user"), r.PathValue("role")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) error {
	roles, err := s.authority.Roles(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[*keyward.Role]{Items: roles})
}

func (s *Server) getRole(w http.ResponseWriter, r *http.Request) error {
	role, err := s.authority.Role(r.Context(), r.PathValue("role"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, role)
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request) error {
	var in keyward.RoleInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	role, err := s.authority.CreateRole(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, role)
}

func (s *Server) updateRole(w http.ResponseWriter, r *http.Request) error {
	var in keyward.RoleInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	role, err := s.authority.UpdateRole(r.Context(), r.PathValue("role"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, role)
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if err := s.authority.DeleteRole(r.Context(), r.PathValue("role")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.authority.Members(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[keyward.Binding]{Items: bs})
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) error {
	var in keyward.BindingInput
	if err := decode(r, &in, false); err != nil {
		return err
	}
	b, err := s.authority.AddMember(r.Context(), r.PathValue("project"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, b)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	if err := s.authority.RemoveMember(r.Context(), r.PathValue("project"), r.PathValue("user"), r.PathValue("role")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
