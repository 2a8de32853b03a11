package auditchain_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/auditchain"
)

// TestHashUnambiguous: events that differ anywhere, even only in where one field ends and the
// next begins, hash apart; the order Detail is built in does not matter.
func TestHashUnambiguous(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	base := keyward.Event{Time: t0, ActorUserID: 1, ActorCredentialID: 2, Actor: "ab", Action: "c",
		ProjectID: 3, CredentialID: 4, RemoteAddr: "r", Outcome: "success", Detail: map[string]string{"k": "v"}}
	edits := map[string]func(e *keyward.Event){
		"time":         func(e *keyward.Event) { e.Time = e.Time.Add(time.Microsecond) },
		"actor user":   func(e *keyward.Event) { e.ActorUserID++ },
		"actor cred":   func(e *keyward.Event) { e.ActorCredentialID++ },
		"boundary":     func(e *keyward.Event) { e.Actor, e.Action = "a", "bc" },
		"project":      func(e *keyward.Event) { e.ProjectID++ },
		"credential":   func(e *keyward.Event) { e.CredentialID++ },
		"remote":       func(e *keyward.Event) { e.RemoteAddr = "" },
		"outcome":      func(e *keyward.Event) { e.Outcome = "denied" },
		"detail value": func(e *keyward.Event) { e.Detail = map[string]string{"k": "w"} },
		"detail split": func(e *keyward.Event) { e.Detail = map[string]string{"kv": ""} },
		"detail more":  func(e *keyward.Event) { e.Detail = map[string]string{"k": "v", "": ""} },
		"detail none":  func(e *keyward.Event) { e.Detail = nil },
	}
	want := auditchain.Hash(&base, 5, []byte("prev"))
	for name, edit := range edits {
		e := base
		edit(&e)
		if bytes.Equal(auditchain.Hash(&e, 5, []byte("prev")), want) {
			t.Errorf("%s: the hash did not change", name)
		}
	}
	if bytes.Equal(auditchain.Hash(&base, 6, []byte("prev")), want) || bytes.Equal(auditchain.Hash(&base, 5, []byte("prevx")), want) {
		t.Error("seq or the previous hash is not hashed")
	}
	// Detail is hashed by key, however the map was built; nil and empty are alike.
	e := base
	e.Detail = map[string]string{}
	for _, k := range []string{"z", "a", "m"} {
		e.Detail[k] = k
	}
	f := base
	f.Detail = map[string]string{"a": "a", "m": "m", "z": "z"}
	if !bytes.Equal(auditchain.Hash(&e, 1, nil), auditchain.Hash(&f, 1, nil)) {
		t.Error("the hash depends on the order of Detail")
	}
	e.Detail, f.Detail = nil, map[string]string{}
	if !bytes.Equal(auditchain.Hash(&e, 1, nil), auditchain.Hash(&f, 1, nil)) {
		t.Error("a nil and an empty Detail hash apart")
	}
}

// TestVerifier feeds a chain built here through the Verifier, whole and damaged.
func TestVerifier(t *testing.T) {
	key := bytes.Repeat([]byte{9}, auditchain.KeySize)
	build := func(n int) []*keyward.ChainedEvent {
		var out []*keyward.ChainedEvent
		prev := []byte{}
		for i := 1; i <= n; i++ {
			ce := &keyward.ChainedEvent{Event: keyward.Event{ID: int64(i), Action: "a", Time: time.Unix(int64(i), 0)}}
			h := auditchain.Hash(&ce.Event, int64(i), prev)
			ce.Chain = keyward.ChainLink{Seq: int64(i), PrevHash: prev, Hash: h, MAC: auditchain.MAC(key, h)}
			out, prev = append(out, ce), h
		}
		return out
	}
	run := func(chain []*keyward.ChainedEvent, head *keyward.ChainHead) *auditchain.Report {
		v := auditchain.NewVerifier(key, 0, nil)
		for _, ce := range chain {
			if !v.Add(ce) {
				break
			}
		}
		return v.Finish(head)
	}
	tests := []struct {
		name   string
		damage func(c []*keyward.ChainedEvent) []*keyward.ChainedEvent
		kind   auditchain.Kind
		seq    int64
	}{
		{"OK", func(c []*keyward.ChainedEvent) []*keyward.ChainedEvent { return c }, "", 0},
		{"Edited", func(c []*keyward.ChainedEvent) []*keyward.ChainedEvent { c[1].Action = "b"; return c }, auditchain.Edited, 2},
		{"Gap", func(c []*keyward.ChainedEvent) []*keyward.ChainedEvent { return append(c[:1], c[2:]...) }, auditchain.Deleted, 3},
		{"NoMAC", func(c []*keyward.ChainedEvent) []*keyward.ChainedEvent { c[2].Chain.MAC = nil; return c }, auditchain.Forged, 3},
		{"Unchained", func(c []*keyward.ChainedEvent) []*keyward.ChainedEvent {
			return append(c, &keyward.ChainedEvent{Event: keyward.Event{ID: 9}})
		}, auditchain.Inserted, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := build(4)
			head := &keyward.ChainHead{Seq: 4, Hash: c[3].Chain.Hash}
			r := run(tc.damage(c), head)
			if tc.kind == "" {
				if !r.OK() || r.Events != 4 {
					t.Fatalf("report = %+v, want OK with 4 events", r)
				}
				return
			}
			if r.OK() || r.Problem.Kind != tc.kind || r.Problem.Seq != tc.seq {
				t.Fatalf("report = %+v (%v), want %s at seq %d", r, r.Problem, tc.kind, tc.seq)
			}
		})
	}
}
