package console

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
)

// pageSize is how many rows a table shows at a time.
const pageSize = 50

// searchPages bounds how many pages of the authority's listing a name search reads for one
// page of results, so that a search over a huge project stays one quick request.
const searchPages = 20

type projectsView struct {
	Projects  []*keyward.Project
	Next      string
	CanCreate bool
}

func (h *Handler) projects(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pg, err := h.authority.ListProjects(ctx, r.URL.Query().Get("cursor"), pageSize)
	if err != nil {
		return err
	}
	c := keyward.CallerFrom(ctx)
	h.render(w, h.newPage(r, "Projects"), "projects.html", projectsView{Projects: pg.Items, Next: pg.NextCursor,
		CanCreate: c.Can(keyward.PermProjectsAdmin, 0)})
	return nil
}

func (h *Handler) createProject(w http.ResponseWriter, r *http.Request) error {
	p, err := h.authority.CreateProject(r.Context(), keyward.CreateProjectInput{Slug: r.PostFormValue("slug"), Name: r.PostFormValue("name")})
	if err != nil {
		return err
	}
	redirect(w, r, "/projects/"+pathEscape(p.Slug), "project")
	return nil
}

// credentialFilter is the credentials table's query: the authority's filters and a search by
// name, which the console applies to the rows it lists.
type credentialFilter struct {
	State, Type, Environment, Q string
}

type credentialRow struct {
	Name, Type, Environment, State, Expires, LastUsed, Creator, Roles string
}

type credentialsView struct {
	Project   *keyward.Project
	Rows      []credentialRow
	Filter    credentialFilter
	States    []keyward.State
	Types     []keyward.CredentialType
	Next      string
	CanCreate bool
	CanAdmin  bool
	Usage     *usageView
}

func (h *Handler) credentials(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := h.authority.Project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := credentialFilter{State: q.Get("state"), Type: q.Get("type"), Environment: q.Get("environment"), Q: strings.TrimSpace(q.Get("q"))}
	in := authority.ListCredentialsInput{State: keyward.State(f.State), Type: keyward.CredentialType(f.Type),
		Environment: keyward.Environment(f.Environment), Cursor: q.Get("cursor"), Limit: pageSize}
	var (
		items []*keyward.Credential
		next  string
	)
	for range searchPages {
		pg, err := h.authority.ListCredentials(ctx, p.Slug, in)
		if err != nil {
			return err
		}
		for _, c := range pg.Items {
			if f.Q == "" || strings.Contains(strings.ToLower(c.Name), strings.ToLower(f.Q)) {
				items = append(items, c)
			}
		}
		next = pg.NextCursor
		if f.Q == "" || next == "" || len(items) >= pageSize {
			break
		}
		in.Cursor = next
	}
	n := h.names(ctx, p.ID)
	now := h.now()
	v := credentialsView{Project: p, Filter: f, States: []keyward.State{keyward.StateActive, keyward.StatePending,
		keyward.StateExpired, keyward.StateDisabled, keyward.StateRevoked}, Types: keyward.CredentialTypes, Next: next}
	for _, c := range items {
		v.Rows = append(v.Rows, credentialRow{Name: c.Name, Type: string(c.Type), Environment: string(c.Environment),
			State: string(c.State), Expires: expiresIn(c, now), LastUsed: ago(c.LastUsedAt, now),
			Creator: n.user(ctx, c.CreatedBy), Roles: n.roleList(c.RoleIDs)})
	}
	caller := keyward.CallerFrom(ctx)
	v.CanCreate = caller.Can(keyward.PermKeysCreate, p.ID)
	v.CanAdmin = caller.Can(keyward.PermProjectsRead, p.ID)
	v.Usage = h.projectUsage(ctx, p)
	h.render(w, h.newPage(r, p.Name), "credentials.html", v)
	return nil
}

// names turns the ids a credential holds into names, asking the authority only what the caller
// may ask, so that decorating a page never records a refusal in the audit log.
type names struct {
	h      *Handler
	roles  map[int64]string
	users  map[int64]string
	admin  bool // users:admin: any user may be looked up
	roleOK bool
}

