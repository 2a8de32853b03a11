package escalationtest

import (
	"bytes"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
)

// Kind is what an operation does with credentials, which decides the cells it gets and what
// its success needs.
type Kind int

const (
	// Change changes its target or yields a new secret for it (roll, renew, update, revoke):
	// each cell gets a fresh target, and success needs the permission and dominance.
	Change Kind = iota
	// Yield returns a display key's existing secret (reveal): success needs the permission and
	// dominance.
	Yield
	// Read reads a display key: success needs the permission only, and the key is shown in full
	// only to a caller that dominates its holder.
	Read
	// List reads every display key at once, as Read does.
	List
	// Create makes a new credential, whose rights must be within the caller's.
	Create
)

// Refusal is the kind of refusal an answer is.
type Refusal string

// The two refusals the rule allows: Forbidden when the caller may read keys in the project,
// NotFound otherwise.
const (
	Forbidden Refusal = "forbidden (403 or the surface's equivalent)"
	NotFound  Refusal = "not found (404 or the surface's equivalent)"
)

// Op is one operation of one surface.
type Op struct {
	Surface, Name string
	Kind          Kind
	// Class groups the operation in the documented table: roll, reveal, renew, update or
	// revoke; "" keeps it out of the table.
	Class string
	// Perms are the permissions the operation needs in Project; Permitted, when set, decides
	// instead (ServiceStack asks for roles).
	Perms     []keyward.Permission
	Permitted func(*Principal) bool
	// Types are the credential types of its targets or of what it creates.
	Types []keyward.CredentialType
	// Service: the targets are F5 XC service credentials (columns ServiceHolders()).
	Service bool
	// Variants are the roles a Create asks for, one cell each; "" asks for the default roles.
	Variants []string
	// Displays: the answer shows a key in full when the caller may see it (holds keys:reveal
	// and dominates the key's holder), and masked otherwise.
	Displays bool
	// Callers and Holders replace the rows and the columns.
	Callers, Holders []*Principal
	// Serial runs the cells one at a time, in order: they share state (a user's own keys).
	Serial bool
	// Setup makes a cell's targets instead of the usual ones; the holder is the caller.
	Setup func(c *Call) ([]*Target, error)
	// Do performs the operation.
	Do func(c *Call) (Outcome, error)
}

func (op *Op) permitted(p *Principal) bool {
	if op.Permitted != nil {
		return op.Permitted(p)
	}
	return p.Holds(op.Perms...)
}

// Call is one cell's operation.
type Call struct {
	F       *Fixture
	Caller  *Principal
	Holder  *Principal // nil for Create and List
	Targets []*Target
	Target  *Target // Targets[0], when there is one
	Type    keyward.CredentialType
	Variant string // Create: the role asked for, "" for the default
	Name    string // Create: the new credential's name
}

// Outcome is what a surface answered.
type Outcome struct {
	OK      bool
	Refusal Refusal // when not OK: the refusal the answer is, "" when it is neither
	Answer  string  // status and body, for the report
	Body    []byte  // scanned for tokens the caller did not send
	Sent    string  // what the caller sent
	Secrets []Secret
}

// Answer builds an Outcome from an HTTP answer.
func Answer(status int, body []byte, ok bool, refusal Refusal, sent string) Outcome {
	b := strings.Join(strings.Fields(string(body)), " ")
	if len(b) > 300 {
		b = b[:300] + "..."
	}
	o := Outcome{OK: ok, Answer: fmt.Sprintf("%d %s", status, strings.TrimSpace(b)), Body: body, Sent: sent}
	if !ok {
		o.Refusal = refusal
	}
	return o
}

// Matrix runs cells and collects what they violate.
type Matrix struct {
	F *Fixture
	// Workers run the cells that may run at once; default twice GOMAXPROCS.
	Workers int
	// Stride, when above 1, runs every Stride-th cell of each operation (its first always):
	// under the race detector, which makes each cell about ten times slower. `make test` runs
	// the whole matrix once more without it (the escalation target), so no cell goes unchecked.
	Stride int

	mu         sync.Mutex
	pool       map[string][]*Target
	cells      map[string]int
	violating  map[string]int
	violations []string
}

// NewMatrix returns a Matrix over f.
func NewMatrix(f *Fixture) *Matrix {
	m := &Matrix{F: f, pool: map[string][]*Target{}, cells: map[string]int{}, violating: map[string]int{}}
	if raceDetector {
		m.Stride = 16
	}
	m.put(f.Bootstrap)
	return m
}

// take returns a credential of holder of type t as it was made: one that an earlier cell left
// unchanged, or a new one. Reusing those keeps the cost of the cells that are refused low.
func (m *Matrix) take(holder *Principal, t keyward.CredentialType) (*Target, error) {
	key := holder.Label + " " + string(t)
	m.mu.Lock()
	if n := len(m.pool[key]); n > 0 {
		tgt := m.pool[key][n-1]
		m.pool[key] = m.pool[key][:n-1]
		m.mu.Unlock()
		return tgt, nil
	}
	m.mu.Unlock()
	return m.F.NewTarget(holder, t)
}

