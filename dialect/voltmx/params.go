package voltmx

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi/jsonbody"
)

// params are a request's parameters by name: from the query string and from a form or JSON
// body, each given at most once.
type params map[string]string

// readParams reads the parameters of r and refuses any not in known: a misspelt neverExpires
// must not pass unnoticed. The body is application/x-www-form-urlencoded, as the vendor
// documents, or one JSON object whose values are strings or true/false (null counts as
// absent).
func readParams(r *http.Request, known ...string) (params, error) {
	p := params{}
	add := func(k, v string) error {
		if !slices.Contains(known, k) {
			return keyward.Invalid(k, "is not a parameter of this operation; known: "+strings.Join(known, ", "))
		}
		if _, dup := p[k]; dup {
			return keyward.Invalid(k, "is given more than once")
		}
		p[k] = v
		return nil
	}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
	}
	body, err := jsonbody.Read(r)
	if err != nil {
		return nil, jsonbody.Refusal(err, nil)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	mt, isJSON := jsonbody.Accepts(r, jsonbody.JSON...)
	switch {
	case mt == "":
		return nil, keyward.Errorf(keyward.EUnsupported, "Send the body as application/x-www-form-urlencoded or application/json, and say so in Content-Type")
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, keyward.Errorf(keyward.EInvalid, "the form body is malformed")
		}
		for k, vs := range form {
			for _, v := range vs {
				if err := add(k, v); err != nil {
					return nil, err
				}
			}
		}
	case isJSON:
		fields, err := jsonObject(body)
		if err != nil {
			return nil, err
		}
		for k, raw := range fields {
			v, present, err := jsonScalar(k, raw)
			if err != nil {
				return nil, err
			}
			if present {
				if err := add(k, v); err != nil {
					return nil, err
				}
			}
		}
	default:
		return nil, keyward.Errorf(keyward.EUnsupported, "The body must be application/x-www-form-urlencoded or application/json, not %s", mt)
	}
	return p, nil
}

// jsonObject decodes a body that must be exactly one JSON object.
func jsonObject(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := jsonbody.Unmarshal(body, &fields, false); err != nil || fields == nil {
		var text *jsonbody.Error
		if errors.As(err, &text) && text.Kind == jsonbody.Text {
			return nil, text.Keyward(nil)
		}
		return nil, keyward.Errorf(keyward.EInvalid, "the body must be one JSON object")
	}
	return fields, nil
}

// jsonScalar turns a JSON value into the string a form would carry: a string as it is, true
// and false as words. present is false for null.
func jsonScalar(k string, raw json.RawMessage) (v string, present bool, err error) {
	switch t := bytes.TrimSpace(raw); {
	case string(t) == "null":
		return "", false, nil
	case string(t) == "true" || string(t) == "false":
		return string(t), true, nil
	case len(t) > 0 && t[0] == '"':
		if err := json.Unmarshal(t, &v); err != nil {
			return "", false, keyward.Invalid(k, "must be a string")
		}
		return v, true, nil
	}
	return "", false, keyward.Invalid(k, "must be a JSON string or boolean")
}

// bool reads a boolean parameter: absent (or empty, as an HTML form sends an unset field)
// gives given false.
func (p params) bool(k string) (v, given bool, err error) {
	s := strings.TrimSpace(p[k])
	if s == "" {
		return false, false, nil
	}
	v, err = strconv.ParseBool(s)
	if err != nil {
		return false, false, keyward.Invalid(k, "must be true or false")
	}
	return v, true, nil
}

// Layout is the vendor's date format, mm/dd/yyyy hh:mm:ss, in Go's notation. Dates are written
// in it followed by the zone's abbreviation.
const Layout = "01/02/2006 15:04:05"

// parseLayout reads Layout and also takes one-digit months, days and hours.
const parseLayout = "1/2/2006 15:04:05"

// parseTime reads an expiresOn: mm/dd/yyyy hh:mm:ss in the handler's zone, optionally followed
// by a zone abbreviation (UTC or GMT, or the handler zone's own, as this API writes dates), or
// an RFC 3339 timestamp.
func (h *Handler) parseTime(field, s string) (time.Time, error) {
	s = strings.Join(strings.Fields(s), " ")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	bad := keyward.Invalid(field, "must be a date and time as mm/dd/yyyy hh:mm:ss")
	parts := strings.Split(s, " ")
	if len(parts) < 2 || len(parts) > 3 {
		return time.Time{}, bad
	}
	local, zone := parts[0]+" "+parts[1], ""
	if len(parts) == 3 {
		zone = parts[2]
	}
	loc, utc := h.loc, zone == "UTC" || zone == "GMT" || zone == "Z"
	if utc {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(parseLayout, local, loc)
	if err != nil {
		return time.Time{}, bad
	}
	if abbr, _ := t.Zone(); zone != "" && !utc && zone != abbr {
		return time.Time{}, keyward.Invalid(field, "names the zone "+strconv.Quote(zone)+"; give the time in "+h.loc.String()+" or in UTC")
	}
	return t, nil
}

// formatTime writes a time as this API does: Layout in the handler's zone and its abbreviation.
func (h *Handler) formatTime(t time.Time) string {
	return t.In(h.loc).Format(Layout + " MST")
}
