package servicestack

// JSV is ServiceStack's "JSON and CSV" text format (ServiceStack.Text's TypeSerializer): JSON's
// structure without the quotes where nothing needs them.
//
//	{Results:[{Key:kw_live_AbCd********,KeyType:secret,ExpiryDate:2030-03-31T12:00:00Z}]}
//
// The rules this file follows, as ServiceStack.Text writes and reads JSV:
//
//   - An object or a map is {Name:value,Name:value}; a list is [value,value]. There is no
//     whitespace between tokens.
//   - A string is written as it is unless it holds one of the characters " : , { } [ ] CR LF,
//     in which case it is wrapped in double quotes and each " inside is doubled
//     ("say ""hi"", then go"). The empty string is "". Map keys follow the same rule.
//   - null is not written: a nil field, pointer, map, slice or interface is left out of its
//     object. A nil value in a map is written as nothing after the colon ({a:}), and read back
//     as nil; a list cannot hold nil.
//   - A date is written bare in its shortest XSD form: 2030-01-02 at midnight UTC,
//     2030-01-02T15:04:05Z without fractional seconds, 2030-01-02T15:04:05.1234567Z with them.
//   - Numbers and booleans are written bare (true, false).
//
// keyward's reader is lenient in one way ServiceStack's is not: it skips whitespace around
// tokens, so that it also reads the indented form ServiceStack's metadata pages show (and this
// dialect's seed document uses for its sample request). An unquoted value therefore loses its
// leading and trailing whitespace, and the writer quotes a string that starts or ends with
// whitespace so that it comes back unchanged. Property names are matched case-insensitively
// and unknown ones are ignored, as ServiceStack does.

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JSVMarshaler is implemented by types that write themselves as one bare JSV scalar (the
// writer does not quote what they return).
type JSVMarshaler interface {
	MarshalJSV() ([]byte, error)
}

// JSVUnmarshaler is implemented by types that read themselves from one JSV scalar, given
// without its quotes.
type JSVUnmarshaler interface {
	UnmarshalJSV(text string) error
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsvMarshalerType  = reflect.TypeFor[JSVMarshaler]()
	jsvUnmarshalerTyp = reflect.TypeFor[JSVUnmarshaler]()
)

// MarshalJSV returns the JSV encoding of v: structs (field names and omitempty / omitzero from
// their json tags), maps with string keys, slices, arrays, strings, booleans, numbers,
// time.Time, pointers and interfaces holding those, and JSVMarshalers.
func MarshalJSV(v any) ([]byte, error) {
	e := &jsvEncoder{}
	if err := e.value(reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type jsvEncoder struct {
	buf   []byte
	depth int
}

// maxJSVDepth bounds nesting, in both directions, so that a hostile body cannot exhaust the
// stack.
const maxJSVDepth = 100

func (e *jsvEncoder) value(v reflect.Value) error {
	if !v.IsValid() {
		return nil
	}
	if v.Type().Implements(jsvMarshalerType) && (v.Kind() != reflect.Pointer || !v.IsNil()) {
		b, err := v.Interface().(JSVMarshaler).MarshalJSV()
		if err != nil {
			return err
		}
		e.buf = append(e.buf, b...)
		return nil
	}
	if v.Type() == timeType {
		e.buf = append(e.buf, formatJSVTime(v.Interface().(time.Time))...)
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return e.value(v.Elem())
	case reflect.String:
		e.buf = appendJSVString(e.buf, v.String())
	case reflect.Bool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("jsv: unsupported number %v", f)
		}
		e.buf = strconv.AppendFloat(e.buf, f, 'g', -1, v.Type().Bits())
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		return e.nested(func() error {
			e.buf = append(e.buf, '[')
			for i := range v.Len() {
				item := v.Index(i)
				if isNil(item) {
					return errors.New("jsv: a list cannot hold null")
				}
				if i > 0 {
					e.buf = append(e.buf, ',')
				}
				if err := e.value(item); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, ']')
			return nil
		})
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("jsv: unsupported map key type %s", v.Type().Key())
		}
		return e.nested(func() error {
			keys := v.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			e.buf = append(e.buf, '{')
			for i, k := range keys {
				if i > 0 {
					e.buf = append(e.buf, ',')
				}
				e.buf = appendJSVString(e.buf, k.String())
				e.buf = append(e.buf, ':')
				if err := e.value(v.MapIndex(k)); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, '}')
			return nil
		})
	case reflect.Struct:
		return e.nested(func() error {
			e.buf = append(e.buf, '{')
			first := true
			for _, f := range jsvFields(v.Type()) {
				fv := v.FieldByIndex(f.index)
				if isNil(fv) || (f.omitEmpty && isEmpty(fv)) || (f.omitZero && fv.IsZero()) {
					continue
				}
				if !first {
					e.buf = append(e.buf, ',')
				}
				first = false
				e.buf = appendJSVString(e.buf, f.name)
				e.buf = append(e.buf, ':')
				if err := e.value(fv); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, '}')
			return nil
		})
	default:
		return fmt.Errorf("jsv: unsupported type %s", v.Type())
	}
	return nil
}

func (e *jsvEncoder) nested(fn func() error) error {
	if e.depth++; e.depth > maxJSVDepth {
		return errors.New("jsv: nested too deeply")
	}
	err := fn()
	e.depth--
	return err
}

func isNil(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return v.IsNil()
	}
	return false
}

