package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/humanize"
)

// This file holds login, logout, the stored session and the reading of passwords.
//
// Passwords never come from the command line, where the process list and the shell history
// would show them. They come from an environment variable where one is documented, else from
// stdin, one line each, in a fixed order, without the line ending (other spaces are kept):
//
//   - login: $KEYWARD_PASSWORD, else the next line of stdin (after the user name's, when the name
//     is read from stdin too).
//   - user create --password-stdin: the first line of stdin.
//   - user passwd: the new password is the first line of stdin; when you change your own, the
//     current one is $KEYWARD_CURRENT_PASSWORD, else the second line (none is needed for a
//     first password, which only users:admin sets).
//
// On a terminal each line is prompted for on stderr, and passwords are read with echo off.

// Stored sessions live in the config dir, one file per server under sessionsDir, so that a
// login to one server does not end the stored session of another. An older CLI kept one
// session for every server in legacySessionFile; it is still read for its own server and
// replaced at the next login there.
const (
	sessionsDir       = "sessions"
	legacySessionFile = "session.json"
)

// storedSession is what "keyward login" keeps in the config dir.
type storedSession struct {
	Server       string     `json:"server"`
	User         string     `json:"user"`
	Token        string     `json:"token"`
	CredentialID int64      `json:"credential_id"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
}

// configDir is where the CLI keeps its files: $KEYWARD_CONFIG_DIR, else
// $XDG_CONFIG_HOME/keyward, else ~/.config/keyward.
func (a *app) configDir() (string, error) {
	if d := a.getenv("KEYWARD_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if d := a.getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "keyward"), nil
	}
	home := a.getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", errors.New("cannot find the config dir: set KEYWARD_CONFIG_DIR or HOME")
		}
	}
	return filepath.Join(home, ".config", "keyward"), nil
}

// sessionPath is the file of the stored session for server.
func (a *app) sessionPath(server string) (string, error) {
	d, err := a.configDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, sessionsDir, sessionName(server)), nil
}

// sessionName names the session file of server: its host, for people, and a digest of the
// whole normalised URL, so that two servers never share a file.
func sessionName(server string) string {
	n := normServer(server)
	sum := sha256.Sum256([]byte(n))
	host := "server"
	if u, err := url.Parse(n); err == nil && u.Host != "" {
		host = strings.Map(func(r rune) rune {
			if r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' {
				return r
			}
			return '_'
		}, u.Host)
	}
	return host + "-" + hex.EncodeToString(sum[:6]) + ".json"
}

// loadSession returns the stored session for server and its file's path; the session is nil
// when there is none.
func (a *app) loadSession(server string) (*storedSession, string, error) {
	path, err := a.sessionPath(server)
	if err != nil {
		return nil, "", err
	}
	s, err := a.readSessionFile(path)
	if s != nil || err != nil {
		return s, path, err
	}
	legacy := filepath.Join(filepath.Dir(filepath.Dir(path)), legacySessionFile)
	if s, err = a.readSessionFile(legacy); err != nil {
		return nil, legacy, err
	}
	if s != nil && sameServer(s.Server, server) {
		return s, legacy, nil
	}
	return nil, path, nil
}

// readSessionFile reads one stored session; nil when the file does not exist.
func (a *app) readSessionFile(path string) (*storedSession, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the stored session cannot be read: %w", err)
	}
	var s storedSession
	if err := json.Unmarshal(b, &s); err != nil || s.Token == "" || s.Server == "" {
		return nil, fmt.Errorf("the stored session %s is damaged (run \"keyward logout\" to remove it)", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(a.stderr, "warning: %s may be read by other users; run: chmod 600 %s\n", path, path)
	}
	return &s, nil
}

// saveSession stores s with mode 0600 in a config dir of mode 0700, replacing the file
// atomically, and returns its path.
func (a *app) saveSession(s *storedSession) (string, error) {
	path, err := a.sessionPath(s.Server)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("creating the config dir: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return "", fmt.Errorf("restricting the config dir: %w", err)
		}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".session-*.tmp") // mode 0600
	if err != nil {
		return "", fmt.Errorf("storing the session: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("storing the session: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", fmt.Errorf("storing the session: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("storing the session: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("storing the session: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("storing the session: %w", err)
	}
	// An older CLI's single session for this server is replaced by this one.
	legacy := filepath.Join(filepath.Dir(dir), legacySessionFile)
	if old, err := a.readSessionFile(legacy); err == nil && old != nil && sameServer(old.Server, s.Server) {
		_ = os.Remove(legacy)
	}
	return path, nil
}

// logoutTarget finds the session logout ends: the one of the server --server or
// $KEYWARD_SERVER names; without either, the default server's, else the only one stored.
func (a *app) logoutTarget() (*storedSession, string, error) {
	server, err := a.serverURL()
	if err != nil {
		return nil, "", err
	}
	s, path, err := a.loadSession(server)
	if s != nil || err != nil || a.flags.Changed("server") || a.getenv("KEYWARD_SERVER") != "" {
		return s, path, err
	}
	d, err := a.configDir()
	if err != nil {
		return nil, "", err
	}
	files, _ := filepath.Glob(filepath.Join(d, sessionsDir, "*.json"))
	if legacy := filepath.Join(d, legacySessionFile); isFile(legacy) {
		files = append(files, legacy)
	}
	switch len(files) {
	case 0:
		return nil, path, nil
	case 1:
		s, err := a.readSessionFile(files[0])
		return s, files[0], err
	}
	return nil, "", usageErrorf("sessions are stored for %d servers: name one with --server", len(files))
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// removeSession deletes the stored session's file; a file already gone is not an error.
func removeSession(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the stored session: %w", err)
	}
	return nil
}

// sameServer reports whether two server URLs name the same server: scheme and host compare
// without case, and a trailing slash does not count.
func sameServer(x, y string) bool { return normServer(x) == normServer(y) }

// normServer is a server URL as sameServer compares it.
func normServer(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return s
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.Path, "/")
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readPassword returns the value of env when it is set, else the next line of stdin. On a
// terminal it prompts with label on stderr and reads with echo off, so that what is typed never
// shows. what names the password in errors.
func (a *app) readPassword(env, label, what string) (string, error) {
	if env != "" {
		if pw := a.getenv(env); pw != "" {
			return pw, nil
		}
	}
	var (
		pw  string
		ok  bool
		err error
	)
	if fd, isTTY := a.stdinTerminal(); isTTY {
		restore, eerr := echoOff(fd)
		if eerr != nil {
			return "", fmt.Errorf("reading the %s: %w", what, eerr)
		}
		fmt.Fprint(a.stderr, label+": ")
		var b []byte
		b, err = term.ReadPassword(fd)
		restore()
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the %s: %w", what, err)
		}
		pw, ok = string(b), true
	} else if pw, ok, err = a.readLine(""); err != nil {
		return "", err
	}
	if !ok || pw == "" {
		if env != "" {
			return "", usageErrorf("no %s given: set %s or write it on stdin", what, env)
		}
		return "", usageErrorf("no %s given: write it on stdin", what)
	}
	return pw, nil
}

func newLoginCmd(a *app) *cobra.Command {
	var (
		user string
		ttl  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "login [--user NAME] [--ttl DURATION]",
		Short: "Log in with a user name and password and store the session",
		Long: `Log in to the server with a user name and password, and store the session
token that the server returns, so that the commands that follow need no
--token or KEYWARD_TOKEN (see "keyward --help" for the order in which tokens are
looked for). The session acts with all of your current rights until it expires
(after ` + humanize.Duration(keyward.DefaultSessionTTL) + ` unless --ttl says otherwise, at most ` + humanize.Duration(keyward.MaxSessionTTL) + `) or
"keyward logout" ends it. Each server has its own stored session: logging in
again to the same server replaces its session, and leaves other servers' alone.

The user name is --user, else the first line of stdin (prompted for on a
terminal). The password is $KEYWARD_PASSWORD when it is set, else the next line
of stdin. On a terminal the password is prompted for and read without echo.

The session is stored in the config dir's sessions/ directory
($KEYWARD_CONFIG_DIR, else $XDG_CONFIG_HOME/keyward, else ~/.config/keyward), one
file per server, with mode 0600 in directories of mode 0700, together with the
server's URL and the session's expiry. With -o json the session credential is printed without its
token.`,
		Example: `  keyward --server https://keyward.example.com login --user alice
  KEYWARD_PASSWORD=... keyward login --user alice --ttl 2h
  printf 'alice\n%s\n' "$PASSWORD" | keyward login`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			server, err := a.serverURL()
			if err != nil {
				return err
			}
			in := keyward.LoginInput{Name: strings.TrimSpace(user)}
			if cmd.Flags().Changed("ttl") {
				// The API takes whole seconds, and 0 means its default: neither can carry these.
				switch {
				case ttl%time.Second != 0:
					return usageErrorf("--ttl %s is not a whole number of seconds", ttl)
				case ttl == 0:
					return usageErrorf("--ttl 0 cannot be sent: it means the server's default; leave --ttl out")
				}
				in.TTLSeconds = int64(ttl / time.Second)
			}
			if in.Name == "" {
				if cmd.Flags().Changed("user") {
					return usageErrorf("--user must not be empty")
				}
				line, _, err := a.readLine("User: ")
				if err != nil {
					return err
				}
				if in.Name = strings.TrimSpace(line); in.Name == "" {
					return usageErrorf("no user name given: pass --user or write it on stdin")
				}
			}
			if in.Password, err = a.readPassword("KEYWARD_PASSWORD", "Password", "password"); err != nil {
				return err
			}
			if u, err := url.Parse(server); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
				fmt.Fprintf(a.stderr, "warning: %s is plain http: the password and the session token cross the network unencrypted\n", server)
			}
			c, err := a.newClient(server, "")
			if err != nil {
				return err
			}
			ic, err := c.Login(cmd.Context(), in)
			if err != nil {
				return err
			}
			s := &storedSession{
				Server: server, User: in.Name, Token: ic.Key, CredentialID: ic.ID,
				CreatedAt: ic.CreatedAt, ExpiresAt: ic.ExpiresAt,
			}
			path, err := a.saveSession(s)
			if err != nil {
				return err
			}
			if a.flags.Changed("token") || a.getenv("KEYWARD_TOKEN") != "" {
				fmt.Fprintln(a.stderr, "note: --token or KEYWARD_TOKEN is set and goes before the stored session")
			}
			if a.jsonOut() {
				return a.printJSON(&ic.Credential)
			}
			return details(a.stdout, []field{
				{"Logged in to", server},
				{"User", in.Name},
				{"Session", fmt.Sprintf("%d (%s)", ic.ID, orDash(ic.Start))},
				{"Expires", sessionExpiry(&ic.Credential, a.now())},
				{"Stored in", path},
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "user", "u", "", "user name (else read from stdin)")
	f.DurationVar(&ttl, "ttl", 0, "session lifetime, such as 2h (server default: "+humanize.Duration(keyward.DefaultSessionTTL)+")")
	return cmd
}

// sessionExpiry says when a new session expires. Measured from the session's creation, both
// times being the server's, a session of 12 hours says "in 12 hours" rather than "in 11 hours"
// once a second has passed, whatever the two clocks.
func sessionExpiry(c *keyward.Credential, now time.Time) string {
	if c.ExpiresAt == nil {
		return "never"
	}
	rel := humanize.Expiry(nil, c.ExpiresAt, now)
	if !c.CreatedAt.IsZero() && c.ExpiresAt.After(c.CreatedAt) {
		rel = "in " + humanize.Duration(c.ExpiresAt.Sub(c.CreatedAt))
	}
	return fmtTime(*c.ExpiresAt) + " (" + rel + ")"
}

func newLogoutCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the stored session of the server and remove it",
		Long: `End the session that "keyward login" stored for the server that --server or
$KEYWARD_SERVER names, on that server, and remove it from the config dir;
sessions stored for other servers stay. Without either, the default server's
session, else the one session stored. The file is removed even when the server
says the session had already ended (expired, revoked or unknown); it is kept
when the server cannot be reached, so that you can try again. Without a stored
session there is nothing to do.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			s, path, err := a.logoutTarget()
			if err != nil && path == "" {
				return err
			}
			if err != nil {
				// A damaged file holds no session worth ending.
				fmt.Fprintf(a.stderr, "Removed the damaged session file %s.\n", path)
				return removeSession(path)
			}
			if s == nil {
				fmt.Fprintln(a.stderr, "Not logged in.")
				return nil
			}
			if s.ExpiresAt != nil && !a.now().Before(*s.ExpiresAt) {
				if err := removeSession(path); err != nil {
					return err
				}
				return a.loggedOut(s, nil, "the session had expired")
			}
			c, err := a.newClient(s.Server, s.Token)
			if err != nil {
				return err
			}
			cr, err := c.Logout(cmd.Context())
			var ke *keyward.Error
			switch {
			case err == nil:
			case errors.As(err, &ke) && (ke.Code == keyward.EUnauthenticated || ke.Code == keyward.ENotFound || ke.Code == keyward.EInvalid):
				// Expired, revoked, unknown, or no session at all: nothing left to end.
				if err := removeSession(path); err != nil {
					return err
				}
				return a.loggedOut(s, nil, "the server says the session had already ended: "+orDash(ke.Message))
			default:
				fmt.Fprintf(a.stderr, "note: the stored session is kept: run \"keyward logout\" again, or delete %s\n", path)
				return err
			}
			if err := removeSession(path); err != nil {
				return err
			}
			return a.loggedOut(s, cr, "")
		},
	}
}

// loggedOut reports a logout: the revoked session with -o json (nothing when the server did not
// return it), else a sentence.
func (a *app) loggedOut(s *storedSession, revoked *keyward.Credential, why string) error {
	if a.jsonOut() {
		if revoked != nil {
			return a.printJSON(revoked)
		}
		fmt.Fprintf(a.stderr, "Removed the stored session: %s.\n", why)
		return nil
	}
	if revoked == nil {
		_, err := fmt.Fprintf(a.stdout, "Logged out %s from %s; %s.\n", clean(s.User), clean(s.Server), clean(why))
		return err
	}
	_, err := fmt.Fprintf(a.stdout, "Logged out %s from %s: session %d revoked.\n", clean(s.User), clean(s.Server), revoked.ID)
	return err
}