// put gives back a target a cell left as it was made.
func (m *Matrix) put(t *Target) {
	key := t.Holder.Label + " " + string(t.Type)
	m.mu.Lock()
	m.pool[key] = append(m.pool[key], t)
	m.mu.Unlock()
}

type cell struct {
	op   *Op
	call Call
}

// plan expands the operations into their cells.
func (m *Matrix) plan(ops ...*Op) []cell {
	var out []cell
	for _, op := range ops {
		callers := op.Callers
		if callers == nil {
			callers = m.F.Callers
		}
		holders := m.F.Holders
		switch {
		case op.Holders != nil:
			holders = op.Holders
		case op.Service:
			holders = ServiceHolders()
		}
		types := op.Types
		if len(types) == 0 {
			types = []keyward.CredentialType{keyward.APIToken}
		}
		for _, c := range callers {
			switch {
			case op.Setup != nil:
				out = append(out, cell{op, Call{F: m.F, Caller: c, Holder: c, Type: types[0]}})
			case op.Kind == Change || op.Kind == Yield || op.Kind == Read:
				for _, h := range holders {
					for _, t := range types {
						out = append(out, cell{op, Call{F: m.F, Caller: c, Holder: h, Type: t}})
					}
				}
			case op.Kind == List:
				out = append(out, cell{op, Call{F: m.F, Caller: c, Type: keyward.APIToken}})
			case op.Kind == Create:
				variants := op.Variants
				if len(variants) == 0 {
					variants = []string{""}
				}
				for _, v := range variants {
					for _, t := range types {
						out = append(out, cell{op, Call{F: m.F, Caller: c, Type: t, Variant: v}})
					}
				}
			}
		}
	}
	if m.Stride <= 1 {
		return out
	}
	var sampled []cell
	n := map[*Op]int{}
	for _, c := range out {
		if n[c.op]%m.Stride == 0 {
			sampled = append(sampled, c)
		}
		n[c.op]++
	}
	return sampled
}

// Run runs every cell of ops: serial operations one cell at a time, the others on Workers
// goroutines.
func (m *Matrix) Run(ops ...*Op) {
	workers := m.Workers
	if workers <= 0 {
		workers = 2 * runtime.GOMAXPROCS(0)
	}
	var serial, parallel []*Op
	for _, op := range ops {
		if op.Serial {
			serial = append(serial, op)
		} else {
			parallel = append(parallel, op)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, c := range m.plan(serial...) {
			m.run(c)
		}
	}()
	queue := make(chan cell)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range queue {
				m.run(c)
			}
		}()
	}
	for _, c := range m.plan(parallel...) {
		queue <- c
	}
	close(queue)
	wg.Wait()
}

// label names a cell in reports.
func (c *cell) label() string {
	s := c.op.Surface + " " + c.op.Name + ": " + c.call.Caller.Label
	switch {
	case c.op.Setup != nil:
		s += " -> own keys"
	case c.call.Holder != nil:
		s += " -> " + c.call.Holder.Label
	}
	if c.op.Kind == Create && c.call.Variant != "" {
		s += " roles[" + c.call.Variant + "]"
	}
	if c.op.Kind == Change || c.op.Kind == Create {
		s += " " + string(c.call.Type)
	}
	return s
}

// run runs one cell and judges it.
func (m *Matrix) run(c cell) {
	f, call := m.F, &c.call
	var (
		problems  []string
		changed   []*Target
		unchanged bool // the targets were read back as they were
	)
	defer func() { m.record(c, problems) }()
	var err error
	switch {
	case c.op.Setup != nil:
		call.Targets, err = c.op.Setup(call)
	case c.op.Kind == Change:
		var t *Target
		if t, err = m.take(call.Holder, call.Type); err == nil {
			call.Targets = []*Target{t}
			defer func() {
				if unchanged {
					m.put(t)
				}
			}()
		}
	case c.op.Kind == Yield || c.op.Kind == Read:
		call.Targets = []*Target{f.Displays[call.Holder.Label]}
	case c.op.Kind == List:
		call.Targets = f.DisplayOrder
	case c.op.Kind == Create:
		call.Name = f.Name("new")
	}
	if err != nil {
		problems = append(problems, "setting up: "+err.Error())
		return
	}
	if len(call.Targets) > 0 {
		call.Target = call.Targets[0]
	}
	before := make([]string, len(call.Targets))
	for i, t := range call.Targets {
		if c.op.Kind == Change && t.snap != "" {
			before[i] = t.snap // a pooled target, read back by the cell that gave it back
			continue
		}
		if before[i], err = f.Snapshot(t); err != nil {
			problems = append(problems, "reading the target: "+err.Error())
			return
		}
	}
	out, err := c.op.Do(call)
	if err != nil {
		problems = append(problems, "the request failed: "+err.Error())
		return
	}
	for i, t := range call.Targets {
		after, err := f.Snapshot(t)
		if err != nil {
			problems = append(problems, "reading the target: "+err.Error())
			return
		}
		if after != before[i] {
			changed = append(changed, t)
		}
		if c.op.Kind == Change {
			t.snap = after
		}
	}
	unchanged = len(changed) == 0
	created := false
	if c.op.Kind == Create {
		if created, err = f.Exists(call.Name); err != nil {
			problems = append(problems, "reading the new credential: "+err.Error())
			return
		}
	}
	problems = m.judge(c, out, changed, created)
}

