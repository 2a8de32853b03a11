package servicestack

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"time"
)

// seedPlaceholders is the seed's sample response: every field, with its placeholders.
func seedPlaceholders() *RegenerateApiKeysResponse {
	m := func() map[string]string { return map[string]string{"String": "String"} }
	zero := Date(time.Time{})
	return &RegenerateApiKeysResponse{
		Results: []UserApiKey{{Key: "String", KeyType: "String", ExpiryDate: &zero, Meta: m()}},
		Meta:    m(),
		ResponseStatus: &ResponseStatus{
			ErrorCode: "String", Message: "String", StackTrace: "String",
			Errors: []ResponseError{{ErrorCode: "String", FieldName: "String", Message: "String", Meta: m()}},
			Meta:   m(),
		},
	}
}

// TestJSVSeedSample writes the seed's sample response byte for byte (in the indented form of
// ServiceStack's metadata page) and reads it back.
func TestJSVSeedSample(t *testing.T) {
	t.Parallel()
	ex := readSeed(t)
	want := seedPlaceholders()
	compact, err := MarshalJSV(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, wantC := string(compact), "{Results:[{Key:String,KeyType:String,ExpiryDate:0001-01-01,Meta:{String:String}}],"+
		"Meta:{String:String},ResponseStatus:{ErrorCode:String,Message:String,StackTrace:String,"+
		"Errors:[{ErrorCode:String,FieldName:String,Message:String,Meta:{String:String}}],Meta:{String:String}}}"; got != wantC {
		t.Fatalf("compact JSV\n got %s\nwant %s", got, wantC)
	}
	indented, err := IndentJSV(compact)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(indented); got != ex.responseBody {
		t.Fatalf("indented JSV differs from the seed's sample\n got:\n%s\nwant:\n%s", got, ex.responseBody)
	}
	var back RegenerateApiKeysResponse
	if err := UnmarshalJSV([]byte(ex.responseBody), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, want) {
		t.Fatalf("the seed's sample reads as %#v, want %#v", back, want)
	}
	var req RegenerateApiKeys
	if err := UnmarshalJSV([]byte(ex.requestBody), &req); err != nil {
		t.Fatal(err)
	}
	if req.Environment != "String" {
		t.Fatalf("the seed's sample request reads as %+v", req)
	}
}

func date(s string) *Date {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	d := Date(t)
	return &d
}

// TestJSVGolden: values and their exact JSV, both ways.
func TestJSVGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		v    any
		jsv  string
	}{
		{"UserApiKey", &UserApiKey{Key: "kw_live_AbCd", KeyType: "secret", ExpiryDate: date("2030-03-31T12:00:00Z")},
			"{Key:kw_live_AbCd,KeyType:secret,ExpiryDate:2030-03-31T12:00:00Z}"},
		{"DateAtMidnight", &UserApiKey{ExpiryDate: date("2030-01-02T00:00:00Z")}, "{ExpiryDate:2030-01-02}"},
		{"DateWithFraction", &UserApiKey{ExpiryDate: date("2030-01-02T15:04:05.1234567Z")}, "{ExpiryDate:2030-01-02T15:04:05.1234567Z}"},
		{"DateFractionTrimmed", &UserApiKey{ExpiryDate: date("2030-01-02T15:04:05.5Z")}, "{ExpiryDate:2030-01-02T15:04:05.5Z}"},
		{"NullsLeftOut", &GetApiKeysResponse{}, "{}"},
		{"EmptyListAndMap", &GetApiKeysResponse{Results: []UserApiKey{}, Meta: map[string]string{}}, "{Results:[],Meta:{}}"},
		{"QuotedStrings", &UserApiKey{Meta: map[string]string{
			"comma": "a,b", "colon": "x:y", "quote": `say "hi"`, "braces": "{x}", "brackets": "[1]",
			"lead": " a", "trail": "b\t", "inner": "a b", "empty": "", "crlf": "a\r\nb", "é": "日本",
			"k:ey": "v", `"`: `""`,
		}}, `{Meta:{"""":"""""",braces:"{x}",brackets:"[1]",colon:"x:y",comma:"a,b",crlf:"a` + "\r\n" +
			`b",empty:"",inner:a b,"k:ey":v,lead:" a",quote:"say ""hi""",trail:"b` + "\t" + `",é:日本}}`},
		{"ErrorResponse", &RegenerateApiKeysResponse{ResponseStatus: &ResponseStatus{
			ErrorCode: "ArgumentException", Message: "invalid request: environment must be live or test",
			Errors: []ResponseError{{ErrorCode: "ArgumentException", FieldName: "Environment", Message: "must be live or test"}},
		}}, `{ResponseStatus:{ErrorCode:ArgumentException,Message:"invalid request: environment must be live or test",` +
			"Errors:[{ErrorCode:ArgumentException,FieldName:Environment,Message:must be live or test}]}}"},
		{"NotFound", &GetApiKeysResponse{ResponseStatus: &ResponseStatus{ErrorCode: "NotFound", Message: `project "x" not found`, Errors: []ResponseError{}}},
			`{ResponseStatus:{ErrorCode:NotFound,Message:"project ""x"" not found",Errors:[]}}`},
		{"Generic", &map[string]any{"list": []any{"a", "", "b c", []any{}, map[string]any{"n": nil}}, "s": "x"},
			`{list:[a,"",b c,[],{n:}],s:x}`},
		{"Numbers", &struct {
			I int64   `json:"I"`
			F float64 `json:"F"`
			B bool    `json:"B"`
			T time.Time
		}{-3, 2.5, true, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, "{I:-3,F:2.5,B:true,T:2030-01-02T03:04:05Z}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MarshalJSV(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.jsv {
				t.Fatalf("MarshalJSV\n got %s\nwant %s", got, tc.jsv)
			}
			back := reflect.New(reflect.TypeOf(tc.v).Elem())
			if err := UnmarshalJSV([]byte(tc.jsv), back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Interface(), tc.v) {
				t.Fatalf("UnmarshalJSV(%s) = %#v, want %#v", tc.jsv, back.Elem().Interface(), reflect.ValueOf(tc.v).Elem().Interface())
			}
		})
	}
}

