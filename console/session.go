package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/peer"
)

// cookieName holds the session token a password login returns.
const cookieName = "kw_session"

// csrfField is the form field every POST of a logged-in user carries.
const csrfField = "csrf"

// session is a logged-in request: the caller the cookie's token authenticates as, and the
// token's CSRF value.
type session struct {
	caller *keyward.Caller
	csrf   string
}

type sessionKey struct{}

func withSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// session authenticates r's cookie through the authority, as the API authenticates a bearer
// token. Only a login session passes: an API key put into the cookie by hand does not.
func (h *Handler) session(r *http.Request) (*session, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, keyward.Errorf(keyward.EUnauthenticated, "not logged in")
	}
	c, err := h.authority.Authenticate(r.Context(), ck.Value, peer.Host(r))
	if err != nil {
		return nil, err
	}
	if c.Credential == nil || c.Credential.Type != keyward.Session {
		return nil, keyward.Errorf(keyward.EUnauthenticated, "not a login session")
	}
	return &session{caller: c, csrf: csrfToken(ck.Value)}, nil
}

// csrfToken derives the session's CSRF token from its secret token: an HMAC that a page may show
// (it reveals nothing of the token), that no other site can compute, and that every replica
// computes alike without shared state. It ends with the session.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("keyward console csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares a form's token with the session's in constant time.
func (s *session) checkCSRF(got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrf))
}

// setCookie stores the session token: HttpOnly (no script reads it), SameSite=Strict (no other
// site's page sends it), Secure when the request came over TLS, and gone when the session ends.
// Max-Age rather than Expires, so that a browser whose clock is off keeps it as long.
func setCookie(w http.ResponseWriter, r *http.Request, token string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: max(int(ttl/time.Second), 1)})
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// Login is protected from cross-site forms by the shared guard's origin check (Sec-Fetch-Site,
// Origin), which refuses a POST from another site before it reaches loginPost; there is no
// session yet to bind a token to.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.session(r); err == nil {
		http.Redirect(w, r, "/projects", http.StatusSeeOther)
		return nil
	}
	h.render(w, h.newPage(r, "Log in"), "login.html", loginView{})
	return nil
}

type loginView struct {
	Name string
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	in := keyward.LoginInput{Name: r.PostFormValue("name"), Password: r.PostFormValue("password")}
	issued, err := h.authority.Login(r.Context(), in, peer.Host(r))
	if err != nil {
		code := keyward.ErrorCode(err)
		if code == keyward.EInternal {
			return err
		}
		p := h.newPage(r, "Log in")
		p.Status = statusOf(code)
		p.Error = keyward.ErrorMessage(err)
		h.render(w, p, "login.html", loginView{Name: in.Name})
		return nil
	}
	ttl := keyward.DefaultSessionTTL
	if issued.ExpiresAt != nil {
		ttl = issued.ExpiresAt.Sub(h.now())
	}
	setCookie(w, r, issued.Key, ttl)
	http.Redirect(w, r, "/projects", http.StatusSeeOther)
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.authority.Logout(r.Context()); err != nil {
		return err
	}
	clearCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