func (h *Handler) names(ctx context.Context, projectID int64) *names {
	c := keyward.CallerFrom(ctx)
	n := &names{h: h, roles: map[int64]string{}, users: map[int64]string{c.User.ID: c.User.Name}, admin: c.Can(keyward.PermUsersAdmin, 0)}
	if roles, err := h.authority.Roles(ctx); err == nil {
		n.roleOK = true
		for _, r := range roles {
			n.roles[r.ID] = r.Name
		}
	}
	if projectID != 0 && c.Can(keyward.PermProjectsRead, projectID) {
		if bs, err := h.authority.Members(ctx, strconv.FormatInt(projectID, 10)); err == nil {
			for _, b := range bs {
				n.users[b.UserID] = b.User
			}
		}
	}
	return n
}

func (n *names) user(ctx context.Context, id int64) string {
	if name, ok := n.users[id]; ok {
		return name
	}
	if n.admin {
		if u, err := n.h.authority.User(ctx, strconv.FormatInt(id, 10)); err == nil {
			n.users[id] = u.Name
			return u.Name
		}
	}
	return "user " + strconv.FormatInt(id, 10)
}

func (n *names) roleList(ids []int64) string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if name, ok := n.roles[id]; ok {
			out = append(out, name)
		} else {
			out = append(out, strconv.FormatInt(id, 10))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

type eventRow struct {
	Time, Actor, Action, Outcome, Detail, Project, RemoteAddr string
	CredentialID                                              int64
}

func eventRows(evs []*keyward.Event, projects map[int64]string) []eventRow {
	rows := make([]eventRow, 0, len(evs))
	for _, e := range evs {
		keys := make([]string, 0, len(e.Detail))
		for k := range e.Detail {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+e.Detail[k])
		}
		rows = append(rows, eventRow{Time: when(e.Time), Actor: e.Actor, Action: e.Action, Outcome: e.Outcome,
			Detail: strings.Join(parts, " "), Project: projects[e.ProjectID], RemoteAddr: e.RemoteAddr, CredentialID: e.CredentialID})
	}
	return rows
}

type credentialView struct {
	Project                          *keyward.Project
	C                                *keyward.Credential
	Roles, Creator, Expires, LastUse string
	Events                           []eventRow
	CanRenew, CanRoll, CanUpdate     bool
	CanRevoke, CanAudit              bool
	Usage                            *usageView
}

func (h *Handler) credential(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, c, err := h.projectCredential(r)
	if err != nil {
		return err
	}
	caller := keyward.CallerFrom(ctx)
	n := h.names(ctx, p.ID)
	now := h.now()
	live := c.State != keyward.StateRevoked
	v := credentialView{Project: p, C: c, Roles: n.roleList(c.RoleIDs), Creator: n.user(ctx, c.CreatedBy),
		Expires: expiresIn(c, now), LastUse: ago(c.LastUsedAt, now),
		CanRenew:  live && c.Type == keyward.APIToken && caller.Can(keyward.PermKeysRenew, p.ID),
		CanRoll:   live && caller.Can(keyward.PermKeysRoll, p.ID),
		CanUpdate: live && caller.Can(keyward.PermKeysUpdate, p.ID),
		CanRevoke: live && caller.Can(keyward.PermKeysRevoke, p.ID),
		CanAudit:  caller.Can(keyward.PermAuditRead, p.ID)}
	if v.CanAudit {
		evs, err := h.authority.ListEvents(ctx, authority.ListEventsInput{Project: p.Slug, CredentialID: c.ID, Limit: pageSize})
		if err != nil {
			return err
		}
		v.Events = eventRows(evs.Items, map[int64]string{p.ID: p.Slug})
	}
	v.Usage = h.credentialUsage(ctx, p, c)
	h.render(w, h.newPage(r, c.Name), "credential.html", v)
	return nil
}

