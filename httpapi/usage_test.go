package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/token"
)

// The usage endpoints serve what verifications counted, once the recorder has flushed, in the
// shape the OpenAPI document gives (the test server checks every answer against it).
func TestUsage(t *testing.T) {
	t.Parallel()
	e, _ := startWith(t, authority.Options{UsageFlushInterval: 10 * time.Millisecond}, 0)
	r := e.do(t, "POST", "/v1/projects/system/credentials", "application/json", `{"name":"counted","ratelimit":{"limit":2,"duration":3600000}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var issued keyward.IssuedCredential
	r.json(t, &issued)
	never, _ := token.New(keyward.Live)
	for _, key := range []string{issued.Key, issued.Key, issued.Key, never} {
		if r := e.do(t, "POST", "/v1/verify", "application/json", `{"key":"`+key+`"}`); r.status != http.StatusOK {
			t.Fatalf("verify: %d %s", r.status, r.body)
		}
	}
	want := map[string]int64{keyward.CodeValid: 2, keyward.CodeRateLimited: 1}
	var rep keyward.UsageReport
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do(t, "GET", "/v1/projects/system/credentials/counted/usage", "", "")
		if r.status != http.StatusOK {
			t.Fatalf("credential usage: %d %s", r.status, r.body)
		}
		rep = keyward.UsageReport{}
		r.json(t, &rep)
		if rep.Totals[keyward.CodeValid] == 2 && rep.Totals[keyward.CodeRateLimited] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counts never reached %v: %v", want, rep.Totals)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(rep.Totals) != 2 || rep.Window != "24h" || rep.Bucket != "hour" || len(rep.Series) != 24 ||
		rep.Credential != "counted" || rep.CredentialID != issued.ID || rep.Project != keyward.SystemProject {
		t.Fatalf("credential report: %+v", rep)
	}

	for _, tc := range []struct {
		name, path string
		status     int
		check      func(t *testing.T, rep keyward.UsageReport)
	}{
		{"ProjectDay", "/v1/projects/system/usage", 200, func(t *testing.T, rep keyward.UsageReport) {
			// The admin's own requests count too (its key authenticates each of them).
			if rep.Totals[keyward.CodeRateLimited] != 1 || rep.Totals[keyward.CodeValid] < 2 || len(rep.Series) != 24 {
				t.Fatalf("project report: %+v", rep)
			}
			found := false
			for _, k := range rep.Top {
				found = found || (k.Name == "counted" && k.Valid == 2 && k.Refused == 1)
			}
			if !found {
				t.Fatalf("counted is not in the top keys %+v", rep.Top)
			}
		}},
		{"Project30d", "/v1/projects/system/usage?window=30d", 200, func(t *testing.T, rep keyward.UsageReport) {
			if rep.Bucket != "day" || len(rep.Series) != 30 || rep.To.Sub(rep.From) != 30*24*time.Hour {
				t.Fatalf("30d report: %s, %d buckets, [%v, %v)", rep.Bucket, len(rep.Series), rep.From, rep.To)
			}
		}},
		{"CredentialByID30d", "/v1/projects/system/credentials/" + strconv.FormatInt(issued.ID, 10) + "/usage?window=30d", 200, func(t *testing.T, rep keyward.UsageReport) {
			if rep.Totals[keyward.CodeValid] != 2 || rep.Series[29].Counts[keyward.CodeRateLimited] != 1 {
				t.Fatalf("credential by id, 30d: %+v", rep)
			}
		}},
		{"BadWindow", "/v1/projects/system/usage?window=1y", 400, nil},
		{"NoSuchCredential", "/v1/projects/system/credentials/nope/usage", 404, nil},
		{"NoSuchProject", "/v1/projects/nope/usage", 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "GET", tc.path, "", "")
			if r.status != tc.status {
				t.Fatalf("GET %s: %d %s, want %d", tc.path, r.status, r.body, tc.status)
			}
			if tc.check != nil {
				var rep keyward.UsageReport
				r.json(t, &rep)
				tc.check(t, rep)
			}
		})
	}
}
