package authority

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/token"
)

// Bounds of one leak report: how many tokens, and how long its url and source may be. A url
// past its bound is cut (it is only recorded), a source past its bound is refused.
const (
	MaxLeakTokens    = 1000
	MaxLeakURLLen    = 2048
	MaxLeakSourceLen = 64
	// maxLeakTokenLen is the longest token text a report may carry; anything longer is no
	// keyward token and is not even hashed in full.
	maxLeakTokenLen = 1024
)

// LeakReport is what ReportLeaks is told: the tokens found exposed and where each was found.
type LeakReport struct {
	// Reporter names who reports, for the audit trail: "github" for GitHub's secret scanning
	// (checked by its signature), "api" for an authenticated caller (also the event's actor).
	Reporter string
	// RemoteAddr is the reporter's address, for the audit trail of an unauthenticated report.
	RemoteAddr string
	Found      []LeakFound
}

// LeakFound is one token found exposed: the token, the public URL where it was found (may be
// empty) and what kind of place that is (GitHub's "content", "commit", ..., or the caller's).
type LeakFound struct {
	Token, URL, Source string
}

// leakAction is the one place that decides what a leak does to cred, a key of project: revoke
// it, or disable it (reversible) when the project's policy says so. A login session is no
// project key and is never subject to a policy: it is revoked.
func leakAction(project *keyward.Project, cred *keyward.Credential) string {
	if cred.Type != keyward.Session && project.Policy.LeakAction == keyward.LeakDisable {
		return keyward.LeakDisable
	}
	return keyward.LeakRevoke
}

