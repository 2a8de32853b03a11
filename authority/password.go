package authority

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/ratelimit"
)

// Password work is the one thing an unauthenticated caller can make keyward do at will, and each
// argon2id run holds its memory cost (19 MiB by default). Three rules keep it bounded:
//
//   - a login name or password that cannot be valid is refused before any work (no limiter key,
//     no store read, no hash, no audit event);
//   - every attempt is reserved in the limiter before its hash, so that at most the rate's
//     limit of attempts per name and per address are ever evaluated in a window, however many
//     arrive at once; an attempt that succeeds, or that is not evaluated, gives its
//     reservation back, so only failures count;
//   - at most MaxConcurrentHashes hashes run at once; one more is refused at once with
//     EUnavailable and Retry-After, never queued.

// DefaultMaxConcurrentHashes is twice the usable CPUs, and at least 4.
func DefaultMaxConcurrentHashes() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// errHashBusy refuses password work beyond the bound.
var errHashBusy = &keyward.Error{Code: keyward.EUnavailable,
	Message: "too many password checks at once; try again in a moment", RetryAfter: time.Second}

// hashSlot takes one of the slots that bound concurrent password hashes, or refuses at once
// with errHashBusy. The caller calls release once its hashing is done.
func (a *Authority) hashSlot() (release func(), err error) {
	select {
	case a.hashSlots <- struct{}{}:
		return func() { <-a.hashSlots }, nil
	default:
		return nil, errHashBusy
	}
}

// checkDummy spends what checking a password of a user costs, at the authority's own hash cost
// (password.CheckDummy's is the default's), for a login that names no user with a password:
// the answer must take as long as a wrong password's.
func (a *Authority) checkDummy(pass string) {
	a.dummyOnce.Do(func() {
		var b [18]byte
		_, _ = rand.Read(b[:])
		a.dummyHash, _ = password.Hash(hex.EncodeToString(b[:]), a.passwordParams)
	})
	_, _ = a.checkPassword(pass, a.dummyHash)
}

// maxLoginName is the longest name keyward.ValidName accepts; checked first, so that a huge
// name costs nothing.
const maxLoginName = 128

// loginCandidate reports whether a login could succeed at all: a valid user name and a
// password within the policy's length. Service users' names (with ':') are never valid, so
// they cannot log in.
func loginCandidate(name, pass string) bool {
	return name != "" && pass != "" && len(name) <= maxLoginName && keyward.ValidName(name) &&
		len(pass) <= password.MaxLength
}

// reservation is the limiter events an attempt holds until it is known to count.
type reservation struct {
	a    *Authority
	held []limitKey
}

type limitKey struct {
	key  string
	rate ratelimit.Rate
}

// loginKeys are the limiter keys of a login attempt: its address, then its user name, so that
// attempts refused for the address spend nothing of the name's budget.
func (a *Authority) loginKeys(name, remoteAddr string) []limitKey {
	return []limitKey{{"login:addr:" + remoteAddr, a.loginAddrRate}, a.userKey(name)}
}

// userKey is the limiter key of the attempts on one user's password: logins, and the checks of
// the current password when the user changes it.
func (a *Authority) userKey(name string) limitKey {
	return limitKey{"login:user:" + name, a.loginUserRate}
}

// reserve records one event under each key, in order, and returns them held. When a key
// refuses, what was recorded is given back and the answer is ERateLimited with Retry-After; a
// limiter failure (Redis unreachable) refuses too, with its own error.
func (a *Authority) reserve(ctx context.Context, keys []limitKey) (*reservation, error) {
	r := &reservation{a: a}
	for _, k := range keys {
		res, err := a.limiter.Allow(ctx, k.key, k.rate)
		if err != nil {
			r.refund(ctx)
			return nil, err
		}
		if !res.Allowed {
			r.refund(ctx)
			return nil, &keyward.Error{Code: keyward.ERateLimited, Message: "too many failed logins; try again later",
				RetryAfter: res.RetryAfter}
		}
		r.held = append(r.held, k)
	}
	return r, nil
}

// refund gives the held events back: the attempt did not count. It outlives a cancelled
// request, whose success must not cost the user a try.
func (r *reservation) refund(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, k := range r.held {
		if err := r.a.limiter.Refund(ctx, k.key, k.rate); err != nil {
			r.a.logger.Warn("giving back a login attempt failed; it counts as a failure", "err", err)
		}
	}
	r.held = nil
}

// maxAuditField bounds every field of an event built from unauthenticated input.
const maxAuditField = 128

// boundEvent cuts the free-text fields of ev (actor, address, detail values) to maxAuditField
// bytes, at a character boundary: the one place events of unauthenticated input pass through.
func boundEvent(ev *keyward.Event) *keyward.Event {
	ev.Actor, ev.RemoteAddr = truncate(ev.Actor), truncate(ev.RemoteAddr)
	boundDetail(ev.Detail)
	return ev
}

// boundDetail cuts every value of d as boundEvent does, in place, and returns d.
func boundDetail(d map[string]string) map[string]string {
	for k, v := range d {
		d[k] = truncate(v)
	}
	return d
}

// truncate cuts s to at most maxAuditField bytes without splitting a character.
func truncate(s string) string {
	if len(s) <= maxAuditField {
		return s
	}
	cut := maxAuditField
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
