package authority_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // raw driver for bulk seeding only

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/token"
)

// benchKeys is how many of the seeded credentials get real, known tokens that hits rotate
// among; the rest carry random digests that only fill the index.
const benchKeys = 1000

type benchEnv struct {
	a    *authority.Authority
	ctx  context.Context
	keys []string
}

var (
	benchMu   sync.Mutex
	benchEnvs = map[int]*benchEnv{}
	benchDirs []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// seeded returns an authority over a store holding n credentials (built once per n).
func seeded(b *testing.B, n int) *benchEnv {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if e := benchEnvs[n]; e != nil {
		return e
	}
	dir, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	path := filepath.Join(dir, "keyward.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	a := authority.New(s, authority.Options{})
	tok, err := a.Bootstrap(ctx)
	if err != nil {
		b.Fatal(err)
	}
	caller, err := a.Authenticate(ctx, tok, "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	keys, err := bulkSeed(path, n)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d credentials in %s", n, time.Since(start).Round(time.Millisecond))
	// The seed went around the authority: a new one loads them into its set of issued secrets,
	// as a server does at start.
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	a = authority.New(s, authority.Options{})
	if err := a.WaitIssued(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded the set of %d issued secrets in %s", n+1, time.Since(start).Round(time.Millisecond))
	e := &benchEnv{a: a, ctx: keyward.NewContext(ctx, caller), keys: keys}
	benchEnvs[n] = e
	return e
}

// bulkSeed inserts n active credentials into the system project in one transaction, straight
// into the schema: creating a million through the API would fsync a million times.
func bulkSeed(path string, n int) ([]string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := time.Now().UnixMicro()
	insC, err := tx.Prepare(`INSERT INTO credentials (project_id, name, type, environment, key_type, created_by, meta, expires_at, active, created_at, updated_at, version, start)
		VALUES (1, ?, 'API_TOKEN', 'live', 'secret', 1, '{"tier":"bench"}', NULL, 1, ?, ?, 1, ?)`)
	if err != nil {
		return nil, err
	}
	insR, err := tx.Prepare(`INSERT INTO credential_roles (credential_id, role_id) VALUES (?, 1)`)
	if err != nil {
		return nil, err
	}
	insS, err := tx.Prepare(`INSERT INTO credential_secrets (digest, credential_id, created_at) VALUES (?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	var keys []string
	for i := 0; i < n; i++ {
		var digest []byte
		start := ""
		if i < benchKeys {
			k, err := token.New(keyward.Live)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
			digest, start = token.Digest(k), token.Start(k)
		} else {
			digest = make([]byte, 32)
			rand.Read(digest)
		}
		res, err := insC.Exec(fmt.Sprintf("bench-%d", i), now, now, start)
		if err != nil {
			return nil, err
		}
		id, _ := res.LastInsertId()
		if _, err := insR.Exec(id); err != nil {
			return nil, err
		}
		if _, err := insS.Exec(digest, id, now); err != nil {
			return nil, err
		}
	}
	return keys, tx.Commit()
}

func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("stored=%d", n), func(b *testing.B) {
			e := seeded(b, n)
			miss := e.keys[0] // a stored key that is not cached: each round drops it first
			never, _ := token.New(keyward.Live)
			b.Run("hit", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					v, err := e.a.Verify(e.ctx, keyward.VerifyInput{Key: e.keys[i%len(e.keys)]})
					if err != nil || !v.Valid {
						b.Fatalf("verify: %+v %v", v, err)
					}
					i++
				}
			})
			b.Run("hit-parallel", func(b *testing.B) {
				b.ReportAllocs()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					// Goroutines walk the keys from different places, as concurrent requests
					// for different keys do, not in step on the same key.
					i := int(next.Add(int64(len(e.keys)) / 7))
					for pb.Next() {
						if v, err := e.a.Verify(e.ctx, keyward.VerifyInput{Key: e.keys[i%len(e.keys)]}); err != nil || !v.Valid {
							b.Fatalf("verify: %+v %v", v, err)
						}
						i++
					}
				})
			})
			b.Run("miss", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					e.a.DropCached()
					if v, err := e.a.Verify(e.ctx, keyward.VerifyInput{Key: miss}); err != nil || !v.Valid {
						b.Fatalf("verify: %+v %v", v, err)
					}
				}
			})
			b.Run("never-issued", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if v, err := e.a.Verify(e.ctx, keyward.VerifyInput{Key: never}); err != nil || v.Code != keyward.CodeNotFound {
						b.Fatalf("verify: %+v %v", v, err)
					}
				}
			})
			b.Run("malformed", func(b *testing.B) {
				b.ReportAllocs()
				last := "x"
				if never[len(never)-1] == 'x' {
					last = "y" // the edit must change the key, or it is a plain miss
				}
				bad := never[:len(never)-1] + last
				for b.Loop() {
					if v, err := e.a.Verify(e.ctx, keyward.VerifyInput{Key: bad}); err != nil || v.Code != keyward.CodeNotFound {
						b.Fatalf("verify: %+v %v", v, err)
					}
				}
			})
		})
	}
}

// BenchmarkCreate measures issuing a token: one durable transaction (credential, secret digest,
// audit event) per call.
func BenchmarkCreate(b *testing.B) {
	e := seeded(b, 1_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, err := e.a.CreateCredential(e.ctx, keyward.SystemProject, keyward.CreateCredentialInput{Name: fmt.Sprintf("create-%d-%d", time.Now().UnixNano(), i)})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAuthenticate measures resolving an API caller's key (every request to keyward's own
// API), from the authentication cache.
func BenchmarkAuthenticate(b *testing.B) {
	e := seeded(b, 1_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := e.a.Authenticate(e.ctx, e.keys[i%len(e.keys)], "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
