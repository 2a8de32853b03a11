package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// surfaces drives every HTTP surface of one server with one admin token.
type surfaces struct {
	t     *testing.T
	url   string
	admin string
}

// call sends a request with the auth header a surface expects and returns status and JSON.
func (s *surfaces) call(method, path, authHeader, authValue, contentType, body string) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if authHeader != "" {
		req.Header.Set(authHeader, authValue)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func (s *surfaces) native(method, path, body string) (int, map[string]any) {
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return s.call(method, path, "Authorization", "Bearer "+s.admin, ct, body)
}

func (s *surfaces) f5(method, path, body string) (int, map[string]any) {
	return s.call(method, "/api/web/namespaces/system/"+path, "Authorization", "APIToken "+s.admin, "application/json", body)
}

func (s *surfaces) projectKeys(method, path, body string) (int, map[string]any) {
	return s.call(method, "/api/projects/system/api-keys"+path, "Authorization", "Bearer "+s.admin, "application/json", body)
}

func (s *surfaces) voltmx(method, key, body string) (int, map[string]any) {
	ct := ""
	if body != "" {
		ct = "application/x-www-form-urlencoded"
	}
	return s.call(method, "/api/v1/applications/key/"+key, "X-VoltMX-Authorization", s.admin, ct, body)
}

// verify asks the native API and the gateway check about key.
func (s *surfaces) verify(key string) (string, int) {
	s.t.Helper()
	_, v := s.native("POST", "/v1/verify", `{"key":"`+key+`"}`)
	status, _ := s.call("GET", "/v1/auth", "Authorization", "Bearer "+key, "", "")
	code, _ := v["code"].(string)
	return code, status
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	switch v := cur.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatInt(int64(v), 10)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// sameSecond parses the expiry each surface writes in its own format (RFC 3339 with or without
// fractions, Volt MX's mm/dd/yyyy hh:mm:ss UTC) and compares them to the second.
func sameSecond(t *testing.T, what string, values ...string) {
	t.Helper()
	var first time.Time
	for i, v := range values {
		var got time.Time
		var err error
		for _, layout := range []string{time.RFC3339Nano, "01/02/2006 15:04:05 MST"} {
			if got, err = time.Parse(layout, v); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s: %q does not parse: %v", what, v, err)
		}
		got = got.UTC().Truncate(time.Second)
		if i == 0 {
			first = got
		} else if !got.Equal(first) {
			t.Fatalf("%s: surfaces disagree: %v vs %v (%v)", what, first, got, values)
		}
	}
}

func TestCrossSurface(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, t.TempDir(), "--bootstrap-token-file", filepath.Join(dir, "tok"))
	raw, _ := os.ReadFile(filepath.Join(dir, "tok"))
	s := &surfaces{t: t, url: srv.url, admin: strings.TrimSpace(string(raw))}

	// A key created through F5 XC is the same credential everywhere.
	status, created := s.f5("POST", "api_credentials", `{"name":"from-f5","namespace":"system","expiration_days":3,"spec":{"type":"API_TOKEN"}}`)
	if status != 200 && status != 201 {
		t.Fatalf("F5 create: %d %v", status, created)
	}
	key := str(created, "data")
	_, native := s.native("GET", "/v1/projects/system/credentials/from-f5", "")
	id := str(native, "id")
	_, f5 := s.f5("GET", "api_credentials/from-f5", "")
	_, pk := s.projectKeys("GET", "/"+id, "")
	_, vmx := s.voltmx("GET", key, "")
	sameSecond(t, "expiry",
		str(native, "expires_at"), str(f5, "object", "spec", "gc_spec", "expiration_timestamp"),
		str(pk, "result", "expireDate"), str(vmx, "result", "expiresOn"))
	if str(native, "state") != "active" || str(f5, "object", "spec", "gc_spec", "active") != "true" {
		t.Fatalf("state: native %s, F5 %s", str(native, "state"), str(f5, "object", "spec", "gc_spec", "active"))
	}
	if code, st := s.verify(key); code != "VALID" || st != 200 {
		t.Fatalf("verify after F5 create: %s %d", code, st)
	}

	// A revoke through Volt MX is refused by every other surface on the next request.
	if status, body := s.voltmx("DELETE", key, ""); status != 200 {
		t.Fatalf("Volt MX delete: %d %v", status, body)
	}
	if code, st := s.verify(key); code != "REVOKED" || st != 401 {
		t.Fatalf("after Volt MX delete: verify %s, auth %d", code, st)
	}
	if _, f5 := s.f5("GET", "api_credentials/from-f5", ""); str(f5, "object", "spec", "gc_spec", "active") != "false" {
		t.Fatalf("F5 still shows the revoked key active: %v", f5)
	}
	if st, _ := s.projectKeys("GET", "/"+id, ""); st != 404 {
		t.Fatalf("project keys still shows the revoked key: %d", st)
	}
	if st, _ := s.call("GET", "/v1/whoami", "Authorization", "Bearer "+key, "", ""); st != 401 {
		t.Fatalf("revoked key still authenticates: %d", st)
	}

	// Created through project keys, revoked through F5.
	status, pkc := s.projectKeys("POST", "", `{"name":"from-pk","expireDate":"`+time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)+`","hasExpireTime":true}`)
	pkKey := str(pkc, "result", "apiKey")
	if status != 201 || pkKey == "" {
		t.Fatalf("project keys create: %d %v", status, pkc)
	}
	if code, _ := s.verify(pkKey); code != "VALID" {
		t.Fatalf("verify after project-keys create: %s", code)
	}
	if status, body := s.f5("POST", "revoke/api_credentials", `{"name":"from-pk","namespace":"system"}`); status != 200 {
		t.Fatalf("F5 revoke: %d %v", status, body)
	}
	if code, st := s.verify(pkKey); code != "REVOKED" || st != 401 {
		t.Fatalf("after F5 revoke: %s %d", code, st)
	}
	if st, _ := s.voltmx("GET", pkKey, ""); st != 400 {
		t.Fatalf("Volt MX still shows a revoked key: %d", st)
	}

	// Created through the native API, revoked through project keys.
	_, nat := s.native("POST", "/v1/projects/system/credentials", `{"name":"from-native","expiration_days":5}`)
	natKey, natID := str(nat, "key"), str(nat, "id")
	_, vmx = s.voltmx("GET", natKey, "")
	_, f5 = s.f5("GET", "api_credentials/from-native", "")
	sameSecond(t, "native expiry", str(nat, "expires_at"), str(f5, "object", "spec", "gc_spec", "expiration_timestamp"), str(vmx, "result", "expiresOn"))
	if status, body := s.projectKeys("DELETE", "/"+natID, ""); status != 200 {
		t.Fatalf("project keys delete: %d %v", status, body)
	}
	if code, st := s.verify(natKey); code != "REVOKED" || st != 401 {
		t.Fatalf("after project-keys delete: %s %d", code, st)
	}
	// ServiceStack: regenerate issues the caller's keys; each is an ordinary credential that
	// every surface sees, and the next regenerate revokes it for all of them.
	status, ss := s.call("POST", "/auth/apikeys/regenerate/live", "Authorization", "Bearer "+s.admin, "", "")
	results, _ := ss["Results"].([]any)
	if status != 200 || len(results) == 0 {
		t.Fatalf("ServiceStack regenerate: %d %v", status, ss)
	}
	first, _ := results[0].(map[string]any)
	ssKey := str(first, "Key")
	if code, st := s.verify(ssKey); code != "VALID" || st != 200 {
		t.Fatalf("ServiceStack key, natively: %s %d", code, st)
	}
	if _, vmx := s.voltmx("GET", ssKey, ""); str(vmx, "result", "appAPIKey") == "" {
		t.Fatalf("Volt MX does not see the ServiceStack key: %v", vmx)
	}
	if status, _ := s.call("POST", "/auth/apikeys/regenerate/live", "Authorization", "Bearer "+s.admin, "", ""); status != 200 {
		t.Fatalf("second regenerate: %d", status)
	}
	if code, st := s.verify(ssKey); code != "REVOKED" || st != 401 {
		t.Fatalf("after regenerate, the old ServiceStack key: %s %d", code, st)
	}
	srv.stop(t)
}
