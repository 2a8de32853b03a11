package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

type membersView struct {
	Project  *keyward.Project
	Members  []keyward.Binding
	Roles    []*keyward.Role // those the caller may hand out here
	CanAdmin bool
}

func (h *Handler) members(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := h.authority.Project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	bs, err := h.authority.Members(ctx, p.Slug)
	if err != nil {
		return err
	}
	c := keyward.CallerFrom(ctx)
	v := membersView{Project: p, Members: bs, CanAdmin: c.Can(keyward.PermProjectsAdmin, p.ID)}
	if v.CanAdmin {
		roles, err := h.authority.Roles(ctx)
		if err != nil {
			return err
		}
		for _, role := range roles {
			if grantable(c, role, p.ID) {
				v.Roles = append(v.Roles, role)
			}
		}
	}
	h.render(w, h.newPage(r, "Members of "+p.Name), "members.html", v)
	return nil
}

func (h *Handler) addMember(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	in := keyward.BindingInput{User: strings.TrimSpace(r.PostFormValue("user")), Role: r.PostFormValue("role")}
	if _, err := h.authority.AddMember(r.Context(), project, in); err != nil {
		return err
	}
	redirect(w, r, "/projects/"+pathEscape(project)+"/members", "member")
	return nil
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	if err := h.authority.RemoveMember(r.Context(), project, r.PostFormValue("user"), r.PostFormValue("role")); err != nil {
		return err
	}
	redirect(w, r, "/projects/"+pathEscape(project)+"/members", "unbound")
	return nil
}

type usersView struct {
	Users []*keyward.User
	Next  string
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request) error {
	pg, err := h.authority.ListUsers(r.Context(), r.URL.Query().Get("cursor"), pageSize)
	if err != nil {
		return err
	}
	h.render(w, h.newPage(r, "Users"), "users.html", usersView{Users: pg.Items, Next: pg.NextCursor})
	return nil
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) error {
	u, err := h.authority.CreateUser(r.Context(), keyward.CreateUserInput{Name: strings.TrimSpace(r.PostFormValue("name")),
		Password: r.PostFormValue("password")})
	if err != nil {
		return err
	}
	redirect(w, r, "/users/"+pathEscape(u.Name), "user")
	return nil
}

type userView struct {
	U        *keyward.User
	Bindings []keyward.Binding
	Roles    []*keyward.Role // those the caller may grant globally
	Self     bool
}

func (h *Handler) user(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := h.authority.User(ctx, r.PathValue("user"))
	if err != nil {
		return err
	}
	bs, err := h.authority.UserRoles(ctx, u.Name)
	if err != nil {
		return err
	}
	c := keyward.CallerFrom(ctx)
	v := userView{U: u, Bindings: bs, Self: u.ID == c.User.ID}
	roles, err := h.authority.Roles(ctx)
	if err != nil {
		return err
	}
	for _, role := range roles {
		if grantable(c, role, 0) {
			v.Roles = append(v.Roles, role)
		}
	}
	h.render(w, h.newPage(r, "User "+u.Name), "user.html", v)
	return nil
}

// userAction runs one of a user page's buttons; each is one authority call.
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ref := r.PathValue("user")
	back := "/users/" + pathEscape(ref)
	var done string
	switch r.PathValue("action") {
	case "disable", "enable":
		disabled := r.PathValue("action") == "disable"
		if _, err := h.authority.UpdateUser(ctx, ref, keyward.UpdateUserInput{Disabled: &disabled}); err != nil {
			return err
		}
		done = r.PathValue("action") + "d"
	case "password":
		if err := h.authority.SetPassword(ctx, ref, keyward.SetPasswordInput{Password: r.PostFormValue("password")}); err != nil {
			return err
		}
		done = "password"
	case "grant":
		if _, err := h.authority.GrantGlobalRole(ctx, ref, r.PostFormValue("role")); err != nil {
			return err
		}
		done = "granted"
	case "ungrant":
		if err := h.authority.RevokeGlobalRole(ctx, ref, r.PostFormValue("role")); err != nil {
			return err
		}
		done = "unbound"
	case "sessions":
		if _, err := h.authority.RevokeSessions(ctx, ref); err != nil {
			return err
		}
		done = "sessions"
	case "delete":
		if r.PostFormValue("confirm") != ref {
			return keyward.Invalid("confirm", "type the user's name to confirm")
		}
		if _, err := h.authority.DeleteUser(ctx, ref); err != nil {
			return err
		}
		redirect(w, r, "/users", "deleted")
		return nil
	default:
		return keyward.Errorf(keyward.ENotFound, "no such action")
	}
	redirect(w, r, back, done)
	return nil
}