// judge applies the invariants to one cell's outcome and returns what it violates.
func (m *Matrix) judge(c cell, out Outcome, changed []*Target, created bool) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	caller, op := c.call.Caller, c.op
	rights := caller.Rights()
	permitted := op.permitted(caller)
	dominates := true
	for _, t := range c.call.Targets {
		dominates = dominates && Dominates(rights, t.Held)
	}
	allowed := permitted
	switch op.Kind {
	case Change, Yield:
		allowed = permitted && dominates
	case Create:
		if v := c.call.Variant; v != "" {
			eff := rights.Effective(Project)
			for _, p := range Perms(v) {
				allowed = allowed && eff[p]
			}
		}
	}

	// (1) Every secret the caller obtained holds no right the caller lacks.
	secrets := slices.Clone(out.Secrets)
	for _, k := range Tokens(out.Body, out.Sent) {
		if !slices.ContainsFunc(secrets, func(s Secret) bool { return s.Value == k }) {
			secrets = append(secrets, Secret{TokenSecret, k})
		}
	}
	for _, s := range secrets {
		r, err := m.F.SecretRights(s)
		if err != nil {
			add("reading a returned %s: %v", s.Kind, err)
			continue
		}
		if beyond := r.Beyond(rights); len(beyond) > 0 {
			add("obtained a %s holding %s, beyond the caller's rights", s.Kind, strings.Join(beyond, " "))
		}
	}
	if op.Kind == Read || op.Kind == List {
		for _, t := range c.call.Targets {
			shown := bytes.Contains(out.Body, []byte(t.Key))
			may := permitted && rights.Has(keyward.PermKeysReveal, Project) && Dominates(rights, t.Held)
			switch {
			case shown && !Dominates(rights, t.Held):
				add("showed the key of %s in full, which the caller does not dominate", t.Holder.Label)
			case op.Displays && out.OK && may && !shown:
				add("did not show the key of %s, which the caller may see, in full", t.Holder.Label)
			}
		}
	}

	// (2) A credential changes only for a caller with the permission that dominates it.
	for _, t := range changed {
		if !Dominates(rights, t.Held) {
			add("changed a credential of %s, which the caller does not dominate", t.Holder.Label)
		}
		if !permitted {
			add("changed a credential of %s without the operation's permission", t.Holder.Label)
		}
	}
	if created && !allowed {
		add("created a credential the caller may not create")
	}

	// (3) Liveness: what the rule allows succeeds, so that the matrix is not vacuous; what it
	// does not allow does not succeed.
	switch {
	case allowed && !out.OK:
		add("refused though the caller has the permission and dominates: %s", out.Answer)
	case !allowed && out.OK:
		add("succeeded though the caller lacks the permission or does not dominate: %s", out.Answer)
	}

	// (4) A refusal changes nothing, returns no secret, and is 403, or 404 for a caller that
	// cannot read the project's keys.
	if !out.OK {
		if len(changed) > 0 || created {
			add("a refused request changed state")
		}
		if len(secrets) > 0 {
			add("a refused request returned a secret")
		}
		want := NotFound
		if rights.Has(keyward.PermKeysRead, Project) {
			want = Forbidden
		}
		if out.Refusal != want && !(allowed && !out.OK) {
			add("answered %s; a refusal must be %s", out.Answer, want)
		}
	}
	return problems
}

func (m *Matrix) record(c cell, problems []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := c.op.Surface + " " + c.op.Name
	m.cells[key]++
	if len(problems) > 0 {
		m.violating[key]++
		slices.Sort(problems)
		m.violations = append(m.violations, c.label()+": "+strings.Join(slices.Compact(problems), "; "))
	}
}

// Report logs how many cells each operation had and fails t with every violating cell.
func (m *Matrix) Report(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	total, bad := 0, 0
	for _, k := range slices.Sorted(maps.Keys(m.cells)) {
		fmt.Fprintf(&b, "\n  %-40s %5d cells, %4d violating", k, m.cells[k], m.violating[k])
		total += m.cells[k]
		bad += m.violating[k]
	}
	t.Logf("escalation matrix: %d cells, %d violating%s", total, bad, b.String())
	if total == 0 {
		t.Error("the escalation matrix ran no cell")
	}
	slices.Sort(m.violations)
	for _, v := range m.violations {
		t.Error(v)
	}
}
