package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// setting returns the value of key, failing t on an error.
func (f *fixture) setting(t *testing.T, key string) []byte {
	t.Helper()
	v, err := f.s.Setting(t.Context(), key)
	if err != nil {
		t.Fatalf("Setting(%q): %v", key, err)
	}
	if v == nil {
		t.Fatalf("Setting(%q) = nil, want a non-nil value", key)
	}
	return v
}

// putSetting writes key without an event.
func (f *fixture) putSetting(t *testing.T, key string, value []byte) {
	t.Helper()
	if err := f.s.PutSetting(t.Context(), key, value, nil); err != nil {
		t.Fatalf("PutSetting(%q): %v", key, err)
	}
}

func testSettings(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		f.putSetting(t, "ca", []byte("state"))
		for _, key := range []string{"missing", "", "CA"} {
			_, err := f.s.Setting(t.Context(), key)
			wantCode(t, err, keyward.ENotFound)
		}
	})

	t.Run("WithoutEvent", func(t *testing.T) {
		f := setup(t, open)
		before := len(f.events(t))
		f.putSetting(t, "ca", []byte("state-1"))
		if got, want := f.setting(t, "ca"), []byte("state-1"); !bytes.Equal(got, want) {
			t.Fatalf("Setting = %q, want %q", got, want)
		}
		f.putSetting(t, "ca", []byte("state-2"))
		if got, want := f.setting(t, "ca"), []byte("state-2"); !bytes.Equal(got, want) {
			t.Fatalf("Setting after replacing = %q, want %q", got, want)
		}
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after PutSetting without one, want %d", got, want)
		}
	})

	t.Run("WithEvent", func(t *testing.T) {
		f := setup(t, open)
		f.putSetting(t, "ca", []byte("state-1"))
		for _, v := range [][]byte{[]byte("state-2"), []byte("state-3")} {
			ev := f.event("ca.import")
			if err := f.s.PutSetting(t.Context(), "ca", v, ev); err != nil {
				t.Fatalf("PutSetting: %v", err)
			}
			f.wantNewestEvent(t, ev)
			if got := f.setting(t, "ca"); !bytes.Equal(got, v) {
				t.Fatalf("Setting = %q, want %q", got, v)
			}
		}
	})

	t.Run("Binary", func(t *testing.T) {
		f := setup(t, open)
		v := []byte{0, 1, 2, 0xff, 0xfe, 0, '\n', '\''}
		f.putSetting(t, "bin", v)
		if got := f.setting(t, "bin"); !bytes.Equal(got, v) {
			t.Fatalf("Setting = %x, want %x", got, v)
		}
		f.putSetting(t, "empty", []byte{})
		if got := f.setting(t, "empty"); len(got) != 0 {
			t.Fatalf("Setting = %x, want empty", got)
		}
	})

	t.Run("Independent", func(t *testing.T) {
		f := setup(t, open)
		f.putSetting(t, "a", []byte("1"))
		f.putSetting(t, "b", []byte("2"))
		f.putSetting(t, "a", []byte("3"))
		if got, want := f.setting(t, "b"), []byte("2"); !bytes.Equal(got, want) {
			t.Fatalf("Setting(b) = %q, want %q", got, want)
		}
	})
}

// resealFixture is a store holding sealed values of every kind, and the ones that must stay.
type resealFixture struct {
	*fixture
	ownCA, keywardCA      *keyward.Cluster
	sealedCred, plainCred *keyward.Credential
	oldSecret, newSecret  *keyward.CredentialSecret // of sealedCred: in its grace period, current
	otherSealed           *keyward.CredentialSecret // of a second sealed credential
	plainSecret           *keyward.CredentialSecret
	items                 int // how many blobs Reseal must rewrite
}