// isEmpty is encoding/json's notion of empty, for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// jsvNeedsQuotes reports whether s must be quoted: ServiceStack's escape characters, the empty
// string, and leading or trailing whitespace (which the lenient reader would drop).
func jsvNeedsQuotes(s string) bool {
	if s == "" || isJSVSpace(s[0]) || isJSVSpace(s[len(s)-1]) {
		return true
	}
	return strings.ContainsAny(s, "\":,{}[]\r\n")
}

func appendJSVString(b []byte, s string) []byte {
	if !jsvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

func isJSVSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// formatJSVTime writes t (in UTC) in its shortest XSD form, as ServiceStack writes a DateTime.
func formatJSVTime(t time.Time) string {
	t = t.UTC()
	switch {
	case t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0:
		return t.Format("2006-01-02")
	case t.Nanosecond() == 0:
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.9999999Z")
}

// parseJSVTime reads the date forms ServiceStack writes and reads: the XSD forms (with or without
// a time, fraction and zone; no zone means UTC) and WCF's /Date(ms)/ with an optional offset.
func parseJSVTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, ok := parseWCFDate(s); ok {
		return t, nil
	}
	for _, layout := range []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02",
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("jsv: %q is not a date", s)
}

// parseWCFDate reads /Date(1767268800000)/ and /Date(1767268800000+0100)/ (the offset only says
// in which zone the writer was; the instant is the milliseconds), with or without JSON's
// escaped slashes.
func parseWCFDate(s string) (time.Time, bool) {
	s = strings.ReplaceAll(s, `\/`, `/`)
	inner, ok := strings.CutPrefix(s, "/Date(")
	if !ok {
		return time.Time{}, false
	}
	if inner, ok = strings.CutSuffix(inner, ")/"); !ok {
		return time.Time{}, false
	}
	if i := strings.LastIndexAny(inner, "+-"); i > 0 {
		off := inner[i+1:]
		if len(off) != 4 || strings.Trim(off, "0123456789") != "" {
			return time.Time{}, false
		}
		inner = inner[:i]
	}
	ms, err := strconv.ParseInt(inner, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// jsvField is one serialised field of a struct.
type jsvField struct {
	name                string
	index               []int
	omitEmpty, omitZero bool
}

// jsvFields lists a struct's fields as encoding/json would: exported ones, named by their json
// tag, embedded structs without a name flattened in.
func jsvFields(t reflect.Type) []jsvField {
	var out []jsvField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && sf.Type.Kind() == reflect.Struct {
				for _, f := range jsvFields(ft) {
					f.index = append([]int{i}, f.index...)
					out = append(out, f)
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f := jsvField{name: name, index: []int{i}}
		for _, o := range strings.Split(opts, ",") {
			f.omitEmpty = f.omitEmpty || o == "omitempty"
			f.omitZero = f.omitZero || o == "omitzero"
		}
		out = append(out, f)
	}
	return out
}

// A JSVSyntaxError tells where a JSV text stops making sense.
type JSVSyntaxError struct {
	Offset int
	Msg    string
}

func (e *JSVSyntaxError) Error() string {
	return fmt.Sprintf("jsv: %s at offset %d", e.Msg, e.Offset)
}

// jsvKind is what a parsed JSV node holds.
type jsvKind int

const (
	jsvNone   jsvKind = iota // nothing: null
	jsvRaw                   // an unquoted scalar
	jsvQuoted                // a quoted scalar
	jsvObject
	jsvList
)

// jsvNode is one parsed JSV value.
type jsvNode struct {
	kind  jsvKind
	text  string     // jsvRaw, jsvQuoted
	keys  []string   // jsvObject, in order
	vals  []*jsvNode // jsvObject, parallel to keys
	items []*jsvNode // jsvList
}

// parseJSV parses a whole JSV text into its tree.
func parseJSV(data []byte) (*jsvNode, error) {
	p := &jsvParser{s: data}
	n, err := p.value("")
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected %q after the value", p.s[p.i])
	}
	return n, nil
}

type jsvParser struct {
	s     []byte
	i     int
	depth int
}

func (p *jsvParser) errorf(format string, args ...any) error {
	return &JSVSyntaxError{Offset: p.i, Msg: fmt.Sprintf(format, args...)}
}

func (p *jsvParser) skipSpace() {
	for p.i < len(p.s) && isJSVSpace(p.s[p.i]) {
		p.i++
	}
}

// value parses one value; an unquoted scalar ends before any byte of stop (or at the end).
func (p *jsvParser) value(stop string) (*jsvNode, error) {
	p.skipSpace()
	if p.i == len(p.s) {
		return &jsvNode{kind: jsvNone}, nil
	}
	switch p.s[p.i] {
	case '"':
		s, err := p.quoted()
		if err != nil {
			return nil, err
		}
		return &jsvNode{kind: jsvQuoted, text: s}, nil
	case '{':
		return p.object()
	case '[':
		return p.list()
	}
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(stop, p.s[p.i]) < 0 {
		p.i++
	}
	text := strings.TrimRight(string(p.s[start:p.i]), " \t\n\r\v\f")
	if text == "" {
		return &jsvNode{kind: jsvNone}, nil
	}
	return &jsvNode{kind: jsvRaw, text: text}, nil
}

// quoted reads a "..." string whose inner quotes are doubled.
func (p *jsvParser) quoted() (string, error) {
	start := p.i
	p.i++ // the opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		if c != '"' {
			b.WriteByte(c)
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == '"' {
			b.WriteByte('"')
			p.i++
			continue
		}
		return b.String(), nil
	}
	p.i = start
	return "", p.errorf("unterminated quoted string")
}

func (p *jsvParser) enter() error {
	if p.depth++; p.depth > maxJSVDepth {
		return p.errorf("nested too deeply")
	}
	return nil
}

func (p *jsvParser) object() (*jsvNode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++ // {
	n := &jsvNode{kind: jsvObject}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return n, nil
	}
	for {
		p.skipSpace()
		var key string
		if p.i < len(p.s) && p.s[p.i] == '"' {
			k, err := p.quoted()
			if err != nil {
				return nil, err
			}
			key = k
			p.skipSpace()
		} else {
			start := p.i
			for p.i < len(p.s) && !strings.ContainsRune(":,{}[]\"", rune(p.s[p.i])) {
				p.i++
			}
			key = strings.TrimRight(string(p.s[start:p.i]), " \t\n\r\v\f")
			if key == "" {
				return nil, p.errorf("expected a property name")
			}
		}
		if p.i == len(p.s) || p.s[p.i] != ':' {
			return nil, p.errorf("expected ':' after property %q", key)
		}
		p.i++
		v, err := p.value(",}")
		if err != nil {
			return nil, err
		}
		n.keys, n.vals = append(n.keys, key), append(n.vals, v)
		p.skipSpace()
		if p.i == len(p.s) {
			return nil, p.errorf("unterminated object")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return n, nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object, found %q", p.s[p.i])
		}
	}
}

func (p *jsvParser) list() (*jsvNode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++ // [
	n := &jsvNode{kind: jsvList}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return n, nil
	}
	for {
		v, err := p.value(",]")
		if err != nil {
			return nil, err
		}
		if v.kind == jsvNone {
			return nil, p.errorf("a list item is missing")
		}
		n.items = append(n.items, v)
		p.skipSpace()
		if p.i == len(p.s) {
			return nil, p.errorf("unterminated list")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return n, nil
		default:
			return nil, p.errorf("expected ',' or ']' in a list, found %q", p.s[p.i])
		}
	}
}

