package projectkeys

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/httpapi/jsonbody"
)

// TimeLayout is how this API writes instants: UTC, milliseconds, a literal Z, as the vendor's
// document shows them ("2022-08-24T12:48:29.365Z").
const TimeLayout = "2006-01-02T15:04:05.000Z"

// apiKey is the vendor's key object, the result of every operation but the list (whose result
// is an array of them).
type apiKey struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	APIKey string `json:"apiKey"`
	// StartDate is the key's not_before, or its creation when it has none: the first instant
	// it is valid.
	StartDate string `json:"startDate"`
	// ExpireDate is null for a key that never expires (HasExpireTime false).
	ExpireDate    *string `json:"expireDate"`
	HasExpireTime bool    `json:"hasExpireTime"`
	// RoleID is the key's role; a key given several roles through the native API shows the
	// lowest id.
	RoleID int64 `json:"roleId"`
}

// view renders c with key as its apiKey.
func view(c *keyward.Credential, key string) apiKey {
	start := c.CreatedAt
	if c.NotBefore != nil {
		start = *c.NotBefore
	}
	k := apiKey{ID: c.ID, Name: c.Name, APIKey: key, StartDate: formatTime(start), HasExpireTime: c.ExpiresAt != nil}
	if c.ExpiresAt != nil {
		s := formatTime(*c.ExpiresAt)
		k.ExpireDate = &s
	}
	if len(c.RoleIDs) > 0 {
		k.RoleID = slices.Min(c.RoleIDs)
	}
	return k
}

func formatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// keyBody is the request body of POST and PUT. Pointers and raw dates tell a field that is
// absent from one that is given.
type keyBody struct {
	ID            *int64          `json:"id"`
	Name          *string         `json:"name"`
	StartDate     json.RawMessage `json:"startDate"`
	ExpireDate    json.RawMessage `json:"expireDate"`
	HasExpireTime *bool           `json:"hasExpireTime"`
	RoleID        *int64          `json:"roleId"`
}

// expiry reads hasExpireTime and expireDate: never when hasExpireTime is false, else the
// expireDate given (nil when none).
func (b *keyBody) expiry() (never bool, at *time.Time, err error) {
	if at, _, err = parseDate("expireDate", b.ExpireDate); err != nil {
		return false, nil, err
	}
	if b.HasExpireTime != nil && !*b.HasExpireTime {
		return true, nil, nil
	}
	return false, at, nil
}

// project resolves the path's project for a caller that may administer it, and returns the
// reference the operation that follows uses (its id, which cannot change under it).
func (h *Handler) project(r *http.Request) (string, error) {
	p, err := h.a.AdministeredProject(r.Context(), r.PathValue("projectId"))
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(p.ID, 10), nil
}

// create: POST /api/projects/{projectId}/api-keys. Without an expiry the key gets keyward's
// default lifetime; without a roleId, the caller's own roles.
func (h *Handler) create(r *http.Request) (*reply, error) {
	ref, err := h.project(r)
	if err != nil {
		return nil, err
	}
	var b keyBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	in := keyward.CreateCredentialInput{Type: keyward.APIToken}
	if b.Name != nil {
		in.Name = *b.Name
	}
	if in.NotBefore, _, err = parseDate("startDate", b.StartDate); err != nil {
		return nil, err
	}
	if in.NeverExpires, in.ExpiresAt, err = b.expiry(); err != nil {
		return nil, err
	}
	if b.RoleID != nil {
		in.Roles = []string{strconv.FormatInt(*b.RoleID, 10)}
	}
	issued, err := h.a.CreateCredential(r.Context(), ref, in)
	if err != nil {
		return nil, err
	}
	return &reply{status: http.StatusCreated, message: "API key created", result: view(&issued.Credential, issued.Key)}, nil
}

// list: GET /api/projects/{projectId}/api-keys[?limit=N&cursor=C]. resultInfo carries the
// cursor of the next page, "" on the last one.
func (h *Handler) list(r *http.Request) (*reply, error) {
	ref, err := h.project(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	var limit int64
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.ParseInt(s, 10, 32); err != nil {
			return nil, keyward.Invalid("limit", "must be an integer")
		}
	}
	page, err := h.a.ListCredentials(r.Context(), ref, authority.ListCredentialsInput{
		Type: keyward.APIToken, NotRevoked: true, Cursor: q.Get("cursor"), Limit: int(limit),
	})
	if err != nil {
		return nil, err
	}
	keys := []apiKey{}
	for _, c := range page.Items { // revoked ones, deleted in this API's words, are left out
		shown, err := h.a.DisplayKey(r.Context(), c)
		if err != nil {
			return nil, err
		}
		keys = append(keys, view(c, shown))
	}
	message := strconv.Itoa(len(keys)) + " API keys"
	if len(keys) == 1 {
		message = "1 API key"
	}
	return &reply{status: http.StatusOK, message: message, result: keys, info: page.NextCursor}, nil
}

