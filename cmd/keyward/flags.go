package main

import (
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
)

// parseTime parses the RFC 3339 value of flag name.
func parseTime(name, s string) (*time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, usageErrorf("--%s %q is not an RFC 3339 time such as 2026-12-31T23:59:59Z", name, s)
	}
	return &t, nil
}

// parseMeta parses repeated --meta key=value flags.
func parseMeta(pairs []string) (map[string]string, error) {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--meta %q is not key=value", p)
		}
		if _, dup := m[k]; dup {
			return nil, usageErrorf("--meta key %q given twice", k)
		}
		m[k] = v
	}
	return m, nil
}

// oneOf checks that value, unless empty, is one of allowed.
func oneOf[T ~string](flag string, value T, allowed ...T) error {
	if value == "" || slices.Contains(allowed, value) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return usageErrorf("--%s must be %s, not %q", flag, strings.Join(names, " or "), value)
}

// atMostOne checks that at most one of the named flags was given.
func atMostOne(fs *pflag.FlagSet, names ...string) error {
	var set []string
	for _, n := range names {
		if fs.Changed(n) {
			set = append(set, "--"+n)
		}
	}
	if len(set) > 1 {
		return usageErrorf("%s cannot be used together", strings.Join(set, " and "))
	}
	return nil
}

// checkLimit checks a --limit flag.
func checkLimit(limit int) error {
	if limit < 0 {
		return usageErrorf("--limit must not be negative")
	}
	return nil
}

var (
	credentialTypes = []keyward.CredentialType{keyward.APIToken, keyward.APICertificate, keyward.KubeConfig, keyward.KubeToken}
	environments    = []keyward.Environment{keyward.Live, keyward.Test}
	keyTypes        = []keyward.KeyType{keyward.Secret, keyward.Publishable}
	states          = []keyward.State{keyward.StateActive, keyward.StatePending, keyward.StateExpired, keyward.StateDisabled, keyward.StateRevoked}
)