func setupReseal(t *testing.T, open func(t *testing.T) keyward.Store) *resealFixture {
	t.Helper()
	f := &resealFixture{fixture: setup(t, open)}
	f.putSetting(t, "ca", []byte("ca-state"))
	f.putSetting(t, "check", []byte("check-state"))
	f.putSetting(t, "plain", []byte("not sealed"))
	f.ownCA = f.cluster(t, "own", []byte("client-ca"))
	f.keywardCA = f.cluster(t, "keyward", nil)

	c, sec := f.newCredential(f.system, "sealed", nil)
	sec.Sealed = sealed("first")
	if err := f.s.CreateCredential(t.Context(), c, sec, f.event("credential.create")); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	f.oldSecret = sec
	f.newSecret = f.rollSealed(t, c, "second", sealed("second"), at(time.Minute), at(time.Hour))
	f.sealedCred = c

	c2, sec2 := f.newCredential(f.system, "sealed2", nil)
	sec2.Sealed = sealed("other")
	if err := f.s.CreateCredential(t.Context(), c2, sec2, f.event("credential.create")); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	f.otherSealed = sec2
	f.plainCred, f.plainSecret = f.credential(t, f.system, "plain", nil)
	f.certCredential(t, f.system, "cert", "01", nil)
	f.items = 2 + 1 + 3 // settings ca and check, one client CA, three sealed secrets
	return f
}

// secretSealed returns the stored Sealed of the secret with digest d.
func (f *fixture) secretSealed(t *testing.T, d []byte) []byte {
	t.Helper()
	_, gs, err := f.s.CredentialBySecret(t.Context(), d)
	if err != nil {
		t.Fatalf("CredentialBySecret: %v", err)
	}
	return gs.Sealed
}

// check fails t unless every value is what prefix applied to the original gives ("" for the
// originals).
func (f *resealFixture) check(t *testing.T, prefix string) {
	t.Helper()
	p := func(s string) []byte { return append([]byte(prefix), s...) }
	for _, tc := range []struct {
		what      string
		got, want []byte
	}{
		{"setting ca", f.setting(t, "ca"), p("ca-state")},
		{"setting check", f.setting(t, "check"), p("check-state")},
		{"setting plain", f.setting(t, "plain"), []byte("not sealed")},
		{"cluster client CA", f.clusterCA(t, "own"), p("client-ca")},
		{"old secret", f.secretSealed(t, f.oldSecret.Digest), p(string(sealed("first")))},
		{"current secret", f.secretSealed(t, f.newSecret.Digest), p(string(sealed("second")))},
		{"SealedSecret", f.sealedSecret(t, f.sealedCred), p(string(sealed("second")))},
		{"other secret", f.secretSealed(t, f.otherSealed.Digest), p(string(sealed("other")))},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Fatalf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if got := f.clusterCA(t, "keyward"); got != nil {
		t.Fatalf("cluster without a client CA has %q", got)
	}
	if got := f.secretSealed(t, f.plainSecret.Digest); got != nil {
		t.Fatalf("unsealed secret has %q", got)
	}
	_, err := f.s.SealedSecret(t.Context(), f.plainCred.ID)
	wantCode(t, err, keyward.ENotFound)
	_, err = f.s.Setting(t.Context(), "missing")
	wantCode(t, err, keyward.ENotFound)
	f.wantRecoverable(t, f.sealedCred, f.newSecret.Digest, true)
	f.wantRecoverable(t, f.plainCred, f.plainSecret.Digest, false)
}

func (f *fixture) clusterCA(t *testing.T, name string) []byte {
	t.Helper()
	cl, err := f.s.ClusterByName(t.Context(), name)
	if err != nil {
		t.Fatalf("ClusterByName(%q): %v", name, err)
	}
	return cl.ClientCA
}

func testReseal(t *testing.T, open func(t *testing.T) keyward.Store) {
	keys := []string{"ca", "check", "missing", "ca"} // "missing" does not exist; "ca" is named twice

	t.Run("OK", func(t *testing.T) {
		f := setupReseal(t, open)
		var labels []string
		ev := f.event("master_key.rotate")
		err := f.s.Reseal(t.Context(), keys, func(label string, blob []byte) ([]byte, error) {
			labels = append(labels, label)
			return append([]byte("v2:"), blob...), nil
		}, ev)
		if err != nil {
			t.Fatalf("Reseal: %v", err)
		}
		f.wantNewestEvent(t, ev)
		f.check(t, "v2:")
		slices.Sort(labels)
		want := []string{"cluster", "secret", "secret", "secret", "setting:ca", "setting:check"}
		if !slices.Equal(labels, want) {
			t.Fatalf("fn labels = %v, want %v", labels, want)
		}
	})

	t.Run("WithoutEvent", func(t *testing.T) {
		f := setupReseal(t, open)
		before := len(f.events(t))
		if err := f.s.Reseal(t.Context(), keys, func(_ string, blob []byte) ([]byte, error) {
			return append([]byte("v2:"), blob...), nil
		}, nil); err != nil {
			t.Fatalf("Reseal: %v", err)
		}
		f.check(t, "v2:")
		if got, want := len(f.events(t)), before; got != want {
			t.Fatalf("%d events after Reseal without one, want %d", got, want)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		f := setup(t, open)
		calls := 0
		ev := f.event("master_key.rotate")
		if err := f.s.Reseal(t.Context(), nil, func(string, []byte) ([]byte, error) {
			calls++
			return []byte("x"), nil
		}, ev); err != nil {
			t.Fatalf("Reseal: %v", err)
		}
		if calls != 0 {
			t.Fatalf("fn called %d times on a store without sealed values", calls)
		}
		f.wantNewestEvent(t, ev)
	})

	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		fail  func(call, items int) bool // fail on this call
		err   error
		empty bool // return an empty value instead of an error
		code  keyward.Code
	}{
		{"ErrOnLast", func(call, items int) bool { return call == items }, errBoom, false, keyward.EInternal},
		{"ErrOnFirst", func(call, _ int) bool { return call == 1 }, errBoom, false, keyward.EInternal},
		{"ErrKeyward", func(call, items int) bool { return call == items }, keyward.Errorf(keyward.EInvalid, "wrong key"), false, keyward.EInvalid},
		{"ErrEmptyResult", func(call, items int) bool { return call == items }, nil, true, keyward.EInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setupReseal(t, open)
			before := len(f.events(t))
			calls := 0
			ev := f.event("master_key.rotate")
			err := f.s.Reseal(t.Context(), keys, func(_ string, blob []byte) ([]byte, error) {
				calls++
				if tc.fail(calls, f.items) {
					if tc.empty {
						return []byte{}, nil
					}
					return nil, tc.err
				}
				return append([]byte("v2:"), blob...), nil
			}, ev)
			if err == nil {
				t.Fatal("Reseal succeeded")
			}
			wantCode(t, err, tc.code)
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("Reseal error = %v, want it to wrap %v", err, tc.err)
			}
			if tc.fail(f.items, f.items) && calls != f.items {
				t.Fatalf("fn called %d times, want %d", calls, f.items)
			}
			f.wantNoEvent(t, before, ev)
			f.check(t, "")
		})
	}
}

