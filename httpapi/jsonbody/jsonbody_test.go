package jsonbody

import (
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
