package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/humanize"
)

// secretWarning follows every key the CLI prints.
const secretWarning = "This key will not be shown again. Store it now."

// printJSON writes v to stdout as indented JSON.
func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// table writes rows under header to w, in aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = clean(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// field is one line of a detail view.
type field struct{ name, value string }

// details writes fields to w as "Name:  value" lines.
func details(w io.Writer, fields []field) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f.name, clean(f.value))
	}
	return tw.Flush()
}

// clean makes s safe for one cell of a terminal table: control characters, which could break
// the columns or drive the terminal, become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func fmtTimePtr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return fmtTime(*t)
}

func fmtMeta(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return orDash(strings.Join(parts, ", "))
}

func fmtIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return orDash(strings.Join(parts, ", "))
}

func fmtID(id int64) string {
	if id == 0 {
		return "-"
	}
	return strconv.FormatInt(id, 10)
}

// printCredential prints one credential: as JSON, or as a detail view.
func (a *app) printCredential(c *keyward.Credential) error {
	if a.jsonOut() {
		return a.printJSON(c)
	}
	return details(a.stdout, a.credentialFields(c))
}

func (a *app) credentialFields(c *keyward.Credential) []field {
	expires := humanize.Expiry(c.NotBefore, c.ExpiresAt, a.now())
	if c.ExpiresAt != nil {
		expires = fmtTime(*c.ExpiresAt) + " (" + expires + ")"
	}
	fs := []field{
		{"ID", strconv.FormatInt(c.ID, 10)},
		{"Name", c.Name},
		{"Project", c.Project},
		{"Description", orDash(c.Description)},
		{"Type", string(c.Type)},
		{"Environment", string(c.Environment)},
		{"Key type", string(c.KeyType)},
		{"State", string(c.State)},
		{"Starts with", orDash(c.Start)},
		{"Not before", fmtTimePtr(c.NotBefore, "-")},
		{"Expires", expires},
	}
	if c.RevokedAt != nil {
		fs = append(fs, field{"Revoked", fmtTime(*c.RevokedAt)})
	}
	if c.Cluster != "" || c.Namespace != "" {
		fs = append(fs, field{"Cluster", orDash(c.Cluster)}, field{"Namespace", orDash(c.Namespace)})
	}
	if c.Serial != "" {
		fs = append(fs, field{"Serial", c.Serial}, field{"Fingerprint", orDash(c.Fingerprint)})
	}
	if c.Recoverable {
		fs = append(fs, field{"Recoverable", "yes (keyward key reveal)"})
	}
	return append(fs,
		field{"Last used", fmtTimePtr(c.LastUsedAt, "never")},
		field{"Created", fmtTime(c.CreatedAt)},
		field{"Updated", fmtTime(c.UpdatedAt)},
		field{"Roles", fmtIDs(c.RoleIDs)},
		field{"Meta", fmtMeta(c.Meta)},
		field{"Version", strconv.FormatInt(c.Version, 10)},
	)
}