// UnmarshalJSV parses JSV data into v, which must be a non-nil pointer. Into an interface
// value it puts map[string]any for an object, []any for a list, a string for a scalar and nil
// for nothing.
func UnmarshalJSV(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("jsv: UnmarshalJSV needs a non-nil pointer")
	}
	n, err := parseJSV(data)
	if err != nil {
		return err
	}
	return bindJSV(n, rv.Elem(), "")
}

// A JSVTypeError tells which field of the target did not fit the text.
type JSVTypeError struct {
	Field string // the path to it, such as Results[0].ExpiryDate; "" for the whole value
	Msg   string
}

func (e *JSVTypeError) Error() string {
	if e.Field == "" {
		return "jsv: " + e.Msg
	}
	return "jsv: " + e.Field + ": " + e.Msg
}

func jsvTypeError(path, format string, args ...any) error {
	return &JSVTypeError{Field: path, Msg: fmt.Sprintf(format, args...)}
}

func (n *jsvNode) scalar() bool { return n.kind == jsvRaw || n.kind == jsvQuoted }

// bindJSV stores n into v.
func bindJSV(n *jsvNode, v reflect.Value, path string) error {
	if v.CanAddr() && v.Addr().Type().Implements(jsvUnmarshalerTyp) {
		if n.kind == jsvNone {
			v.SetZero()
			return nil
		}
		if !n.scalar() {
			return jsvTypeError(path, "expected a value, found an object or a list")
		}
		return v.Addr().Interface().(JSVUnmarshaler).UnmarshalJSV(n.text)
	}
	if v.Type() == timeType {
		if n.kind == jsvNone {
			v.SetZero()
			return nil
		}
		if !n.scalar() {
			return jsvTypeError(path, "expected a date")
		}
		t, err := parseJSVTime(n.text)
		if err != nil {
			return jsvTypeError(path, "%q is not a date", n.text)
		}
		v.Set(reflect.ValueOf(t))
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.kind == jsvNone {
			v.SetZero()
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return bindJSV(n, v.Elem(), path)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			return jsvTypeError(path, "cannot read into %s", v.Type())
		}
		g := genericJSV(n)
		if g == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(g))
		}
		return nil
	case reflect.String:
		switch {
		case n.kind == jsvNone:
			v.SetString("")
		case n.scalar():
			v.SetString(n.text)
		default:
			return jsvTypeError(path, "expected a string, found an object or a list")
		}
		return nil
	case reflect.Bool:
		if n.kind == jsvNone {
			v.SetBool(false)
			return nil
		}
		b, err := strconv.ParseBool(strings.ToLower(n.text))
		if err != nil || !n.scalar() {
			return jsvTypeError(path, "expected true or false")
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind == jsvNone {
			v.SetInt(0)
			return nil
		}
		i, err := strconv.ParseInt(n.text, 10, v.Type().Bits())
		if err != nil || !n.scalar() {
			return jsvTypeError(path, "expected an integer")
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n.kind == jsvNone {
			v.SetUint(0)
			return nil
		}
		u, err := strconv.ParseUint(n.text, 10, v.Type().Bits())
		if err != nil || !n.scalar() {
			return jsvTypeError(path, "expected a non-negative integer")
		}
		v.SetUint(u)
		return nil
	case reflect.Float32, reflect.Float64:
		if n.kind == jsvNone {
			v.SetFloat(0)
			return nil
		}
		f, err := strconv.ParseFloat(n.text, v.Type().Bits())
		if err != nil || !n.scalar() {
			return jsvTypeError(path, "expected a number")
		}
		v.SetFloat(f)
		return nil
	case reflect.Slice:
		switch n.kind {
		case jsvNone:
			v.SetZero()
			return nil
		case jsvList:
		default:
			return jsvTypeError(path, "expected a list")
		}
		s := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
		for i, item := range n.items {
			if err := bindJSV(item, s.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return jsvTypeError(path, "cannot read into %s", v.Type())
		}
		switch n.kind {
		case jsvNone:
			v.SetZero()
			return nil
		case jsvObject:
		default:
			return jsvTypeError(path, "expected a map")
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.keys))
		for i, k := range n.keys {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := bindJSV(n.vals[i], elem, joinJSVPath(path, k)); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
		return nil
	case reflect.Struct:
		switch n.kind {
		case jsvNone:
			v.SetZero()
			return nil
		case jsvObject:
		default:
			return jsvTypeError(path, "expected an object")
		}
		fields := jsvFields(v.Type())
		for i, k := range n.keys {
			f := matchJSVField(fields, k)
			if f == nil {
				continue // ServiceStack ignores properties it does not know
			}
			if err := bindJSV(n.vals[i], v.FieldByIndex(f.index), joinJSVPath(path, f.name)); err != nil {
				return err
			}
		}
		return nil
	}
	return jsvTypeError(path, "cannot read into %s", v.Type())
}

func joinJSVPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// matchJSVField finds a struct field by name: exactly, else ignoring case.
func matchJSVField(fields []jsvField, name string) *jsvField {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i]
		}
	}
	for i := range fields {
		if strings.EqualFold(fields[i].name, name) {
			return &fields[i]
		}
	}
	return nil
}

