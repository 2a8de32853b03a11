package snapshot_test

import (
	"reflect"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/snapshot"
)

func TestInvalidText(t *testing.T) {
	s := &snapshot.Snapshot{
		Projects: []keyward.Project{{ID: 1, Slug: "ok", Name: "fine"}},
		Users:    []snapshot.User{{User: keyward.User{ID: 2, Name: "b\xffob"}}},
		Credentials: []keyward.Credential{{ID: 3, Name: "web", Description: "a\x00b",
			Meta: map[string]string{"t\x00": "v"}}},
		Events: []snapshot.Event{{Event: keyward.Event{ID: 4, Action: "login", Detail: map[string]string{"name": "m\xe2\x82"}}},
			{Event: keyward.Event{ID: 5, Action: "ok", Detail: map[string]string{"k": "v"}}}},
	}
	want := []string{"user 2 name", "credential 3 description", "credential 3 meta", "event 4 detail"}
	if got := s.InvalidText(); !reflect.DeepEqual(got, want) {
		t.Fatalf("InvalidText = %q, want %q", got, want)
	}
	untouched := s.Events[1].Detail
	if got := s.ReplaceInvalidText(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ReplaceInvalidText = %q, want %q", got, want)
	}
	if got := s.InvalidText(); got != nil {
		t.Fatalf("after ReplaceInvalidText, InvalidText = %q", got)
	}
	for _, c := range []struct{ got, want string }{
		{s.Users[0].Name, "b\uFFFDob"},
		{s.Credentials[0].Description, "a\uFFFDb"},
		{s.Credentials[0].Meta["t\uFFFD"], "v"},
		{s.Events[0].Detail["name"], "m\uFFFD"},
		{s.Projects[0].Name, "fine"},
	} {
		if c.got != c.want {
			t.Errorf("replaced %q, want %q", c.got, c.want)
		}
	}
	if reflect.ValueOf(s.Events[1].Detail).Pointer() != reflect.ValueOf(untouched).Pointer() {
		t.Error("a valid map was replaced by a copy")
	}
}