// get: GET /api/projects/{projectId}/api-keys/{id}.
func (h *Handler) get(r *http.Request) (*reply, error) {
	ref, id, err := h.keyRef(r)
	if err != nil {
		return nil, err
	}
	c, err := h.a.Credential(r.Context(), ref, id)
	if err != nil {
		return nil, err
	}
	if c.RevokedAt != nil {
		return nil, keyward.Errorf(keyward.ENotFound, "API key %s was deleted", id)
	}
	return h.shown(r, c, "API key found")
}

// update: PUT /api/projects/{projectId}/api-keys, the key named by the body's id. Fields left
// out keep their value; startDate null clears the start; hasExpireTime false removes the
// expiry, true needs expireDate.
func (h *Handler) update(r *http.Request) (*reply, error) {
	ref, err := h.project(r)
	if err != nil {
		return nil, err
	}
	var b keyBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.ID == nil {
		return nil, keyward.Invalid("id", "is required: the id of the API key to update")
	}
	in := authority.ScheduleInput{Name: b.Name}
	start, startSet, err := parseDate("startDate", b.StartDate)
	if err != nil {
		return nil, err
	}
	if startSet {
		in.NotBefore, in.ClearNotBefore = start, start == nil
	}
	never, expires, err := b.expiry()
	if err != nil {
		return nil, err
	}
	switch {
	case never:
		in.NeverExpires = true
	case expires != nil:
		in.ExpiresAt = expires
	case b.HasExpireTime != nil:
		return nil, keyward.Invalid("expireDate", "is required when hasExpireTime is true")
	}
	if b.RoleID != nil {
		in.Roles = &[]string{strconv.FormatInt(*b.RoleID, 10)}
	}
	c, err := h.a.ScheduleCredential(r.Context(), ref, strconv.FormatInt(*b.ID, 10), in)
	if err != nil {
		return nil, err
	}
	return h.shown(r, c, "API key updated")
}

// delete: DELETE /api/projects/{projectId}/api-keys/{id} revokes the key for good. The result
// is the deleted key, its value masked.
func (h *Handler) delete(r *http.Request) (*reply, error) {
	ref, id, err := h.keyRef(r)
	if err != nil {
		return nil, err
	}
	c, err := h.a.RevokeCredential(r.Context(), ref, id)
	if err != nil {
		return nil, err
	}
	return &reply{status: http.StatusOK, message: "API key deleted", result: view(c, authority.MaskedKey(c))}, nil
}

// keyRef resolves the path's project (see project) and key id.
func (h *Handler) keyRef(r *http.Request) (project, id string, err error) {
	if project, err = h.project(r); err != nil {
		return "", "", err
	}
	id, err = pathID(r)
	return project, id, err
}

// shown is the reply of an operation on c: c with its key as the caller may see it.
func (h *Handler) shown(r *http.Request, c *keyward.Credential, message string) (*reply, error) {
	key, err := h.a.DisplayKey(r.Context(), c)
	if err != nil {
		return nil, err
	}
	return &reply{status: http.StatusOK, message: message, result: view(c, key)}, nil
}

// pathID returns the path's key id in canonical form.
func pathID(r *http.Request) (string, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return "", keyward.Invalid("id", "must be an integer")
	}
	return strconv.FormatInt(id, 10), nil
}

// dateLayouts are the forms a date is accepted in: ISO 8601 with an offset or Z and any
// fraction, the same without a zone (read as UTC), and a bare date (midnight UTC).
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"}

// parseDate reads an optional date field: set tells whether the field was present; the time is
// nil when it was null or "".
func parseDate(field string, raw json.RawMessage) (t *time.Time, set bool, err error) {
	if len(raw) == 0 {
		return nil, false, nil
	}
	if string(raw) == "null" {
		return nil, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, true, keyward.Invalid(field, "must be a date string such as \"2022-08-24T12:48:29.365Z\"")
	}
	if s = strings.TrimSpace(s); s == "" {
		return nil, true, nil
	}
	for _, layout := range dateLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			v = v.UTC()
			return &v, true, nil
		}
	}
	return nil, true, keyward.Invalid(field, "must be an ISO 8601 date-time such as \"2022-08-24T12:48:29.365Z\"")
}

// decodeBody reads the JSON object of a request into v. Fields this API does not know are
// ignored, as the vendor's server ignores them; a field of the wrong type is named. The body
// must say it is JSON: one without a content type is what a cross-site script can send.
func decodeBody(r *http.Request, v any) error {
	err := jsonbody.Decode(r, v, jsonbody.Rules{Types: []string{"application/json", "text/json", "+json"}})
	return jsonbody.Refusal(err, jsonbody.Wording{
		jsonbody.MediaType: "the request body must be JSON (Content-Type: application/json)",
		jsonbody.BadValue:  "the request body is not valid JSON",
	})
}
