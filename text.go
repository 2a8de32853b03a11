package keyward

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// TextRule says what ValidText accepts, for the errors that refuse a string.
const TextRule = "must be valid UTF-8 without NUL bytes"

// ValidText reports whether s can be stored and sent on: valid UTF-8 holding no NUL byte.
// PostgreSQL's text refuses both, and SQLite would store them only to fail a copy later, so
// every layer that takes a string from outside refuses what this refuses.
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// ValidTextBytes is ValidText on bytes, without converting them (a copy per request body).
func ValidTextBytes(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

// Text names one loose string for CheckText: a password hash, a setting's key.
type Text struct {
	Field, Value string
}

// CheckText returns an EInvalid naming the first string field that ValidText refuses among
// values, which may be *Project, *User, *Role, *Credential, *Certificate, *Cluster, *WebhookEndpoint, *Event,
// *Bootstrap or Text (nil pointers are skipped), and nil when every one is valid. Both stores
// call it before they write any of these, so that the engines refuse the same inputs alike.
// The error never repeats the value.
func CheckText(values ...any) error {
	for _, v := range values {
		if field := badTextField(v); field != "" {
			return Invalid(field, TextRule)
		}
	}
	return nil
}

// badTextField returns the name of v's first invalid string field, or "".
func badTextField(v any) string {
	var fs fieldList
	switch v := v.(type) {
	case nil:
	case Text:
		fs.add(v.Field, v.Value)
	case *Project:
		if v != nil {
			fs.add("slug", v.Slug).add("name", v.Name)
		}
	case *User:
		if v != nil {
			fs.add("name", v.Name)
		}
	case *Role:
		if v != nil {
			fs.add("name", v.Name)
			for _, p := range v.Permissions {
				fs.add("permissions", string(p))
			}
		}
	case *Credential:
		if v != nil {
			fs.add("name", v.Name).add("description", v.Description).add("type", string(v.Type)).
				add("environment", string(v.Environment)).add("key_type", string(v.KeyType)).
				add("start", v.Start).add("serial", v.Serial).add("fingerprint", v.Fingerprint).
				add("virtual_k8s_name", v.Cluster).add("virtual_k8s_namespace", v.Namespace).
				add("purpose", v.Purpose).addMap("meta", v.Meta)
			if v.Refill != nil {
				fs.add("refill", v.Refill.Interval)
			}
		}
	case *Certificate:
		if v != nil {
			fs.add("serial", v.Serial).add("fingerprint", v.Fingerprint)
		}
	case *Cluster:
		if v != nil {
			fs.add("name", v.Name).add("server", v.Server).add("certificate_authority", v.CAPEM)
		}
	case *WebhookEndpoint:
		if v != nil {
			fs.add("url", v.URL).add("description", v.Description)
			for _, t := range v.Types {
				fs.add("types", t)
			}
		}
	case *Event:
		if v != nil {
			fs.add("actor", v.Actor).add("action", v.Action).add("remote_addr", v.RemoteAddr).
				add("outcome", v.Outcome).addMap("detail", v.Detail)
		}
	case *Bootstrap:
		if v != nil {
			for _, part := range []any{v.Project, v.Admin, v.Credential, v.Event} {
				if f := badTextField(part); f != "" {
					return f
				}
			}
			for _, r := range v.Roles {
				if f := badTextField(r); f != "" {
					return f
				}
			}
		}
	default:
		// A type this function does not know would pass unchecked: refuse it loudly in tests.
		panic("keyward.CheckText: unsupported type")
	}
	return fs.bad
}

// fieldList remembers the first field whose value ValidText refuses.
type fieldList struct{ bad string }

func (l *fieldList) add(field, value string) *fieldList {
	if l.bad == "" && !ValidText(value) {
		l.bad = field
	}
	return l
}

func (l *fieldList) addMap(field string, m map[string]string) *fieldList {
	for k, v := range m {
		l.add(field, k).add(field, v)
	}
	return l
}
