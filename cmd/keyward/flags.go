package main

import (
	"strings"
	"time"

	"github.com/spf13/pflag"
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