// ReportLeaks ends every live key among the tokens of in, and answers, per token in the order
// given, whether it is a keyward token this server issued and what happened to it, never to
// whom it belongs. A token fails the checksum ("not a keyward token") without any store
// access, and one missing from the set of issued secrets is answered unknown the same way (see
// mayBeIssued). A known key is revoked, or disabled if its project's policy says so (see
// leakAction), in one transaction with its credential.leaked audit event (url, source,
// reporter, action; never the token), and the change reaches every replica's cache through the
// change feed. A key revoked already (or disabled, under a disabling policy) is reported known
// and changes nothing. A rolled secret in its grace period that leaks ends its whole
// credential: the new secret was most likely deployed where the old one leaked from.
//
// Anyone may report: holding a token is proof enough that it is exposed, and ending a key is
// all a report can do. The caller in ctx (if any) is the events' actor.
func (a *Authority) ReportLeaks(ctx context.Context, in LeakReport) (*keyward.LeakResult, error) {
	fe := fieldErrors{}
	switch {
	case len(in.Found) == 0:
		fe.add("tokens", "give at least one token")
	case len(in.Found) > MaxLeakTokens:
		fe.add("tokens", "at most "+strconv.Itoa(MaxLeakTokens)+" tokens per report")
	}
	for i := range in.Found {
		f := &in.Found[i]
		if !keyward.ValidText(f.Token) {
			fe.add("tokens", keyward.TextRule)
		}
		if !keyward.ValidText(f.URL) {
			fe.add("url", keyward.TextRule)
		}
		if !keyward.ValidText(f.Source) || len(f.Source) > MaxLeakSourceLen {
			fe.add("source", "must be at most "+strconv.Itoa(MaxLeakSourceLen)+" bytes of UTF-8 without NUL")
		}
		// A paste's URL may carry the token itself: the audit trail records where, never what.
		if f.Token != "" {
			f.URL = strings.ReplaceAll(f.URL, f.Token, "[token]")
			f.Source = strings.ReplaceAll(f.Source, f.Token, "[token]")
		}
		f.URL = cutText(f.URL, MaxLeakURLLen)
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	out := &keyward.LeakResult{Tokens: make([]keyward.LeakedToken, len(in.Found))}
	done := map[[32]byte]string{} // a token reported twice is handled once
	for i, f := range in.Found {
		lt := &out.Tokens[i]
		if len(f.Token) > maxLeakTokenLen || !token.Valid(f.Token) {
			// The hash of what was sent, so that a reporter can match the answer; a text too
			// long to be a token is hashed no further than the bound.
			t := f.Token[:min(len(f.Token), maxLeakTokenLen)]
			lt.TokenHash, lt.Status = hex.EncodeToString(token.Digest(t)), keyward.LeakStatusInvalid
			continue
		}
		d := digestOf(f.Token)
		lt.TokenHash = hex.EncodeToString(d[:])
		if st, ok := done[d]; ok {
			lt.Status, lt.Known = st, st != keyward.LeakStatusUnknown
			continue
		}
		st, err := a.reportLeak(ctx, in, f, d)
		if err != nil {
			return nil, err
		}
		done[d] = st
		lt.Status, lt.Known = st, st != keyward.LeakStatusUnknown
	}
	return out, nil
}

// maxLeakAttempts bounds how often reportLeak starts over when the credential changed under
// it: each start reads it afresh, so only a key changed that often in a row stays live.
const maxLeakAttempts = 5

// reportLeak ends the key whose secret has digest d, if there is one, and returns its status.
func (a *Authority) reportLeak(ctx context.Context, in LeakReport, f LeakFound, d [32]byte) (string, error) {
	if !a.mayBeIssued(&d, a.clock()) {
		return keyward.LeakStatusUnknown, nil
	}
	for attempt := 1; ; attempt++ {
		var status string
		err := a.inTx(ctx, func(u *unit) error {
			var err error
			status, err = a.endLeaked(ctx, u, in, f, d)
			return err
		})
		if isCode(err, keyward.EConflict) && attempt < maxLeakAttempts {
			continue
		}
		return status, err
	}
}

// endLeaked applies the leak action to the key whose secret has digest d, in u, reading it in
// the transaction so that a re-run starts from what is stored then.
func (a *Authority) endLeaked(ctx context.Context, u *unit, in LeakReport, f LeakFound, d [32]byte) (string, error) {
	cred, secret, err := u.store.CredentialBySecret(ctx, d[:])
	if isCode(err, keyward.ENotFound) {
		return keyward.LeakStatusUnknown, nil
	} else if err != nil {
		return "", err
	}
	project, err := u.store.ProjectByID(ctx, cred.ProjectID)
	if err != nil {
		return "", err
	}
	action := leakAction(project, cred)
	switch {
	case cred.RevokedAt != nil:
		return keyward.LeakStatusAlreadyRevoked, nil
	case action == keyward.LeakDisable && !cred.Active:
		return keyward.LeakStatusAlreadyDisabled, nil
	}
	event := func(c *keyward.Credential, now time.Time) *keyward.Event {
		ev := a.event(ctx, "credential.leaked", c.ProjectID, c.ID, now)
		if ev.RemoteAddr == "" {
			ev.RemoteAddr = in.RemoteAddr
		}
		ev.Detail = map[string]string{"url": f.URL, "source": f.Source, "reporter": in.Reporter, "action": action}
		if secret.ValidUntil != nil {
			ev.Detail["secret"] = "rolled" // the old secret of a roll, in its grace period
		}
		return ev
	}
	if action == keyward.LeakDisable {
		now := a.clock()
		c := *cred
		c.Active, c.UpdatedAt = false, now
		if err := u.store.UpdateCredential(ctx, &c, event(&c, now)); err != nil {
			return "", err
		}
		u.changed(keyward.Invalidation{CredentialIDs: []int64{c.ID}})
		return keyward.LeakStatusDisabled, nil
	}
	if done, err := a.revokeServiceWith(ctx, u, cred, a.clock(), event); done || err != nil {
		return keyward.LeakStatusRevoked, err
	}
	if err := a.revokeIn(ctx, u, cred, event); err != nil {
		return "", err
	}
	return keyward.LeakStatusRevoked, nil
}

// cutText returns s cut to at most n bytes, at a character boundary.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
