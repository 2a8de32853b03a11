// Package auditchain is how keyward makes its audit trail tamper-evident: every event carries
// its place in one chain (Seq, from 1, without gaps), the hash of the event before it, its own
// hash over an unambiguous encoding of its content, its Seq and that previous hash, and an
// HMAC-SHA256 of its hash under the chain key, 32 random bytes that the database keeps sealed
// under the master key. Someone who can write the database but holds no master key can edit,
// delete, reorder or insert events, but cannot make the chain verify again: Verify names the
// first event that does not match. What it cannot see on its own is the newest events cut off
// together with the head; an anchor (a Seq and its Hash recorded elsewhere) covers that.
package auditchain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"

	"github.com/keyward/keyward"
)

// KeySize is the length of a chain key in bytes.
const KeySize = 32

// domain starts every encoded event, so that the hash of an event can never be the hash of
// anything else keyward hashes; the version lets the encoding change without ambiguity.
const domain = "keyward audit event v1\x00"

// Hash returns the SHA-256 of ev's content at position seq after the event whose hash is prev
// (empty for the first). Every field is encoded with its length or at a fixed width, Detail
// sorted by key, so that no two different events encode alike. Time counts in whole
// microseconds, as the stores keep it; ID is left out, since an event's place is its Seq.
func Hash(ev *keyward.Event, seq int64, prev []byte) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	num(h, seq)
	bytes(h, prev)
	num(h, ev.Time.UnixMicro())
	num(h, ev.ActorUserID)
	num(h, ev.ActorCredentialID)
	bytes(h, []byte(ev.Actor))
	bytes(h, []byte(ev.Action))
	num(h, ev.ProjectID)
	num(h, ev.CredentialID)
	bytes(h, []byte(ev.RemoteAddr))
	bytes(h, []byte(ev.Outcome))
	keys := make([]string, 0, len(ev.Detail))
	for k := range ev.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	num(h, int64(len(keys)))
	for _, k := range keys {
		bytes(h, []byte(k))
		bytes(h, []byte(ev.Detail[k]))
	}
	return h.Sum(nil)
}

func num(h hash.Hash, n int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}

func bytes(h hash.Hash, b []byte) {
	num(h, int64(len(b)))
	h.Write(b)
}

// MAC returns the HMAC-SHA256 of an event's hash under the chain key.
func MAC(key, hash []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(hash)
	return m.Sum(nil)
}

// Kind is what Verify found wrong with an event.
type Kind string

// The kinds of problem Verify names.
const (
	// Edited: the event's content (or its Seq or previous hash) is not what was hashed.
	Edited Kind = "edited"
	// Deleted: events are missing before this one (a gap in Seq, or it was not chained after
	// the event now before it), or after the last one (the head, or an anchor, says so).
	Deleted Kind = "deleted"
	// Reordered: the event is authentic but was chained at another position.
	Reordered Kind = "reordered"
	// Inserted: the event has no place in the chain, or claims a place another event has.
	Inserted Kind = "inserted"
	// Forged: the event's MAC does not match its hash, or it has none: it was written or
	// rehashed by someone without the chain key.
	Forged Kind = "forged"
)

// Problem is the first event that does not match, and why.
type Problem struct {
	Kind    Kind
	EventID int64 // 0 when no event is at fault (events missing after the last)
	Seq     int64 // the position the problem is at
	Reason  string
}

func (p *Problem) Error() string {
	if p.EventID == 0 {
		return fmt.Sprintf("%s at seq %d: %s", p.Kind, p.Seq, p.Reason)
	}
	return fmt.Sprintf("event %d (seq %d) %s: %s", p.EventID, p.Seq, p.Kind, p.Reason)
}

// Anchor is a position of the chain and its hash recorded outside the database, so that Verify
// can tell that the chain still reaches it unchanged.
type Anchor struct {
	Seq  int64
	Hash []byte
}

// Report is what Verify concluded.
type Report struct {
	Events  int64 // the events that verified, in chain order
	Seq     int64 // the last verified event's Seq (0 for none)
	Hash    []byte
	Problem *Problem // nil when every event verified
}

// OK reports whether the whole chain verified.
func (r *Report) OK() bool { return r.Problem == nil }

// reorderWindow is how far from its place Verifier looks for the position an authentic event
// was chained at, to tell a moved event from an edited one.
const reorderWindow = 64

// Verifier checks a chain fed to it event by event in the order a store's WalkAuditChain
// yields them (by Seq, then id; unchained events last).
type Verifier struct {
	key     []byte
	backlog int64 // events with an id up to this may still wait to be chained
	anchor  *Anchor
	r       Report
	expect  int64
	prev    []byte
}