type newCredentialView struct {
	Project  *keyward.Project
	Roles    []*keyward.Role // only those the caller may grant here
	Clusters []*keyward.Cluster
	Types    []keyward.CredentialType
	Form     createForm
}

// createForm is the create form as sent, to fill it again when the authority refuses it. The
// password is never sent back.
type createForm struct {
	Type, Name, Description, Environment, ExpirationDays, Cluster, Namespace string
	NeverExpires                                                             bool
	Roles                                                                    []string
}

func (f createForm) Has(role string) bool { return slices.Contains(f.Roles, role) }

func (h *Handler) newCredential(w http.ResponseWriter, r *http.Request) error {
	return h.renderNew(w, r, createForm{Type: string(keyward.APIToken), Environment: string(keyward.Live), ExpirationDays: "90"}, nil)
}

func (h *Handler) renderNew(w http.ResponseWriter, r *http.Request, f createForm, failed error) error {
	ctx := r.Context()
	p, err := h.authority.Project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	caller := keyward.CallerFrom(ctx)
	if !caller.Can(keyward.PermKeysCreate, p.ID) {
		return keyward.Errorf(keyward.EForbidden, "you may not create credentials in project %q", p.Slug)
	}
	v := newCredentialView{Project: p, Types: keyward.CredentialTypes, Form: f}
	roles, err := h.authority.Roles(ctx)
	if err != nil {
		return err
	}
	for _, role := range roles {
		if grantable(caller, role, p.ID) {
			v.Roles = append(v.Roles, role)
		}
	}
	if v.Clusters, err = h.authority.Clusters(ctx); err != nil {
		return err
	}
	pg := h.newPage(r, "New credential in "+p.Name)
	if failed != nil {
		pg.Status = statusOf(keyward.ErrorCode(failed))
		pg.Error = keyward.ErrorMessage(failed)
	}
	h.render(w, pg, "new.html", v)
	return nil
}

// grantable reports whether c holds every permission of role in project: the roles a new
// credential may get. The authority decides; this only keeps the form from offering the rest.
func grantable(c *keyward.Caller, role *keyward.Role, projectID int64) bool {
	for _, p := range role.Permissions {
		if !c.Can(p, projectID) {
			return false
		}
	}
	return true
}

func (h *Handler) createCredential(w http.ResponseWriter, r *http.Request) error {
	r.ParseForm()
	f := createForm{Type: r.PostFormValue("type"), Name: strings.TrimSpace(r.PostFormValue("name")),
		Description: r.PostFormValue("description"), Environment: r.PostFormValue("environment"),
		ExpirationDays: strings.TrimSpace(r.PostFormValue("expiration_days")), NeverExpires: r.PostFormValue("never_expires") == "on",
		Cluster: r.PostFormValue("cluster"), Namespace: r.PostFormValue("namespace"), Roles: r.PostForm["roles"]}
	in := keyward.CreateCredentialInput{Type: keyward.CredentialType(f.Type), Name: f.Name, Description: f.Description,
		Environment: keyward.Environment(f.Environment), NeverExpires: f.NeverExpires, Roles: f.Roles}
	if !f.NeverExpires && f.ExpirationDays != "" {
		days, err := strconv.ParseInt(f.ExpirationDays, 10, 64)
		if err != nil {
			return h.renderNew(w, r, f, keyward.Invalid("expiration_days", "must be a whole number of days"))
		}
		in.ExpirationDays = &days
	}
	if in.Type == keyward.APICertificate {
		in.Password = r.PostFormValue("password")
	}
	if in.Type.ForCluster() {
		in.VirtualK8sName, in.VirtualK8sNamespace = f.Cluster, f.Namespace
	}
	issued, err := h.authority.CreateCredential(r.Context(), r.PathValue("project"), in)
	if err != nil {
		if keyward.ErrorCode(err) == keyward.EInternal {
			return err
		}
		return h.renderNew(w, r, f, err)
	}
	return h.renderIssued(w, r, issued, "Created "+issued.Name)
}

