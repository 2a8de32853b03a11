package authority

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// Verify tells whether in.Key is a valid credential and, when in.Permission lists any, whether
// it holds them all in its project. A key the caller may not verify (another tenant's) is
// reported as NOT_FOUND, exactly like one that does not exist. A key whose creator is disabled
// is DISABLED; one whose creator no longer holds any right it was given is FORBIDDEN.
func (a *Authority) Verify(ctx context.Context, in keyward.VerifyInput) (*keyward.Verification, error) {
	v, _, err := a.VerifyMemo(ctx, in)
	return v, err
}

// VerifyMemo is Verify, with the memo of the answer when the answer is shared (see Memo).
func (a *Authority) VerifyMemo(ctx context.Context, in keyward.VerifyInput) (*keyward.Verification, *Memo, error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	v, e, err := a.verify(ctx, in, func(projectID int64, _ string) bool { return c.Can(keyward.PermKeysVerify, projectID) }, "")
	return v, memoOf(v, e), err
}

// VerifyForGateway verifies a key presented to a gateway (forward-auth): there is no separate
// caller, the gateway is trusted by where it runs. project, when not empty, restricts the
// answer to keys of that project (slug); others are NOT_FOUND. The memo is the answer's when it
// is shared (see Memo).
func (a *Authority) VerifyForGateway(ctx context.Context, in keyward.VerifyInput, project string) (*keyward.Verification, *Memo, error) {
	v, e, err := a.verify(ctx, in, func(_ int64, slug string) bool { return project == "" || slug == project }, "")
	return v, memoOf(v, e), err
}

// Memo keeps what surfaces render of a shared answer: the one a cache entry gives every valid
// verification of a key without limits, or the one answer for an unknown key. Each surface
// has its slot (MemoVerifyBody, MemoGatewayHeaders) and renders the answer once per entry
// instead of once per request; a changed key gets a new entry, hence a new memo.
type Memo struct {
	slots [memoSlots]atomic.Value
}

// The slots of a Memo.
const (
	MemoVerifyBody     = iota // the native /v1/verify body
	MemoGatewayHeaders        // the /v1/auth answer's headers
	memoSlots
)

// Load returns what slot holds, nil when nothing yet.
func (m *Memo) Load(slot int) any { return m.slots[slot].Load() }

// Store keeps v in slot; v must not change afterwards, and every Store of a slot must store
// the same type (atomic.Value's rule).
func (m *Memo) Store(slot int, v any) { m.slots[slot].Store(v) }

// notFoundMemo is the memo of notFound.
var notFoundMemo Memo

// memoOf returns the memo of v when v is a shared answer: e's valid answer or notFound.
func memoOf(v *keyward.Verification, e *entry) *Memo {
	switch {
	case v == notFound:
		return &notFoundMemo
	case e != nil && v == &e.valid:
		if m := e.memo.Load(); m != nil {
			return m
		}
		e.memo.CompareAndSwap(nil, new(Memo))
		return e.memo.Load()
	}
	return nil
}

// verify is the verification every entry point shares; visible says whether a found key, in
// the project with that id and slug, may be reported, so that an invisible one is NOT_FOUND.
// cluster is the virtual cluster whose KUBE_TOKENs the entry point verifies, and only those:
// "" for the entry points of every other key. It returns the cache entry of a key it found.
func (a *Authority) verify(ctx context.Context, in keyward.VerifyInput, visible func(projectID int64, project string) bool, cluster string) (*keyward.Verification, *entry, error) {
	for _, p := range in.Permission {
		if !keyward.ValidPermission(p) {
			return nil, nil, keyward.Invalid("permission", "unknown permission "+strconv.Quote(string(p)))
		}
	}
	if !token.Valid(in.Key) {
		return notFound, nil, nil
	}
	now := a.clock()
	e, err := a.lookup(ctx, digestOf(in.Key), now)
	if err != nil {
		return nil, nil, err
	} else if e == nil {
		return notFound, nil, nil
	}
	if !e.secretLive(now) || !visible(e.projectID, e.valid.Project) || e.cluster() != cluster {
		return notFound, nil, nil
	}
	code := keyward.CodeValid
	switch e.stateAt(now) {
	case keyward.StateRevoked:
		code = keyward.CodeRevoked
	case keyward.StateDisabled:
		code = keyward.CodeDisabled
	case keyward.StatePending:
		code = keyward.CodeNotYetValid
	case keyward.StateExpired:
		code = keyward.CodeExpired
	default:
		if !e.creatorActive() {
			code = keyward.CodeDisabled
		} else if e.perms == 0 {
			code = keyward.CodeForbidden
		}
		for _, p := range in.Permission {
			if e.perms&permBit(p) == 0 {
				code = keyward.CodeForbidden
			}
		}
	}
	if code == keyward.CodeValid {
		v, err := a.applyLimits(ctx, e.credID(), e.limits(), &e.valid) // e.valid is shared and read-only
		if err != nil {
			return nil, nil, err
		}
		switch {
		case e.flags&flagSession != 0:
			if v.Valid {
				a.usage.touch(e.credID(), now)
			}
		case v.Valid:
			a.usage.record(e.credID(), now)
		default:
			a.usage.refused(e.credID(), now, v.Code) // RATE_LIMITED, USAGE_EXCEEDED
		}
		return v, e, nil
	}
	if e.flags&flagSession == 0 {
		a.usage.refused(e.credID(), now, code)
	}
	v := e.valid
	v.Valid, v.Code = false, code
	if code != keyward.CodeForbidden {
		v.Permissions = nil
	}
	return &v, e, nil
}

// notFound is the one answer for a key that does not exist or may not be seen; shared and
// read-only.
var notFound = &keyward.Verification{Code: keyward.CodeNotFound}