// printIssued prints a credential with its secret: the key of an API token, or the base64
// data of a certificate credential. In a table the secret comes last, alone on its line, so
// that `tail -n 1` finds it; the warning goes to stderr.
func (a *app) printIssued(ic *keyward.IssuedCredential) error {
	if a.jsonOut() {
		if err := a.printJSON(ic); err != nil {
			return err
		}
	} else {
		if err := details(a.stdout, a.credentialFields(&ic.Credential)); err != nil {
			return err
		}
		// A KUBE_TOKEN has both: its kubeconfig, which carries the key, is what to keep.
		secret := ic.Key
		if ic.Data != "" {
			secret = ic.Data
		}
		if _, err := fmt.Fprintf(a.stdout, "\n%s\n", secret); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(a.stderr, issuedWarning(ic))
	return err
}

// issuedWarning is the warning that follows a secret the server shows once.
func issuedWarning(ic *keyward.IssuedCredential) string {
	if ic.Data == "" {
		return secretWarning
	}
	return "This " + secretNoun(ic) + " will not be shown again. Store it now."
}

// secretNoun names what a certificate credential's data is.
func secretNoun(ic *keyward.IssuedCredential) string {
	switch {
	case ic.Type.ForCluster():
		return "kubeconfig"
	case ic.Key != "":
		return "key"
	case ic.Type == keyward.APICertificate:
		return "PKCS#12 bundle"
	}
	return "credential"
}

// printCredentials prints a page of credentials: as JSON, or as a table.
func (a *app) printCredentials(page *keyward.Page[keyward.Credential]) error {
	if a.jsonOut() {
		return a.printJSON(page)
	}
	now := a.now()
	rows := make([][]string, len(page.Items))
	for i, c := range page.Items {
		rows[i] = []string{
			strconv.FormatInt(c.ID, 10), c.Name, string(c.Type), string(c.Environment),
			string(c.State), humanize.Expiry(c.NotBefore, c.ExpiresAt, now),
			strconv.FormatInt(c.Version, 10), orDash(c.Start),
		}
	}
	if err := table(a.stdout, []string{"ID", "NAME", "TYPE", "ENV", "STATE", "EXPIRES", "VERSION", "STARTS WITH"}, rows); err != nil {
		return err
	}
	a.moreHint(page.NextCursor)
	return nil
}

// moreHint tells, in a table, how to get the next page.
func (a *app) moreHint(cursor string) {
	if cursor != "" && !a.jsonOut() {
		fmt.Fprintf(a.stderr, "More results: run again with --cursor %s, or with --all.\n", cursor)
	}
}

// printProject prints one project.
func (a *app) printProject(p *keyward.Project) error {
	if a.jsonOut() {
		return a.printJSON(p)
	}
	return details(a.stdout, []field{
		{"ID", strconv.FormatInt(p.ID, 10)},
		{"Slug", p.Slug},
		{"Name", orDash(p.Name)},
		{"Recoverable keys", yesNo(p.RecoverableKeys)},
		{"Created", fmtTime(p.CreatedAt)},
		{"Key policy", policySummary(p.Policy)},
	})
}

// printProjects prints a page of projects.
func (a *app) printProjects(page *keyward.Page[keyward.Project]) error {
	if a.jsonOut() {
		return a.printJSON(page)
	}
	rows := make([][]string, len(page.Items))
	for i, p := range page.Items {
		rows[i] = []string{strconv.FormatInt(p.ID, 10), p.Slug, orDash(p.Name), fmtTime(p.CreatedAt)}
	}
	if err := table(a.stdout, []string{"ID", "SLUG", "NAME", "CREATED"}, rows); err != nil {
		return err
	}
	a.moreHint(page.NextCursor)
	return nil
}

// printEvents prints a page of audit events.
func (a *app) printEvents(page *keyward.Page[keyward.Event]) error {
	if a.jsonOut() {
		return a.printJSON(page)
	}
	rows := make([][]string, len(page.Items))
	for i, e := range page.Items {
		actor := e.Actor
		if actor == "" {
			actor = fmtID(e.ActorUserID)
		}
		rows[i] = []string{
			strconv.FormatInt(e.ID, 10), fmtTime(e.Time), actor, e.Action, fmtID(e.ProjectID),
			fmtID(e.CredentialID), e.Outcome, orDash(e.RemoteAddr), fmtMeta(e.Detail),
		}
	}
	if err := table(a.stdout, []string{"ID", "TIME", "ACTOR", "ACTION", "PROJECT", "CREDENTIAL", "OUTCOME", "FROM", "DETAIL"}, rows); err != nil {
		return err
	}
	a.moreHint(page.NextCursor)
	return nil
}

// done reports the success of a call that answers no object: on stdout in a table, on stderr
// with -o json, whose stdout stays empty.
func (a *app) done(msg string) error {
	w := a.stdout
	if a.jsonOut() {
		w = a.stderr
	}
	_, err := fmt.Fprintln(w, clean(msg))
	return err
}

func fmtPermissions(ps []keyward.Permission) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = string(p)
	}
	return orDash(strings.Join(parts, " "))
}

func userState(u *keyward.User) string {
	switch {
	case u.DeletedAt != nil:
		return "deleted"
	case u.Disabled:
		return "disabled"
	}
	return "active"
}