// TestJSVLenientReader reads what ServiceStack writes and what people type: whitespace and
// newlines between tokens, any case in property names, unknown properties, other date forms.
func TestJSVLenientReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		jsv  string
		want UserApiKey
	}{
		{"Indented", "{\n\tKey: abc ,\n\tKeyType:\tsecret\n}", UserApiKey{Key: "abc", KeyType: "secret"}},
		{"CaseInsensitive", "{key:abc,KEYTYPE:secret}", UserApiKey{Key: "abc", KeyType: "secret"}},
		{"UnknownIgnored", "{Key:abc,Environment:live,Nested:{a:[1,2]}}", UserApiKey{Key: "abc"}},
		{"EmptyIsNull", "{Key:,ExpiryDate:}", UserApiKey{}},
		{"WCFDate", "{ExpiryDate:/Date(1900000000000)/}", UserApiKey{ExpiryDate: date("2030-03-17T17:46:40Z")}},
		{"WCFDateWithOffset", `{ExpiryDate:"\/Date(1900000000000+0100)\/"}`, UserApiKey{ExpiryDate: date("2030-03-17T17:46:40Z")}},
		{"RFC3339Offset", "{ExpiryDate:2030-03-17T18:46:40+01:00}", UserApiKey{ExpiryDate: date("2030-03-17T17:46:40Z")}},
		{"NoZoneIsUTC", "{ExpiryDate:2030-03-17T17:46:40}", UserApiKey{ExpiryDate: date("2030-03-17T17:46:40Z")}},
		{"QuotedKey", `{"Key":"a""b"}`, UserApiKey{Key: `a"b`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got UserApiKey
			if err := UnmarshalJSV([]byte(tc.jsv), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestJSVErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		jsv    string
		syntax bool   // a JSVSyntaxError, else a JSVTypeError
		field  string // the type error's field
	}{
		{"UnterminatedQuote", `{Key:"abc}`, true, ""},
		{"UnterminatedObject", `{Key:abc`, true, ""},
		{"UnterminatedList", `{Results:[{Key:a}`, true, ""},
		{"MissingColon", `{Key}`, true, ""},
		{"EmptyName", `{:x}`, true, ""},
		{"TrailingGarbage", `{Key:a}}`, true, ""},
		{"AfterQuoted", `{Key:"a"b}`, true, ""},
		{"MissingItem", `{Results:[,]}`, true, ""},
		{"TooDeep", strings.Repeat("[", 200) + strings.Repeat("]", 200), true, ""},
		{"NotADate", `{Results:[{ExpiryDate:soon}]}`, false, ""},
		{"ObjectForString", `{Results:[{Key:{a:b}}]}`, false, "Results[0].Key"},
		{"ListForMap", `{Meta:[a]}`, false, "Meta"},
		{"ScalarForList", `{Results:abc}`, false, "Results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v GetApiKeysResponse
			err := UnmarshalJSV([]byte(tc.jsv), &v)
			var se *JSVSyntaxError
			var te *JSVTypeError
			switch {
			case err == nil:
				t.Fatalf("UnmarshalJSV(%s) accepted it: %+v", tc.jsv, v)
			case tc.syntax && !errors.As(err, &se):
				t.Fatalf("err = %v (%T), want a syntax error", err, err)
			case !tc.syntax && tc.field != "" && (!errors.As(err, &te) || te.Field != tc.field):
				t.Fatalf("err = %v (%T), want a type error at %s", err, err, tc.field)
			}
		})
	}
	t.Run("NullInList", func(t *testing.T) {
		if _, err := MarshalJSV([]any{"a", nil}); err == nil {
			t.Fatal("a list holding nil was written")
		}
	})
}

// jsvAlphabet is biased towards what JSV must quote.
var jsvAlphabet = []string{
	"a", "Z", "0", "-", "_", ".", "/", " ", "\t", "\r", "\n", ",", ":", "{", "}", "[", "]", `"`, `""`,
	"é", "日", "\\", "'", "=", "+", "%",
}

func randString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(10) {
		b.WriteString(jsvAlphabet[r.IntN(len(jsvAlphabet))])
	}
	return b.String()
}

