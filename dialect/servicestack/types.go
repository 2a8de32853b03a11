package servicestack

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The DTOs below are the seed's, field for field and in its order, with ServiceStack's property
// names. Their json tags drive both the JSON and the JSV encoding: a nil field is left out
// (ServiceStack writes no nulls), an empty list or map is written as [] or {}.

// RegenerateApiKeys is the request of POST /auth/apikeys/regenerate[/{Environment}] (the seed
// calls it RegenerateApiKeyRequest).
type RegenerateApiKeys struct {
	// Environment type: live or test; none regenerates both.
	Environment string `json:"Environment,omitempty"`
}

// GetApiKeys is the request of GET /auth/apikeys[/{Environment}].
type GetApiKeys struct {
	Environment string `json:"Environment,omitempty"`
}

// UserApiKey is one key of the caller.
type UserApiKey struct {
	Key        string            `json:"Key,omitempty"`
	KeyType    string            `json:"KeyType,omitempty"`
	ExpiryDate *Date             `json:"ExpiryDate,omitempty"`
	Meta       map[string]string `json:"Meta,omitzero"`
}

// RegenerateApiKeysResponse answers a regeneration: the new keys, or ResponseStatus.
type RegenerateApiKeysResponse struct {
	Results        []UserApiKey      `json:"Results,omitzero"`
	Meta           map[string]string `json:"Meta,omitzero"`
	ResponseStatus *ResponseStatus   `json:"ResponseStatus,omitempty"`
}

// GetApiKeysResponse answers a listing: the caller's active keys, or ResponseStatus.
type GetApiKeysResponse struct {
	Results        []UserApiKey      `json:"Results,omitzero"`
	Meta           map[string]string `json:"Meta,omitzero"`
	ResponseStatus *ResponseStatus   `json:"ResponseStatus,omitempty"`
}

// ResponseStatus is ServiceStack's error description.
type ResponseStatus struct {
	ErrorCode string `json:"ErrorCode,omitempty"`
	Message   string `json:"Message,omitempty"`
	// StackTrace is in the seed's type and never set by keyward.
	StackTrace string            `json:"StackTrace,omitempty"`
	Errors     []ResponseError   `json:"Errors,omitzero"`
	Meta       map[string]string `json:"Meta,omitzero"`
}

// ResponseError is what is wrong with one field of the request.
type ResponseError struct {
	ErrorCode string            `json:"ErrorCode,omitempty"`
	FieldName string            `json:"FieldName,omitempty"`
	Message   string            `json:"Message,omitempty"`
	Meta      map[string]string `json:"Meta,omitzero"`
}

// Date is a .NET DateTime as ServiceStack writes it: "\/Date(<unix ms>)\/" in JSON (its default
// DateHandler, UTC so without an offset) and the shortest XSD form in JSV (2030-01-02,
// 2030-01-02T15:04:05Z). It reads either, and RFC 3339, in both.
type Date time.Time

// NewDate returns t as a *Date; nil for nil.
func NewDate(t *time.Time) *Date {
	if t == nil {
		return nil
	}
	d := Date(t.UTC())
	return &d
}

// Time returns d as a time.Time.
func (d Date) Time() time.Time { return time.Time(d) }

func (d Date) String() string { return formatJSVTime(d.Time()) }

// MarshalJSON writes "\/Date(<unix ms>)\/".
func (d Date) MarshalJSON() ([]byte, error) {
	return []byte(`"\/Date(` + strconv.FormatInt(d.Time().UnixMilli(), 10) + `)\/"`), nil
}

// UnmarshalJSON reads a JSON string in any of the forms ParseDate reads.
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a date must be a string such as \"\\/Date(1767268800000)\\/\"")
	}
	return d.UnmarshalJSV(s)
}

// MarshalJSV writes the shortest XSD form.
func (d Date) MarshalJSV() ([]byte, error) { return []byte(formatJSVTime(d.Time())), nil }

// UnmarshalJSV reads an XSD date, RFC 3339 or /Date(ms)/.
func (d *Date) UnmarshalJSV(s string) error {
	t, err := parseJSVTime(s)
	if err != nil {
		return err
	}
	*d = Date(t)
	return nil
}
