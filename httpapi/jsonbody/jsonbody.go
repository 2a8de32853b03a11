// Package jsonbody reads JSON request bodies the same way on the native API and on every
// vendor dialect: a bounded body, a checked content type, text keyward can store, one value of
// the right shape. What is wrong comes back as an *Error with a Kind, which each surface turns
// into its own error shape (most through Keyward, with the wording its vendor pins).
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// MaxBytes is the largest request body any surface reads.
const MaxBytes = 1 << 20

// Kind says what is wrong with a request body.
type Kind int

// The kinds of Error.
const (
	TooLarge     Kind = iota + 1 // longer than MaxBytes
	Unreadable                   // the connection failed while the body was read
	Missing                      // empty where a body is required
	MediaType                    // a Content-Type the surface does not read (MediaType is "" when none was sent)
	Malformed                    // not JSON
	Trailing                     // more than one JSON value
	WrongType                    // a value of the wrong JSON type at Field ("" for the whole body); Want names the right one
	UnknownField                 // a field the request type does not have, refused by Strict
	BadValue                     // a value its type's own decoder refuses (Err says why, such as a *time.ParseError)
	Text                         // a string keyward cannot store (keyward.ValidText) at Field
)

// Error is a refused request body.
type Error struct {
	Kind      Kind
	Field     string // the JSON path of the value at fault, for WrongType, UnknownField and Text
	Want      string // what the value must be, for WrongType: "a string", "an integer", ...
	MediaType string // the Content-Type's media type, for MediaType
	Err       error  // the decoder's error, for Unreadable, Malformed and BadValue
}

func (e *Error) Error() string { return e.Keyward(nil).Error() }

// Unwrap returns the decoder's error.
func (e *Error) Unwrap() error { return e.Err }

// Wording replaces the default message of some kinds; for WrongType, UnknownField and Text it is
// the field error's reason.
type Wording map[Kind]string

// Keyward returns e as a keyward error: EInvalid naming the field for a field's fault,
// ETooLarge, EUnsupported or EInvalid otherwise, with words[e.Kind] as its message when set.
// No message quotes the body.
func (e *Error) Keyward(words Wording) *keyward.Error {
	msg, set := words[e.Kind]
	say := func(code keyward.Code, def string) *keyward.Error {
		if !set {
			msg = def
		}
		return &keyward.Error{Code: code, Message: msg}
	}
	field := func(def string) *keyward.Error {
		if !set {
			msg = def
		}
		name := e.Field
		if name == "" {
			name = "body"
		}
		return keyward.Invalid(name, msg)
	}
	switch e.Kind {
	case TooLarge:
		return say(keyward.ETooLarge, fmt.Sprintf("the request body is larger than %d bytes", MaxBytes))
	case Unreadable:
		return say(keyward.EInvalid, "could not read the request body")
	case Missing:
		return say(keyward.EInvalid, "a JSON request body is required")
	case MediaType:
		return say(keyward.EUnsupported, "the request body must be JSON: send Content-Type: application/json")
	case Malformed:
		return say(keyward.EInvalid, "the request body is not valid JSON")
	case Trailing:
		return say(keyward.EInvalid, "the request body must hold exactly one JSON object")
	case WrongType:
		if e.Field == "" {
			return say(keyward.EInvalid, "the request body must be "+e.Want)
		}
		return field("must be " + e.Want)
	case UnknownField:
		return field("is not a field of this request")
	case Text:
		return field(keyward.TextRule)
	}
	var perr *time.ParseError
	if errors.As(e.Err, &perr) {
		return say(keyward.EInvalid, "a time is not RFC 3339 (for example 2030-01-02T15:04:05Z)")
	}
	return say(keyward.EInvalid, "the request body is not valid JSON for this request")
}

// Rules say how a surface reads a body.
type Rules struct {
	// Types are the media types the body may declare; one starting with "+" is a suffix
	// ("+json"). A body without a Content-Type is refused: it is what a cross-site script
	// can send.
	Types []string
	// Optional lets the body be empty, leaving v as it is.
	Optional bool
	// Strict refuses a field v does not have; vendors that ignore unknown fields leave it off.
	Strict bool
}

// JSON is the media types of a JSON body: application/json and any +json type.
var JSON = []string{"application/json", "+json"}

// Decode reads r's body into v under rules. Its errors are *Error.
func Decode(r *http.Request, v any, rules Rules) error {
	body, err := Read(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if rules.Optional {
			return nil
		}
		return &Error{Kind: Missing}
	}
	if mt, ok := Accepts(r, rules.Types...); !ok {
		return &Error{Kind: MediaType, MediaType: mt}
	}
	return Unmarshal(body, v, rules.Strict)
}

// Read reads r's whole body, at most MaxBytes of it. Its errors are *Error.
func Read(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if b, ok := r.Body.(*Buffered); ok {
		rest := b.body[len(b.body)-b.rd.Len():]
		b.rd.Reset(nil)
		return rest, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || len(body) > MaxBytes:
		return nil, &Error{Kind: TooLarge}
	case err != nil:
		return nil, &Error{Kind: Unreadable, Err: err}
	}
	return body, nil
}

// Buffered is a request body already read into memory (by a check that had to see all of it),
// which Read returns without copying; other readers read it as usual.
type Buffered struct {
	body []byte
	rd   bytes.Reader // what is still unread of body
}

// NewBuffered returns body as a request body.
func NewBuffered(body []byte) *Buffered {
	b := &Buffered{body: body}
	b.rd.Reset(body)
	return b
}

// Read implements io.Reader.
func (b *Buffered) Read(p []byte) (int, error) { return b.rd.Read(p) }

// Close implements io.Closer.
func (b *Buffered) Close() error { return nil }

// Accepts returns the media type of r's Content-Type (lower case, without parameters; "" when
// absent or unreadable) and whether it is one of types.
func Accepts(r *http.Request, types ...string) (string, bool) {
	ct := r.Header.Get("Content-Type")
	mt := "application/json"
	if ct != mt { // what nearly every client sends needs no parsing
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return "", false
		}
	}
	for _, t := range types {
		if mt == t || (strings.HasPrefix(t, "+") && strings.HasSuffix(mt, t)) {
			return mt, true
		}
	}
	return mt, false
}

// Unmarshal decodes body, which must hold exactly one JSON value whose strings keyward can
// store, into v; strict refuses fields v does not have. Its errors are *Error.
func Unmarshal(body []byte, v any, strict bool) error {
	if err := CheckText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return &Error{Kind: Trailing}
	}
	return nil
}

// decodeError classifies an error of encoding/json.
func decodeError(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &Error{Kind: WrongType, Field: typeErr.Field, Want: want(typeErr.Type)}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Kind: Malformed, Err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for this error; its message is stable.
		return &Error{Kind: UnknownField, Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)}
	}
	return &Error{Kind: BadValue, Err: err}
}

// want names what a value of Go type t is in JSON.
func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	}
	return "of another type"
}

// Refusal returns err as a keyward error when it is an *Error (see Keyward), and err itself
// otherwise.
func Refusal(err error, words Wording) error {
	if err == nil {
		return nil // before errors.As, whose target would escape on every request
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Keyward(words)
	}
	return err
}
