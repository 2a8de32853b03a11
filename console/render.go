package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/humanize"
)

// page is what every template gets: the frame (title, user, navigation, CSRF token, messages)
// and the page's own view in Data.
type page struct {
	Title  string
	Status int
	User   string // the logged-in user's name, "" on the login page
	CSRF   string
	Nav    nav
	Flash  string
	Error  string
	Data   any
}

// nav says which administration pages the caller may open.
type nav struct {
	Users, Roles, Clusters, Audit bool
}

func (h *Handler) newPage(r *http.Request, title string) *page {
	p := &page{Title: title, Status: http.StatusOK, Flash: flashes[r.URL.Query().Get("done")]}
	if s := sessionFrom(r.Context()); s != nil {
		c := s.caller
		p.User, p.CSRF = c.User.Name, s.csrf
		p.Nav = nav{Users: c.Can(keyward.PermUsersAdmin, 0), Roles: true, Clusters: true, Audit: canSomewhere(c, keyward.PermAuditRead)}
	}
	return p
}

// canSomewhere reports whether c holds p globally or in some project.
func canSomewhere(c *keyward.Caller, p keyward.Permission) bool {
	for _, g := range c.Grants {
		if g[p] {
			return true
		}
	}
	return false
}

// flashes are the messages a redirect after a POST may ask for (?done=...): a fixed set, so
// that no text of the URL reaches the page.
var flashes = map[string]string{
	"renewed": "Renewed.", "disabled": "Disabled.", "enabled": "Enabled.", "revoked": "Revoked.",
	"project": "Project created.", "member": "Member added.", "unbound": "Role binding removed.",
	"user": "User created.", "password": "Password set.", "role": "Role created.", "cluster": "Cluster registered.",
	"granted": "Role granted.", "deleted": "User deleted.", "sessions": "Sessions ended.",
}

// redirect answers a POST with 303 to target and, optionally, a flash message's name.
func redirect(w http.ResponseWriter, r *http.Request, target, done string) {
	if done != "" {
		target += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

var funcs = template.FuncMap{
	"when":  when,
	"ago":   ago,
	"join":  strings.Join,
	"path":  pathEscape,
	"query": query,
	"list":  func(s ...string) []string { return s },
}

// parsePages parses each page with the layout and the partials every page may use.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		pages[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n))
	}
	return pages
}

// render writes p with data as its view; a template that fails is a bug, answered 500.
func (h *Handler) render(w http.ResponseWriter, p *page, name string, data any) {
	p.Data = data
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.logger.Error("console template failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.Status)
	w.Write(buf.Bytes())
}

// when formats an instant for a table: UTC, to the minute.
func when(t any) string {
	switch v := t.(type) {
	case *time.Time:
		if v == nil {
			return "—"
		}
		return v.UTC().Format("2006-01-02 15:04 UTC")
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04 UTC")
	}
	return ""
}

// ago says how long before now t was, or "never".
func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	if now.Before(*t) {
		return "just now"
	}
	return humanize.Duration(now.Sub(*t)) + " ago"
}

// expiresIn says when a credential stops (or starts) being valid, relative to now.
func expiresIn(c *keyward.Credential, now time.Time) string {
	if c.RevokedAt != nil {
		return "revoked"
	}
	return humanize.Expiry(c.NotBefore, c.ExpiresAt, now)
}

// pathEscape escapes one path segment (a name or slug) for an href.
func pathEscape(s string) string { return url.PathEscape(s) }

// query builds a query string from pairs, leaving out empty values.
func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