// randTree is a nested value of maps, lists and strings (nil only as a map value: a list
// cannot hold null in JSV).
func randTree(r *rand.Rand, depth int) any {
	switch k := r.IntN(5); {
	case depth > 4 || k < 2:
		return randString(r)
	case k == 2:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randTree(r, depth+1)
		}
		return l
	default:
		m := map[string]any{}
		for range r.IntN(4) {
			if r.IntN(8) == 0 {
				m[randString(r)] = nil
			} else {
				m[randString(r)] = randTree(r, depth+1)
			}
		}
		return m
	}
}

func randMeta(r *rand.Rand) map[string]string {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range 1 + r.IntN(3) {
		m[randString(r)] = randString(r)
	}
	return m
}

func randDate(r *rand.Rand) *Date {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1: // midnight
		d := Date(time.Date(1+r.IntN(9998), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC))
		return &d
	}
	// JSV keeps 100 ns; seconds with and without a fraction
	ns := int64(0)
	if r.IntN(2) == 0 {
		ns = r.Int64N(1e7) * 100
	}
	d := Date(time.Unix(r.Int64N(315e9)-62e9, ns).UTC())
	return &d
}

func randKeys(r *rand.Rand) []UserApiKey {
	if r.IntN(4) == 0 {
		return nil
	}
	ks := make([]UserApiKey, r.IntN(4))
	for i := range ks {
		ks[i] = UserApiKey{Key: randString(r), KeyType: randString(r), ExpiryDate: randDate(r), Meta: randMeta(r)}
	}
	return ks
}

func randStatus(r *rand.Rand) *ResponseStatus {
	if r.IntN(2) == 0 {
		return nil
	}
	s := &ResponseStatus{ErrorCode: randString(r), Message: randString(r), Meta: randMeta(r)}
	if r.IntN(3) > 0 {
		s.Errors = []ResponseError{}
		for range r.IntN(3) {
			s.Errors = append(s.Errors, ResponseError{ErrorCode: randString(r), FieldName: randString(r), Message: randString(r), Meta: randMeta(r)})
		}
	}
	return s
}

// roundTrip writes v and reads it back into a new value of its type.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := MarshalJSV(v)
	if err != nil {
		t.Fatalf("MarshalJSV(%#v): %v", v, err)
	}
	back := reflect.New(reflect.TypeOf(v).Elem())
	if err := UnmarshalJSV(b, back.Interface()); err != nil {
		t.Fatalf("UnmarshalJSV(%s): %v", b, err)
	}
	// The indented form reads back as the same value too.
	ind, err := IndentJSV(b)
	if err != nil {
		t.Fatalf("IndentJSV(%s): %v", b, err)
	}
	again := reflect.New(reflect.TypeOf(v).Elem())
	if err := UnmarshalJSV(ind, again.Interface()); err != nil {
		t.Fatalf("UnmarshalJSV(indented %s): %v", ind, err)
	}
	if !reflect.DeepEqual(back.Interface(), again.Interface()) {
		t.Fatalf("compact and indented forms differ:\n%s\n%s", b, ind)
	}
	return back.Interface()
}

// TestJSVRoundTrip: every response type, and nested maps and lists of strings with the
// characters JSV must quote, read back exactly as written (seeded, reproducible).
func TestJSVRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(20300101, 4))
	for i := range 3000 {
		values := []any{
			&RegenerateApiKeysResponse{Results: randKeys(r), Meta: randMeta(r), ResponseStatus: randStatus(r)},
			&GetApiKeysResponse{Results: randKeys(r), Meta: randMeta(r), ResponseStatus: randStatus(r)},
			&RegenerateApiKeys{Environment: randString(r)},
		}
		tree := randTree(r, 0)
		values = append(values, &tree)
		for _, v := range values {
			if back := roundTrip(t, v); !reflect.DeepEqual(back, v) {
				b, _ := MarshalJSV(v)
				t.Fatalf("case %d: %s\nread back as %#v\nwant        %#v", i, b, back, v)
			}
		}
	}
}

// TestJSVQuick: testing/quick's arbitrary strings survive as values, keys and list items.
func TestJSVQuick(t *testing.T) {
	t.Parallel()
	prop := func(k, v, item string) bool {
		in := map[string]any{k: v, "list": []any{item, v}}
		b, err := MarshalJSV(in)
		if err != nil {
			return false
		}
		var out any
		return UnmarshalJSV(b, &out) == nil && reflect.DeepEqual(out, any(in))
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}
