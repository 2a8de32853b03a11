package snapshot

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// InvalidTextError is returned (wrapped) by Import and Copy for a snapshot holding a string
// that keyward.ValidText refuses: a NUL byte or invalid UTF-8, which old SQLite stores may
// hold and PostgreSQL cannot store. Nothing is written then.
type InvalidTextError struct {
	// Places name each such value as "table id field", never the value itself.
	Places []string
}

func (e *InvalidTextError) Error() string {
	return fmt.Sprintf("%d value(s) hold a NUL byte or invalid UTF-8, which keyward no longer stores:\n  %s",
		len(e.Places), strings.Join(e.Places, "\n  "))
}

// InvalidText lists, in table order, every string of s that keyward.ValidText refuses, as
// "table id field" (a credential's meta or an event's detail counts once per entry).
func (s *Snapshot) InvalidText() []string {
	var out []string
	s.eachText(func(place string, v string, _ func(string)) {
		if !keyward.ValidText(v) {
			out = append(out, place)
		}
	})
	return out
}

// ReplaceInvalidText makes every string of s valid, replacing each NUL byte and each invalid
// UTF-8 sequence by U+FFFD, and lists what it changed as InvalidText does. Names that become
// equal by it make the import fail (a name taken), and then nothing is written.
func (s *Snapshot) ReplaceInvalidText() []string {
	var out []string
	s.eachText(func(place string, v string, set func(string)) {
		if !keyward.ValidText(v) {
			out = append(out, place)
			set(ValidText(v))
		}
	})
	return out
}

// ValidText returns v with each NUL byte and each invalid UTF-8 sequence replaced by U+FFFD.
func ValidText(v string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "\uFFFD")
}

// eachText calls fn for every string s holds, with a place that names it and a function that
// replaces it.
func (s *Snapshot) eachText(fn func(place, v string, set func(string))) {
	str := func(table string, id any, field string, p *string) {
		fn(fmt.Sprintf("%s %v %s", table, id, field), *p, func(v string) { *p = v })
	}
	// strMap returns m, or a new map when fn replaced a key or a value.
	strMap := func(table string, id any, field string, m map[string]string) map[string]string {
		out, changed := make(map[string]string, len(m)), false
		for k, v := range m {
			place := fmt.Sprintf("%s %v %s", table, id, field)
			fn(place, k, func(nk string) { k, changed = nk, true })
			fn(place, v, func(nv string) { v, changed = nv, true })
			out[k] = v
		}
		if !changed {
			return m
		}
		return out
	}
	for i := range s.Projects {
		p := &s.Projects[i]
		str("project", p.ID, "slug", &p.Slug)
		str("project", p.ID, "name", &p.Name)
	}
	for i := range s.Users {
		u := &s.Users[i]
		str("user", u.ID, "name", &u.Name)
		str("user", u.ID, "password_hash", &u.PasswordHash)
	}
	for i := range s.Roles {
		r := &s.Roles[i]
		str("role", r.ID, "name", &r.Name)
		for j := range r.Permissions {
			v := string(r.Permissions[j])
			str("role", r.ID, "permissions", &v)
			r.Permissions[j] = keyward.Permission(v)
		}
	}
	for i := range s.Credentials {
		c := &s.Credentials[i]
		typ, env, kt := string(c.Type), string(c.Environment), string(c.KeyType)
		for _, f := range []struct {
			name string
			p    *string
		}{
			{"name", &c.Name}, {"description", &c.Description}, {"type", &typ}, {"environment", &env},
			{"key_type", &kt}, {"start", &c.Start}, {"serial", &c.Serial}, {"fingerprint", &c.Fingerprint},
			{"virtual_k8s_name", &c.Cluster}, {"virtual_k8s_namespace", &c.Namespace}, {"purpose", &c.Purpose},
		} {
			str("credential", c.ID, f.name, f.p)
		}
		c.Type, c.Environment, c.KeyType = keyward.CredentialType(typ), keyward.Environment(env), keyward.KeyType(kt)
		if c.Refill != nil {
			str("credential", c.ID, "refill", &c.Refill.Interval)
		}
		c.Meta = strMap("credential", c.ID, "meta", c.Meta)
	}
	for i := range s.Certificates {
		k := &s.Certificates[i]
		// The serial may be what is wrong: name the certificate by its credential and position.
		id := "of credential " + strconv.FormatInt(k.CredentialID, 10) + " #" + strconv.Itoa(i+1)
		str("certificate", id, "serial", &k.Serial)
		str("certificate", id, "fingerprint", &k.Fingerprint)
	}
	for i := range s.Clusters {
		cl := &s.Clusters[i]
		str("cluster", cl.ID, "name", &cl.Name)
		str("cluster", cl.ID, "server", &cl.Server)
		str("cluster", cl.ID, "certificate_authority", &cl.CAPEM)
	}
	for i := range s.Settings {
		str("setting", "#"+strconv.Itoa(i+1), "key", &s.Settings[i].Key)
	}
	for i := range s.Events {
		ev := &s.Events[i]
		str("event", ev.ID, "actor", &ev.Actor)
		str("event", ev.ID, "action", &ev.Action)
		str("event", ev.ID, "remote_addr", &ev.RemoteAddr)
		str("event", ev.ID, "outcome", &ev.Outcome)
		ev.Detail = strMap("event", ev.ID, "detail", ev.Detail)
	}
	for i := range s.Usage {
		str("usage", "of credential "+strconv.FormatInt(s.Usage[i].CredentialID, 10)+" #"+strconv.Itoa(i+1), "code", &s.Usage[i].Code)
	}
}