// NewVerifier returns a Verifier under the chain key. backlog is the largest id of the events
// that existed when the chain began (the store's first start with a chain key), which a server
// chains at start; anchor, when not nil, is a position the chain must still reach unchanged.
func NewVerifier(key []byte, backlog int64, anchor *Anchor) *Verifier {
	return &Verifier{key: key, backlog: backlog, anchor: anchor, expect: 1}
}

// Add checks the next event. It returns false once a problem is found: the rest is not looked
// at, and Finish reports that first problem.
func (v *Verifier) Add(ce *keyward.ChainedEvent) bool {
	if v.r.Problem != nil {
		return false
	}
	fail := func(k Kind, seq int64, format string, args ...any) bool {
		v.r.Problem = &Problem{Kind: k, EventID: ce.ID, Seq: seq, Reason: fmt.Sprintf(format, args...)}
		return false
	}
	c := ce.Chain
	switch {
	case c.Seq <= 0 && ce.ID <= v.backlog:
		return fail(Inserted, 0, "it is not in the chain yet: it predates the chain, which a keyward server completes when it starts")
	case c.Seq <= 0:
		return fail(Inserted, 0, "it has no place in the chain: it was written outside keyward")
	case c.Seq < v.expect:
		return fail(Inserted, c.Seq, "another event already holds seq %d", c.Seq)
	case c.Seq > v.expect:
		if v.expect == c.Seq-1 {
			return fail(Deleted, c.Seq, "the event at seq %d is missing", v.expect)
		}
		return fail(Deleted, c.Seq, "the events at seq %d to %d are missing", v.expect, c.Seq-1)
	case len(c.MAC) == 0:
		return fail(Forged, c.Seq, "it has no MAC: it was chained without the chain key")
	case !hmac.Equal(c.MAC, MAC(v.key, c.Hash)):
		return fail(Forged, c.Seq, "its MAC does not match its hash: it was written or rehashed without the chain key")
	}
	if got := Hash(&ce.Event, c.Seq, c.PrevHash); !hmac.Equal(got, c.Hash) {
		// The MAC holds, so the hash is keyward's: either the content changed, or the whole
		// event was moved from the position it was hashed at.
		for d := int64(1); d <= reorderWindow; d++ {
			for _, at := range []int64{c.Seq - d, c.Seq + d} {
				if at > 0 && hmac.Equal(Hash(&ce.Event, at, c.PrevHash), c.Hash) {
					return fail(Reordered, c.Seq, "it was chained at seq %d, not here", at)
				}
			}
		}
		return fail(Edited, c.Seq, "its content does not match its hash")
	}
	if !hmac.Equal(c.PrevHash, v.prev) {
		return fail(Deleted, c.Seq, "it was not chained after the event now before it: an event was removed or replaced")
	}
	if v.anchor != nil && v.anchor.Seq == c.Seq && !hmac.Equal(v.anchor.Hash, c.Hash) {
		return fail(Edited, c.Seq, "its hash is not the anchor's %s", hex.EncodeToString(v.anchor.Hash))
	}
	v.r.Events++
	v.r.Seq, v.r.Hash = c.Seq, c.Hash
	v.expect, v.prev = c.Seq+1, c.Hash
	return true
}

// Finish checks the end of the chain against the head the store records and the anchor, and
// returns the report.
func (v *Verifier) Finish(head *keyward.ChainHead) *Report {
	if v.r.Problem == nil {
		switch {
		case v.anchor != nil && v.anchor.Seq > v.r.Seq:
			v.r.Problem = &Problem{Kind: Deleted, Seq: v.r.Seq + 1,
				Reason: fmt.Sprintf("the chain ends at seq %d, before the anchor's seq %d: the newest events were removed", v.r.Seq, v.anchor.Seq)}
		case head != nil && head.Seq > v.r.Seq:
			v.r.Problem = &Problem{Kind: Deleted, Seq: v.r.Seq + 1,
				Reason: fmt.Sprintf("the chain ends at seq %d, but its head records seq %d: the newest events were removed", v.r.Seq, head.Seq)}
		case head != nil && head.Seq < v.r.Seq:
			v.r.Problem = &Problem{Kind: Inserted, Seq: head.Seq + 1,
				Reason: fmt.Sprintf("the chain goes on to seq %d past its head's seq %d: events were added outside keyward", v.r.Seq, head.Seq)}
		case head != nil && head.Seq == v.r.Seq && !hmac.Equal(head.Hash, v.r.Hash):
			v.r.Problem = &Problem{Kind: Edited, Seq: v.r.Seq,
				Reason: "the last event's hash is not the one the chain's head records"}
		}
	}
	r := v.r
	return &r
}