func testCreateSetting(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Run("OK", func(t *testing.T) {
		f := setup(t, open)
		ev := f.event("ca.create")
		if err := f.s.CreateSetting(t.Context(), "ca", []byte("first"), ev); err != nil {
			t.Fatalf("CreateSetting: %v", err)
		}
		if ev.ID <= 0 {
			t.Fatalf("event ID = %d, want > 0", ev.ID)
		}
		got, err := f.s.Setting(t.Context(), "ca")
		if err != nil || string(got) != "first" {
			t.Fatalf("Setting = %q, %v", got, err)
		}
	})
	t.Run("ErrExists", func(t *testing.T) {
		f := setup(t, open)
		if err := f.s.CreateSetting(t.Context(), "ca", []byte("first"), nil); err != nil {
			t.Fatal(err)
		}
		before := len(f.events(t))
		wantCode(t, f.s.CreateSetting(t.Context(), "ca", []byte("second"), f.event("ca.create")), keyward.EConflict)
		if got, _ := f.s.Setting(t.Context(), "ca"); string(got) != "first" {
			t.Fatalf("a refused CreateSetting replaced the value: %q", got)
		}
		if got := len(f.events(t)); got != before {
			t.Fatalf("a refused CreateSetting wrote %d events", got-before)
		}
	})
	// Servers starting at once race to create the CA: exactly one wins, the others see EConflict.
	t.Run("Concurrent", func(t *testing.T) {
		f := setup(t, open)
		const n = 12
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs <- f.s.CreateSetting(t.Context(), "ca", []byte(fmt.Sprintf("v%d", i)), nil)
			}(i)
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			switch keyward.ErrorCode(err) {
			case "":
				ok++
			case keyward.EConflict:
			default:
				t.Errorf("CreateSetting: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent CreateSetting calls succeeded, want exactly 1", ok, n)
		}
	})
}