func passwordState(u *keyward.User) string {
	if u.HasPassword {
		return "set"
	}
	return "none (cannot log in)"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printUser prints one user.
func (a *app) printUser(u *keyward.User) error {
	if a.jsonOut() {
		return a.printJSON(u)
	}
	fs := []field{
		{"ID", strconv.FormatInt(u.ID, 10)},
		{"Name", u.Name},
		{"State", userState(u)},
		{"Password", passwordState(u)},
		{"Created", fmtTime(u.CreatedAt)},
	}
	if !u.UpdatedAt.IsZero() {
		fs = append(fs, field{"Updated", fmtTime(u.UpdatedAt)})
	}
	if u.DeletedAt != nil {
		fs = append(fs, field{"Deleted", fmtTime(*u.DeletedAt)})
	}
	return details(a.stdout, fs)
}

// printUsers prints a page of users.
func (a *app) printUsers(page *keyward.Page[keyward.User]) error {
	if a.jsonOut() {
		return a.printJSON(page)
	}
	rows := make([][]string, len(page.Items))
	for i := range page.Items {
		u := &page.Items[i]
		rows[i] = []string{strconv.FormatInt(u.ID, 10), u.Name, userState(u), yesNo(u.HasPassword), fmtTime(u.CreatedAt)}
	}
	if err := table(a.stdout, []string{"ID", "NAME", "STATE", "PASSWORD", "CREATED"}, rows); err != nil {
		return err
	}
	a.moreHint(page.NextCursor)
	return nil
}

// printSessions prints a page of a user's sessions.
func (a *app) printSessions(page *keyward.Page[keyward.Credential]) error {
	if a.jsonOut() {
		return a.printJSON(page)
	}
	now := a.now()
	rows := make([][]string, len(page.Items))
	for i, c := range page.Items {
		rows[i] = []string{
			strconv.FormatInt(c.ID, 10), string(c.State), fmtTime(c.CreatedAt),
			humanize.Expiry(c.NotBefore, c.ExpiresAt, now), fmtTimePtr(c.LastUsedAt, "never"), orDash(c.Start),
		}
	}
	if err := table(a.stdout, []string{"ID", "STATE", "CREATED", "EXPIRES", "LAST USED", "STARTS WITH"}, rows); err != nil {
		return err
	}
	a.moreHint(page.NextCursor)
	return nil
}

// printRole prints one role.
func (a *app) printRole(r *keyward.Role) error {
	if a.jsonOut() {
		return a.printJSON(r)
	}
	return details(a.stdout, []field{
		{"ID", strconv.FormatInt(r.ID, 10)},
		{"Name", r.Name},
		{"Built-in", yesNo(r.BuiltIn)},
		{"Permissions", fmtPermissions(r.Permissions)},
	})
}

// printRoles prints every role; with -o json as the API's {"items": [...]}.
func (a *app) printRoles(roles []keyward.Role) error {
	if a.jsonOut() {
		return a.printJSON(keyward.Page[keyward.Role]{Items: nonNil(roles)})
	}
	rows := make([][]string, len(roles))
	for i, r := range roles {
		rows[i] = []string{strconv.FormatInt(r.ID, 10), r.Name, yesNo(r.BuiltIn), fmtPermissions(r.Permissions)}
	}
	return table(a.stdout, []string{"ID", "NAME", "BUILT-IN", "PERMISSIONS"}, rows)
}

func bindingProject(b *keyward.Binding) string {
	if b.Project == "*" {
		return "* (every project)"
	}
	return orDash(b.Project)
}

// printBinding prints one role binding.
func (a *app) printBinding(b *keyward.Binding) error {
	if a.jsonOut() {
		return a.printJSON(b)
	}
	return details(a.stdout, []field{
		{"User", fmt.Sprintf("%s (id %d)", b.User, b.UserID)},
		{"Project", bindingProject(b)},
		{"Role", fmt.Sprintf("%s (id %d)", b.Role, b.RoleID)},
	})
}

// printBindings prints role bindings; with -o json as the API's {"items": [...]}.
func (a *app) printBindings(bs []keyward.Binding) error {
	if a.jsonOut() {
		return a.printJSON(keyward.Page[keyward.Binding]{Items: nonNil(bs)})
	}
	rows := make([][]string, len(bs))
	for i := range bs {
		b := &bs[i]
		rows[i] = []string{b.User, bindingProject(b), b.Role, strconv.FormatInt(b.RoleID, 10)}
	}
	return table(a.stdout, []string{"USER", "PROJECT", "ROLE", "ROLE ID"}, rows)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// printCluster prints one virtual cluster.
func (a *app) printCluster(cl *keyward.Cluster) error {
	if a.jsonOut() {
		return a.printJSON(cl)
	}
	return details(a.stdout, []field{
		{"ID", strconv.FormatInt(cl.ID, 10)},
		{"Name", cl.Name},
		{"Server", cl.Server},
		{"CA bundle", fmtCABundle(cl.CAPEM)},
		{"Created", fmtTime(cl.CreatedAt)},
	})
}

// printClusters prints every virtual cluster; with -o json as the API's {"items": [...]}.
func (a *app) printClusters(cls []keyward.Cluster) error {
	if a.jsonOut() {
		return a.printJSON(keyward.Page[keyward.Cluster]{Items: nonNil(cls)})
	}
	rows := make([][]string, len(cls))
	for i := range cls {
		cl := &cls[i]
		rows[i] = []string{strconv.FormatInt(cl.ID, 10), cl.Name, cl.Server, fmtCABundle(cl.CAPEM), fmtTime(cl.CreatedAt)}
	}
	return table(a.stdout, []string{"ID", "NAME", "SERVER", "CA BUNDLE", "CREATED"}, rows)
}

// fmtCABundle says what a cluster's CA bundle holds, without printing it.
func fmtCABundle(pemData string) string {
	n := strings.Count(pemData, "-----BEGIN CERTIFICATE-----")
	switch n {
	case 0:
		return "none (the system's trusted CAs)"
	case 1:
		return "1 certificate"
	}
	return strconv.Itoa(n) + " certificates"
}
