package projectkeys_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/dialect/projectkeys"
)

// seedFile is a copy of the vendor document this dialect implements; the contract tests take
// the method, path, example bodies, field tables and status codes from it.
const seedFile = "003_33420e6dc26e2a77.txt"

// field is a row of one of the seed's field tables.
type field struct{ Name, Type string }

// seed is what the contract tests read out of the vendor document.
type seed struct {
	Method, Path   string
	Params         []field // URL parameters
	Request        map[string]any
	RequestRaw     string
	RequestFields  []field
	Response       map[string]any
	ResponseFields []field
	Success        []int // the success statuses
	Errors         []int // the error statuses
}

var (
	statusRE  = regexp.MustCompile(`HTTP Status Code (\d{3}):`)
	successRE = regexp.MustCompile(`HTTP (\d{3}) or (\d{3}) response`)
)

func loadSeed(t testing.TB) *seed {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", seedFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	s := &seed{}
	tables := 0
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		cells := row(line)
		switch {
		case len(cells) == 2 && cells[0] == "Method":
			s.Method = cells[1]
		case len(cells) == 2 && cells[0] == "URL or Endpoint":
			s.Path = cells[1]
		case len(cells) == 4 && cells[0] == "URL Parameter Name":
			for _, r := range tableRows(lines, i) {
				s.Params = append(s.Params, field{r[0], r[2]})
			}
		case len(cells) == 3 && cells[0] == "Field Name":
			var fs []field
			for _, r := range tableRows(lines, i) {
				fs = append(fs, field{r[0], r[1]})
			}
			if tables++; tables == 1 {
				s.RequestFields = fs
			} else {
				s.ResponseFields = fs
			}
		case line == "Request Body":
			s.RequestRaw = jsonBlock(t, lines, i+1)
			s.Request = decodeObject(t, s.RequestRaw)
		case line == "Response":
			s.Response = decodeObject(t, jsonBlock(t, lines, i+1))
		}
		for _, m := range successRE.FindAllStringSubmatch(line, -1) {
			s.Success = append(s.Success, atoi(t, m[1]), atoi(t, m[2]))
		}
		for _, m := range statusRE.FindAllStringSubmatch(line, -1) {
			s.Errors = append(s.Errors, atoi(t, m[1]))
		}
	}
	if s.Method == "" || s.Path == "" || s.Request == nil || s.Response == nil || len(s.RequestFields) == 0 ||
		len(s.ResponseFields) == 0 || len(s.Success) == 0 || len(s.Errors) == 0 {
		t.Fatalf("the seed did not parse: %+v", s)
	}
	return s
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// row splits a Markdown table row into its cells; nil for any other line.
func row(line string) []string {
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
		return nil
	}
	var cells []string
	for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
		cells = append(cells, strings.TrimSpace(c))
	}
	return cells
}

// tableRows returns the data rows of the table whose header is lines[header].
func tableRows(lines []string, header int) [][]string {
	var rows [][]string
	for _, l := range lines[header+1:] {
		cells := row(strings.TrimSpace(l))
		if cells == nil {
			break
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the separator row
		}
		rows = append(rows, cells)
	}
	return rows
}

// jsonBlock returns the JSON object that starts at or after lines[from].
func jsonBlock(t testing.TB, lines []string, from int) string {
	t.Helper()
	var buf strings.Builder
	depth, started := 0, false
	for _, l := range lines[from:] {
		if !started && !strings.HasPrefix(strings.TrimSpace(l), "{") {
			continue
		}
		started = true
		buf.WriteString(l + "\n")
		depth += strings.Count(l, "{") + strings.Count(l, "[") - strings.Count(l, "}") - strings.Count(l, "]")
		if depth == 0 {
			return buf.String()
		}
	}
	t.Fatalf("no JSON object after line %d of the seed", from)
	return ""
}

func decodeObject(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("the seed's JSON does not decode: %v\n%s", err, s)
	}
	return m
}

// path returns the seed's endpoint with its projectId parameter set to project.
func (s *seed) path(project string) string {
	return strings.Replace(s.Path, "projectId", project, 1)
}

// body returns the seed's example request body with the given fields replaced, as JSON.
func (s *seed) body(t testing.TB, replace map[string]any) string {
	t.Helper()
	m := map[string]any{}
	for k, v := range s.Request {
		m[k] = v
	}
	for k, v := range replace {
		if _, ok := m[k]; !ok {
			t.Fatalf("the seed's request has no field %q", k)
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkType reports whether v (decoded without UseNumber) has the seed's documented type.
func checkType(t testing.TB, name, typ string, v any) {
	t.Helper()
	switch typ {
	case "integer($int32)":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) || n < math.MinInt32 || n > math.MaxInt32 {
			t.Errorf("%s = %v (%T), want an int32", name, v, v)
		}
	case "string":
		if _, ok := v.(string); !ok {
			t.Errorf("%s = %v (%T), want a string", name, v, v)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			t.Errorf("%s = %v (%T), want a bool", name, v, v)
		}
	case "Date":
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s = %v (%T), want a date string", name, v, v)
			return
		}
		if _, err := time.Parse(projectkeys.TimeLayout, s); err != nil {
			t.Errorf("%s = %q is not in the seed's date format: %v", name, s, err)
		}
	case "array[]":
		if _, ok := v.([]any); !ok {
			t.Errorf("%s = %v (%T), want an array", name, v, v)
		}
	case "array[Object]":
		switch v.(type) {
		case map[string]any, []any:
		default:
			t.Errorf("%s = %v (%T), want an object or an array of them", name, v, v)
		}
	default:
		t.Errorf("the seed documents %s with type %q, which this test does not know", name, typ)
	}
}

// sameShape checks that got has exactly the keys of want and that each value has the JSON
// type of want's value (for the seed's example bodies, whose values are placeholders).
func sameShape(t testing.TB, what string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: field %q is missing", what, k)
			continue
		}
		if jsonKind(g) != jsonKind(w) {
			t.Errorf("%s: %s is %s (%v), the seed shows %s", what, k, jsonKind(g), g, jsonKind(w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: field %q is not in the seed", what, k)
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// equalJSON reports whether two JSON texts hold the same value.
func equalJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