// issuedView is the page that shows a secret, once: in the response to the POST that made it,
// never at a URL that could be fetched again.
type issuedView struct {
	Project  string
	C        *keyward.Credential
	Key      string
	Data     template.URL // a data: URL of the bundle or kubeconfig, for a download link
	FileName string
	Kind     string
	Back     string // the credential's page, where the browser's history is moved (console.js)
}

func (h *Handler) renderIssued(w http.ResponseWriter, r *http.Request, ic *keyward.IssuedCredential, title string) error {
	v := issuedView{Project: ic.Project, C: &ic.Credential, Key: ic.Key,
		Back: "/projects/" + pathEscape(ic.Project) + "/credentials/" + pathEscape(ic.Name)}
	if ic.Data != "" {
		switch ic.Type {
		case keyward.APICertificate:
			v.Kind, v.FileName = "PKCS#12 bundle", ic.Name+".p12"
			v.Data = template.URL("data:application/x-pkcs12;base64," + ic.Data)
		default:
			v.Kind, v.FileName = "kubeconfig", ic.Name+".kubeconfig"
			v.Data = template.URL("data:application/yaml;base64," + ic.Data)
		}
	}
	h.render(w, h.newPage(r, title), "issued.html", v)
	return nil
}

type revokeView struct {
	Project *keyward.Project
	C       *keyward.Credential
}

// projectCredential reads the project and the credential a credential page's path names.
func (h *Handler) projectCredential(r *http.Request) (*keyward.Project, *keyward.Credential, error) {
	p, err := h.authority.Project(r.Context(), r.PathValue("project"))
	if err != nil {
		return nil, nil, err
	}
	c, err := h.authority.Credential(r.Context(), p.Slug, r.PathValue("ref"))
	return p, c, err
}

func (h *Handler) confirmRevoke(w http.ResponseWriter, r *http.Request) error {
	p, c, err := h.projectCredential(r)
	if err != nil {
		return err
	}
	h.render(w, h.newPage(r, "Revoke "+c.Name), "revoke.html", revokeView{Project: p, C: c})
	return nil
}

// credentialAction runs one of the credential page's buttons.
func (h *Handler) credentialAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	project, ref := r.PathValue("project"), r.PathValue("ref")
	back := "/projects/" + pathEscape(project) + "/credentials/" + pathEscape(ref)
	switch r.PathValue("action") {
	case "renew":
		days, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("expiration_days")), 10, 64)
		if err != nil {
			return keyward.Invalid("expiration_days", "must be a whole number of days")
		}
		if _, err := h.authority.RenewCredential(ctx, project, ref, keyward.RenewInput{ExpirationDays: &days}); err != nil {
			return err
		}
		redirect(w, r, back, "renewed")
	case "roll":
		grace, err := strconv.ParseInt(r.PostFormValue("grace_seconds"), 10, 64)
		if err != nil {
			return keyward.Invalid("grace_seconds", "must be a whole number of seconds")
		}
		in := keyward.RollInput{GraceSeconds: grace}
		in.Password = r.PostFormValue("password")
		ic, err := h.authority.RollCredential(ctx, project, ref, in)
		if err != nil {
			return err
		}
		return h.renderIssued(w, r, ic, "Rolled "+ic.Name)
	case "disable", "enable":
		active := r.PathValue("action") == "enable"
		if _, err := h.authority.UpdateCredential(ctx, project, ref, keyward.UpdateCredentialInput{Active: &active}); err != nil {
			return err
		}
		redirect(w, r, back, r.PathValue("action")+"d")
	case "revoke":
		if r.PostFormValue("confirm") != ref {
			return keyward.Invalid("confirm", "type the credential's name to confirm")
		}
		if _, err := h.authority.RevokeCredential(ctx, project, ref); err != nil {
			return err
		}
		redirect(w, r, back, "revoked")
	default:
		return keyward.Errorf(keyward.ENotFound, "no such action")
	}
	return nil
}
