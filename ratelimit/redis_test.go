package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
)

// The Redis tests run against a real Redis: $KEYWARD_TEST_REDIS_URL, else 127.0.0.1:6379 (what
// scripts/test-services.sh provides). They never skip: without Redis they fail and say what to
// run. Each test writes under a random key prefix of its own and deletes it at the end.

const envRedisURL = "KEYWARD_TEST_REDIS_URL"

func testRedisURL() string {
	if u := strings.TrimSpace(os.Getenv(envRedisURL)); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// newTestRedis returns a limiter on the test Redis under a fresh prefix, and a plain client to
// look at what it wrote.
func newTestRedis(t *testing.T) (*Redis, *redis.Client, string) {
	t.Helper()
	u := testRedisURL()
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", envRedisURL, err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("no Redis answers at %s: %v\n"+
			"The Redis tests need a server. Run scripts/test-services.sh (it uses the Redis on "+
			"127.0.0.1:6379 or starts a throwaway one, installing Debian's redis-server package "+
			"with apt-get when it is missing) and export the %s it prints, or run `make test`, "+
			"which does both. By hand: apt-get install redis-server.", RedactRedisURL(u), err, envRedisURL)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "keyward-test:" + hex.EncodeToString(b) + ":"
	lim, err := OpenRedis(u, RedisOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
		lim.Close()
	})
	return lim, rdb, prefix
}

// TestRedis is TestMemory on Redis's clock: a rate of 5 per second, one event every 200 ms.
func TestRedis(t *testing.T) {
	lim, rdb, prefix := newTestRedis(t)
	ctx := context.Background()
	r := Rate{Limit: 5, Period: time.Second}
	interval := r.Period / 5

	start := time.Now()
	for i := 0; i < 5; i++ {
		res, err := lim.Allow(ctx, "alice", r)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed || res.Remaining != 4-i || res.Limit != 5 {
			t.Fatalf("event %d: %+v, want allowed with %d remaining", i, res, 4-i)
		}
	}
	if time.Since(start) > interval/2 {
		t.Fatalf("the burst took %s; too slow for this test's timing", time.Since(start))
	}
	res, err := lim.Allow(ctx, "alice", r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > interval ||
		res.ResetAfter <= r.Period-interval || res.ResetAfter > r.Period {
		t.Fatalf("6th event: %+v, want refused for at most %s, reset within %s", res, interval, r.Period)
	}
	retry := res.RetryAfter
	if p, err := lim.Peek(ctx, "alice", r); err != nil || p.Allowed || p.RetryAfter <= 0 {
		t.Fatalf("Peek allows while the limit holds: %+v, %v", p, err)
	}
	if p, err := lim.Peek(ctx, "bob", r); err != nil || !p.Allowed || p.Remaining != 4 {
		t.Fatalf("another key is limited: %+v, %v", p, err)
	}
	// Peek records nothing, and creates no key.
	for i := 0; i < 10; i++ {
		if _, err := lim.Peek(ctx, "carol", r); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.Exists(ctx, prefix+"bob", prefix+"carol").Val(); n != 0 {
		t.Fatalf("Peek created %d keys", n)
	}
	if res, err := lim.Allow(ctx, "carol", r); err != nil || !res.Allowed || res.Remaining != 4 {
		t.Fatalf("Peek consumed: %+v, %v", res, err)
	}

	// One interval later, one more event.
	time.Sleep(retry + 20*time.Millisecond)
	if res, err := lim.Allow(ctx, "alice", r); err != nil || !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after one interval: %+v, %v, want one allowed", res, err)
	}
	// The key expires when it is as good as new: its TTL is its reset time.
	if ttl := rdb.PTTL(ctx, prefix+"alice").Val(); ttl <= 0 || ttl > r.Period+time.Millisecond {
		t.Fatalf("the key's TTL is %s, want (0, %s]", ttl, r.Period)
	}
	// A full period later, the full burst.
	time.Sleep(r.Period + 20*time.Millisecond)
	if n := rdb.Exists(ctx, prefix+"alice").Val(); n != 0 {
		t.Fatal("an idle key outlived its reset time")
	}
	if res, err := lim.Allow(ctx, "alice", r); err != nil || !res.Allowed || res.Remaining != 4 {
		t.Fatalf("after a full period: %+v, %v, want the full burst back", res, err)
	}
}

// TestRedisServerClock: the stored state is Redis's own time plus one interval, not this
// process's, so servers with skewed clocks agree.
func TestRedisServerClock(t *testing.T) {
	lim, rdb, prefix := newTestRedis(t)
	ctx := context.Background()
	r := Rate{Limit: 2, Period: time.Minute}
	if _, err := lim.Allow(ctx, "k", r); err != nil {
		t.Fatal(err)
	}
	server, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	us, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		t.Fatalf("stored %q, want microseconds", raw)
	}
	tat := time.UnixMicro(us)
	if d := tat.Sub(server.Add(r.Period / 2)); d > 0 || d < -time.Second {
		t.Fatalf("stored TAT %s, want Redis TIME %s + 30s", tat, server)
	}
}

// TestRedisConcurrent: 50 callers at once on one key with a limit of 20: exactly 20 pass.
func TestRedisConcurrent(t *testing.T) {
	lim, _, _ := newTestRedis(t)
	ctx := context.Background()
	r := Rate{Limit: 20, Period: time.Minute}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := lim.Allow(ctx, "shared", r)
			if err != nil {
				errs <- err
				return
			}
			if res.Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := allowed.Load(); n != 20 {
		t.Fatalf("%d of 50 allowed, want exactly 20", n)
	}
}

