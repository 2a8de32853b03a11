package jsonbody

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

type req struct {
	Name string            `json:"name"`
	Days int               `json:"days"`
	Meta map[string]string `json:"meta"`
	At   time.Time         `json:"at"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	strict := Rules{Types: JSON, Strict: true}
	cases := []struct {
		name, ctype, body string
		rules             Rules
		kind              Kind
		field             string
		code              keyward.Code
	}{
		{"Good", "application/json", `{"name":"a","days":3}`, strict, 0, "", ""},
		{"SuffixType", "application/merge-patch+json; charset=utf-8", `{"name":"a"}`, strict, 0, "", ""},
		{"EmptyOptional", "", ` `, Rules{Types: JSON, Optional: true}, 0, "", ""},
		{"Empty", "application/json", ``, strict, Missing, "", keyward.EInvalid},
		{"NoType", "", `{}`, strict, MediaType, "", keyward.EUnsupported},
		{"FormType", "application/x-www-form-urlencoded", `{}`, strict, MediaType, "", keyward.EUnsupported},
		{"TooLarge", "application/json", `{"name":"` + strings.Repeat("a", MaxBytes) + `"}`, strict, TooLarge, "", keyward.ETooLarge},
		{"Malformed", "application/json", `{"name":`, strict, Malformed, "", keyward.EInvalid},
		{"Trailing", "application/json", `{} {}`, strict, Trailing, "", keyward.EInvalid},
		{"WrongType", "application/json", `{"days":"3"}`, strict, WrongType, "days", keyward.EInvalid},
		{"NotObject", "application/json", `[1]`, strict, WrongType, "", keyward.EInvalid},
		{"Unknown", "application/json", `{"nmae":"a"}`, strict, UnknownField, "nmae", keyward.EInvalid},
		{"UnknownLenient", "application/json", `{"nmae":"a"}`, Rules{Types: JSON}, 0, "", ""},
		{"BadTime", "application/json", `{"at":"tomorrow"}`, strict, BadValue, "", keyward.EInvalid},
		{"EscapedNUL", "application/json", `{"meta":{"team":"a\u0000b"}}`, strict, Text, "meta.team", keyward.EInvalid},
		{"RawInvalidUTF8", "application/json", "{\"name\":\"\xff\"}", strict, Text, "body", keyward.EInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			var v req
			err := Decode(r, &v, c.rules)
			if c.kind == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != c.kind || e.Field != c.field {
				t.Fatalf("Decode = %#v, want kind %d field %q", err, c.kind, c.field)
			}
			ke := e.Keyward(nil)
			if ke.Code != c.code {
				t.Errorf("code %s, want %s (%v)", ke.Code, c.code, ke)
			}
			if c.field != "" && ke.Fields[c.field] == "" {
				t.Errorf("%v names no field %q", ke, c.field)
			}
			if strings.Contains(ke.Error(), "\x00") || strings.Contains(ke.Error(), "aaaa") {
				t.Errorf("message quotes the body: %q", ke.Error())
			}
		})
	}
}

func TestWording(t *testing.T) {
	t.Parallel()
	e := &Error{Kind: MediaType}
	if got := Refusal(e, Wording{MediaType: "send JSON"}); keyward.ErrorMessage(got) != "send JSON" || keyward.ErrorCode(got) != keyward.EUnsupported {
		t.Errorf("override: %v (%s)", got, keyward.ErrorCode(got))
	}
	if got := Refusal(&Error{Kind: UnknownField, Field: "x"}, Wording{UnknownField: "is unknown"}); got.(*keyward.Error).Fields["x"] != "is unknown" {
		t.Errorf("field override: %v", got)
	}
	other := errors.New("other")
	if Refusal(other, nil) != other || Refusal(nil, nil) != nil {
		t.Error("Refusal must pass other errors and nil through")
	}
}

func TestReadCutOff(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = http.MaxBytesReader(nil, r.Body, 0)
	if _, err := Read(r); err != nil {
		t.Fatalf("empty body: %v", err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader("{}"))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 1)
	var e *Error
	if _, err := Read(r); !errors.As(err, &e) || e.Kind != TooLarge {
		t.Fatalf("over a MaxBytesReader's limit: %v", err)
	}
}

// TestCheckTextShortcut holds CheckText's shortcut (no "\u0000" in the body, nothing to walk)
// to what decoding says: a body is refused exactly when a decoded string holds what ValidText
// refuses.
func TestCheckTextShortcut(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"key":"kw_live_abc"}`,
		`{"a":"\u0000"}`,
		`{"\u0000":1}`,
		`{"a":"\\u0000"}`,      // an escaped backslash, then the letters: no NUL
		`{"a":"\\\u0000"}`,     // a backslash, then a NUL
		`{"a":"\ud800"}`,       // a lone surrogate decodes to U+FFFD
		`{"a":"\udc00\ud800"}`, // two lone ones
		`{"a":["x",{"b":"\u0000"}]}`,
		`["\u0000"]`,
		`"\u0000"`,
		`{"a":"\u00000"}`,
		`{"a":"\u0001"}`,
		`{"a":"é\u00e9"}`,
	}
	for _, body := range bodies {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		want := allValid(v)
		if got := CheckText([]byte(body)) == nil; got != want {
			t.Errorf("CheckText(%s) accepts = %v, decoding says %v", body, got, want)
		}
	}
}

// allValid reports whether every string in a decoded JSON value, keys included, is ValidText.
func allValid(v any) bool {
	switch v := v.(type) {
	case string:
		return keyward.ValidText(v)
	case []any:
		for _, x := range v {
			if !allValid(x) {
				return false
			}
		}
	case map[string]any:
		for k, x := range v {
			if !keyward.ValidText(k) || !allValid(x) {
				return false
			}
		}
	}
	return true
}

// TestBufferedBody checks that a body the guard read once is handed to Read without a copy,
// and that what an io.Reader already took is not handed again.
func TestBufferedBody(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = NewBuffered([]byte(`{"name":"a"}`))
	var head [2]byte
	if _, err := r.Body.Read(head[:]); err != nil {
		t.Fatal(err)
	}
	rest, err := Read(r)
	if err != nil || string(rest) != `name":"a"}` {
		t.Fatalf("Read = %q, %v", rest, err)
	}
	if again, err := Read(r); err != nil || len(again) != 0 {
		t.Fatalf("second Read = %q, %v", again, err)
	}
}