// genericJSV converts a node to map[string]any, []any, string or nil.
func genericJSV(n *jsvNode) any {
	switch n.kind {
	case jsvRaw, jsvQuoted:
		return n.text
	case jsvObject:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = genericJSV(n.vals[i])
		}
		return m
	case jsvList:
		l := make([]any, len(n.items))
		for i, item := range n.items {
			l[i] = genericJSV(item)
		}
		return l
	}
	return nil
}

// IndentJSV rewrites a JSV text in the indented form ServiceStack's metadata pages show (and
// this dialect's seed document uses): one property or item per line, tabs for indentation,
// an object or list value on the line after its property name. What it returns reads back
// (with keyward's lenient reader) as the same value.
func IndentJSV(data []byte) ([]byte, error) {
	n, err := parseJSV(data)
	if err != nil {
		return nil, err
	}
	var b []byte
	return appendIndentedJSV(b, n, 0), nil
}

func appendIndentedJSV(b []byte, n *jsvNode, depth int) []byte {
	tabs := func(b []byte, d int) []byte {
		for range d {
			b = append(b, '\t')
		}
		return b
	}
	switch n.kind {
	case jsvRaw:
		return append(b, n.text...)
	case jsvQuoted:
		b = append(b, '"')
		b = append(b, strings.ReplaceAll(n.text, `"`, `""`)...)
		return append(b, '"')
	case jsvObject:
		if len(n.keys) == 0 {
			return append(b, "{}"...)
		}
		b = append(b, "{\n"...)
		for i, k := range n.keys {
			b = tabs(b, depth+1)
			b = appendJSVString(b, k)
			b = append(b, ": "...)
			if v := n.vals[i]; (v.kind == jsvObject && len(v.keys) > 0) || (v.kind == jsvList && len(v.items) > 0) {
				b = append(b, '\n')
				b = tabs(b, depth+1)
			}
			b = appendIndentedJSV(b, n.vals[i], depth+1)
			if i < len(n.keys)-1 {
				b = append(b, ',')
			}
			b = append(b, '\n')
		}
		b = tabs(b, depth)
		return append(b, '}')
	case jsvList:
		if len(n.items) == 0 {
			return append(b, "[]"...)
		}
		b = append(b, "[\n"...)
		for i, item := range n.items {
			b = tabs(b, depth+1)
			b = appendIndentedJSV(b, item, depth+1)
			if i < len(n.items)-1 {
				b = append(b, ',')
			}
			b = append(b, '\n')
		}
		b = tabs(b, depth)
		return append(b, ']')
	}
	return b
}
