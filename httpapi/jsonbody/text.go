package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

var nulEscape = []byte(`\u0000`)

// CheckText refuses a body ValidText refuses and, when the body is JSON, a key or string value
// ValidText refuses once decoded, naming its field by its path ("meta.team", "names[2]"): an
// escape (\u0000) hides what the raw check would see. Whatever is not JSON is left for the
// decoder to refuse. Its error is an *Error of kind Text.
func CheckText(body []byte) error {
	if !keyward.ValidTextBytes(body) {
		return &Error{Kind: Text, Field: "body"}
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || (body[0] != '{' && body[0] != '[' && body[0] != '"') {
		return nil
	}
	// In valid UTF-8, the only escape that decodes to what ValidText refuses is \u0000 (a lone
	// surrogate decodes to U+FFFD): without those six bytes no string needs the walk below.
	if !bytes.Contains(body, nulEscape) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object  bool
		key     string // the current key of an object
		index   int    // the next index of an array
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.object && f.key != "":
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			case !f.object:
				b.WriteString("[" + strconv.Itoa(f.index-1) + "]")
			}
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil
		}
		// A value (not a key) at the top of the stack advances it.
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].object && stack[top].wantKey
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			if top > 0 && stack[top-1].object {
				stack[top-1].wantKey = true
			}
			continue
		}
		if !isKey && top >= 0 && !stack[top].object {
			stack[top].index++
		}
		if isKey {
			k, _ := tok.(string)
			if !keyward.ValidText(k) {
				stack[top].key = ""
				return &Error{Kind: Text, Field: path()}
			}
			stack[top].key, stack[top].wantKey = k, false
			continue
		}
		switch v := tok.(type) {
		case json.Delim:
			stack = append(stack, frame{object: v == '{', wantKey: v == '{'})
			continue
		case string:
			if !keyward.ValidText(v) {
				return &Error{Kind: Text, Field: path()}
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true
		}
	}
}