// TestRedisShared: two limiters on one Redis and prefix, as two replicas, share one limit; a
// limiter with another prefix does not see it.
func TestRedisShared(t *testing.T) {
	a, _, prefix := newTestRedis(t)
	b, err := OpenRedis(testRedisURL(), RedisOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other, _, _ := newTestRedis(t)
	ctx := context.Background()
	r := Rate{Limit: 4, Period: time.Minute}
	for i := 0; i < 4; i++ {
		lim := a
		if i%2 == 1 {
			lim = b
		}
		if res, err := lim.Allow(ctx, "login:user:alice", r); err != nil || !res.Allowed {
			t.Fatalf("event %d: %+v, %v", i, res, err)
		}
	}
	for _, lim := range []*Redis{a, b} {
		if res, err := lim.Allow(ctx, "login:user:alice", r); err != nil || res.Allowed {
			t.Fatalf("5th event allowed on one of the replicas: %+v, %v", res, err)
		}
	}
	if res, err := other.Allow(ctx, "login:user:alice", r); err != nil || !res.Allowed || res.Remaining != 3 {
		t.Fatalf("another prefix shares the limit: %+v, %v", res, err)
	}
}

// TestRedisScriptReload: a Redis that lost its script cache (a restart, SCRIPT FLUSH) is given
// the script again.
func TestRedisScriptReload(t *testing.T) {
	lim, rdb, _ := newTestRedis(t)
	ctx := context.Background()
	r := Rate{Limit: 3, Period: time.Minute}
	if _, err := lim.Allow(ctx, "k", r); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if res, err := lim.Allow(ctx, "k", r); err != nil || !res.Allowed || res.Remaining != 1 {
		t.Fatalf("after SCRIPT FLUSH: %+v, %v", res, err)
	}
}

// TestRedisUnreachable: without Redis, Allow and Peek fail quickly with EUnavailable and a
// Retry-After; they never report an outcome that was not decided.
func TestRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	lim, err := OpenRedis("redis://:hunter2@"+addr+"/0", RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	ctx := context.Background()
	r := Rate{Limit: 5, Period: time.Minute}
	for name, call := range map[string]func(context.Context, string, Rate) (Result, error){"Allow": lim.Allow, "Peek": lim.Peek} {
		start := time.Now()
		res, err := call(ctx, "k", r)
		var ke *keyward.Error
		if !errors.As(err, &ke) || ke.Code != keyward.EUnavailable || ke.RetryAfter <= 0 {
			t.Fatalf("%s without Redis: %+v, %v; want EUnavailable with a RetryAfter", name, res, err)
		}
		if res.Allowed {
			t.Fatalf("%s without Redis allowed", name)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(ke.Message, addr) {
			t.Fatalf("%s: the error shows too much: %v", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s took %s without Redis", name, d)
		}
	}
	if err := lim.Ping(ctx); keyward.ErrorCode(err) != keyward.EUnavailable {
		t.Fatalf("Ping without Redis = %v", err)
	}
	// A caller's deadline that passes first is a timeout.
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, err := lim.Allow(dctx, "k", r); keyward.ErrorCode(err) != keyward.ETimeout {
		t.Fatalf("Allow past its deadline = %v, want ETimeout", err)
	}
}

func TestRedisURL(t *testing.T) {
	if _, err := OpenRedis("http://example.com", RedisOptions{}); err == nil {
		t.Fatal("an http URL was accepted")
	}
	_, err := OpenRedis("redis://:s3cret@127.0.0.1:6379/notanumber", RedisOptions{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad database: %v", err)
	}
	if got := RedactRedisURL("redis://user:s3cret@host:6379/0"); strings.Contains(got, "s3cret") {
		t.Fatalf("RedactRedisURL = %s", got)
	}
	if _, err := OpenRedis("redis://:s3cret@127.0.0.1:bad/0", RedisOptions{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad port: %v", err)
	}
	lim, rdb, prefix := newTestRedis(t)
	if _, err := lim.Allow(context.Background(), "k", Rate{Limit: 0, Period: time.Second}); err == nil {
		t.Fatal("a zero limit was accepted")
	}
	// prefix= on the URL sets the key prefix.
	u := testRedisURL()
	if strings.Contains(u, "?") {
		u += "&prefix=" + prefix + "via-url:"
	} else {
		u += "?prefix=" + prefix + "via-url:"
	}
	byURL, err := OpenRedis(u, RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer byURL.Close()
	if _, err := byURL.Allow(context.Background(), "k", Rate{Limit: 1, Period: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(context.Background(), prefix+"via-url:k").Val(); n != 1 {
		t.Fatal("prefix= on the URL was not used")
	}
}

// TestRedisRefund is TestMemoryRefund on Redis.
func TestRedisRefund(t *testing.T) {
	lim, rdb, prefix := newTestRedis(t)
	testRefund(t, lim)
	// A refund that leaves a key as good as new deletes it.
	ctx := context.Background()
	r := Rate{Limit: 5, Period: time.Hour}
	if _, err := lim.Allow(ctx, "carol", r); err != nil {
		t.Fatal(err)
	}
	if err := lim.Refund(ctx, "carol", r); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, prefix+"carol").Result(); err != nil || n != 0 {
		t.Fatalf("key after a full refund: exists=%d err=%v, want deleted", n, err)
	}
}