type rolesView struct {
	Roles       []*keyward.Role
	Permissions []keyward.Permission // those the caller may put into a role
	CanCreate   bool
}

func (h *Handler) roles(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	roles, err := h.authority.Roles(ctx)
	if err != nil {
		return err
	}
	c := keyward.CallerFrom(ctx)
	v := rolesView{Roles: roles, CanCreate: c.Can(keyward.PermRolesAdmin, 0)}
	for _, p := range keyward.AllPermissions {
		if c.Can(p, 0) {
			v.Permissions = append(v.Permissions, p)
		}
	}
	h.render(w, h.newPage(r, "Roles"), "roles.html", v)
	return nil
}

func (h *Handler) createRole(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	in := keyward.RoleInput{Name: strings.TrimSpace(r.PostFormValue("name"))}
	for _, p := range r.PostForm["permissions"] {
		in.Permissions = append(in.Permissions, keyward.Permission(p))
	}
	if _, err := h.authority.CreateRole(r.Context(), in); err != nil {
		return err
	}
	redirect(w, r, "/roles", "role")
	return nil
}

type clustersView struct {
	Clusters  []*keyward.Cluster
	CanCreate bool
}

func (h *Handler) clusters(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cs, err := h.authority.Clusters(ctx)
	if err != nil {
		return err
	}
	c := keyward.CallerFrom(ctx)
	h.render(w, h.newPage(r, "Clusters"), "clusters.html", clustersView{Clusters: cs, CanCreate: c.Can(keyward.PermClustersAdmin, 0)})
	return nil
}

func (h *Handler) createCluster(w http.ResponseWriter, r *http.Request) error {
	in := keyward.ClusterInput{Name: strings.TrimSpace(r.PostFormValue("name")), Server: strings.TrimSpace(r.PostFormValue("server")),
		CertificateAuthority: r.PostFormValue("certificate_authority")}
	if _, err := h.authority.CreateCluster(r.Context(), in); err != nil {
		return err
	}
	redirect(w, r, "/clusters", "cluster")
	return nil
}

type auditView struct {
	Rows       []eventRow
	Project    string
	Credential string
	Next       string
}

func (h *Handler) audit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	v := auditView{Project: strings.TrimSpace(q.Get("project")), Credential: strings.TrimSpace(q.Get("credential"))}
	in := authority.ListEventsInput{Project: v.Project, Cursor: q.Get("cursor"), Limit: pageSize}
	if v.Credential != "" {
		id, err := strconv.ParseInt(v.Credential, 10, 64)
		if err != nil {
			if v.Project == "" {
				return keyward.Invalid("credential", "give a project to find a credential by name, or its numeric id")
			}
			c, err := h.authority.Credential(ctx, v.Project, v.Credential)
			if err != nil {
				return err
			}
			id = c.ID
		}
		in.CredentialID = id
	}
	pg, err := h.authority.ListEvents(ctx, in)
	if err != nil {
		return err
	}
	projects := map[int64]string{}
	if list, err := h.authority.ListProjects(ctx, "", authority.MaxPageSize); err == nil {
		for _, p := range list.Items {
			projects[p.ID] = p.Slug
		}
	}
	v.Rows, v.Next = eventRows(pg.Items, projects), pg.NextCursor
	h.render(w, h.newPage(r, "Audit log"), "audit.html", v)
	return nil
}

type accountView struct {
	U        *keyward.User
	Bindings []keyward.Binding
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c := keyward.CallerFrom(ctx)
	bs, err := h.authority.UserRoles(ctx, c.User.Name)
	if err != nil {
		return err
	}
	h.render(w, h.newPage(r, "Your account"), "account.html", accountView{U: c.User, Bindings: bs})
	return nil
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	c := keyward.CallerFrom(r.Context())
	in := keyward.SetPasswordInput{Password: r.PostFormValue("password"), CurrentPassword: r.PostFormValue("current_password")}
	if err := h.authority.SetPassword(r.Context(), c.User.Name, in); err != nil {
		return err
	}
	redirect(w, r, "/account", "password")
	return nil
}
