package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
)

// DefaultRedisPrefix starts the name of every key a Redis limiter writes.
const DefaultRedisPrefix = "keyward:rl:"

// Default timeouts of a client that OpenRedis makes, when the URL sets none: a login waits on
// the limiter, so a Redis that does not answer must cost it about a second, not go-redis's
// defaults (5 s to dial, 3 s to read, three retries).
const (
	defaultRedisDialTimeout = 2 * time.Second
	defaultRedisIOTimeout   = time.Second
	defaultRedisRetries     = 1
)

// redisRetryAfter is what an EUnavailable from the limiter tells a caller to wait.
const redisRetryAfter = time.Second

// gcraScript is gcra (ratelimit.go) as one atomic Redis script: it reads the key's theoretical
// arrival time (TAT), decides, and when asked to record an allowed event stores the new TAT with
// an expiry at that TAT, so a key that goes quiet disappears exactly when it is as good as new.
// Time is the Redis server's (TIME), in microseconds, so that servers whose clocks disagree
// still agree on every limit. Microseconds since the epoch fit a Lua number (a double) exactly.
//
//	KEYS[1]  the prefixed key
//	ARGV[1]  the period, µs
//	ARGV[2]  the emission interval (period / limit), µs
//	ARGV[3]  "1" to record an allowed event, "0" to only look (Peek)
//
// It returns {allowed (0|1), remaining, retry_after µs, reset_after µs}.
const gcraScript = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - period
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000))
end
return {1, math.floor((period - (nxt - now)) / interval), 0, nxt - now}
`

var gcraRedis = redis.NewScript(gcraScript)

// refundScript gives back one event: it moves the key's TAT back one interval, and deletes the
// key when that leaves it as good as new (a TAT not after now), so that a refund never grants
// more than the full burst. A missing key stays missing.
//
//	KEYS[1]  the prefixed key
//	ARGV[1]  the emission interval, µs
const refundScript = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local tat = (tonumber(cur) or 0) - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return 1
`

var refundRedis = redis.NewScript(refundScript)

// Redis is a Limiter whose state lives in Redis, so that every keyward server that uses the same
// Redis (and prefix) enforces one limit together. It runs the same GCRA as Memory, one atomic
// script per call (EVALSHA, loading the script when Redis does not have it), on one key per
// limited thing: a single-key script, so it works on Redis Cluster too.
//
// When Redis cannot be reached, Allow and Peek return a keyward.EUnavailable error (ETimeout
// when the caller's deadline passed first) and decide nothing: the caller chooses whether to
// fail closed (login throttling refuses the login) or open.
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	logger   *slog.Logger
	lastWarn atomic.Int64 // unix nanoseconds of the last "unreachable" warning
}

// RedisOptions configure a Redis limiter.
type RedisOptions struct {
	// Prefix starts every key; servers that must share limits use the same one. Default
	// DefaultRedisPrefix.
	Prefix string
	// Logger, when set, is told (at most every 10 s) that Redis cannot be reached.
	Logger *slog.Logger
}

// NewRedis returns a limiter on client, which it owns from then on: Close closes it.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	return &Redis{client: client, prefix: opts.Prefix, logger: opts.Logger}
}

// OpenRedis returns a limiter on the Redis that rawURL names: redis://[user:password@]host:port/db,
// rediss:// for TLS, or unix:///path.sock; go-redis options may be given as query parameters
// (dial_timeout, read_timeout, max_retries, pool_size, ...), and prefix sets the key prefix when
// opts does not (keyward installations that share one Redis give each its own). It does not
// connect: see Ping.
func OpenRedis(rawURL string, opts RedisOptions) (*Redis, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("invalid Redis URL: %w", err)
	}
	q := u.Query()
	if opts.Prefix == "" {
		opts.Prefix = q.Get("prefix")
	}
	q.Del("prefix")
	u.RawQuery = q.Encode()
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("invalid Redis URL %s: %w", RedactRedisURL(rawURL), redactErr(err, rawURL))
	}
	if !q.Has("dial_timeout") {
		o.DialTimeout = defaultRedisDialTimeout
	}
	if !q.Has("read_timeout") {
		o.ReadTimeout = defaultRedisIOTimeout
	}
	if !q.Has("write_timeout") {
		o.WriteTimeout = defaultRedisIOTimeout
	}
	if !q.Has("max_retries") {
		o.MaxRetries = defaultRedisRetries
	}
	return NewRedis(redis.NewClient(o), opts), nil
}

// RedactRedisURL returns rawURL with its password replaced, for messages.
func RedactRedisURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactErr keeps a URL's password out of an error that may quote the URL.
func redactErr(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return errors.New(strings.ReplaceAll(err.Error(), p, "xxxxx"))
	}
	return err
}

// Ping reports whether Redis answers, as Allow would report it.
func (r *Redis) Ping(ctx context.Context) error {
	return r.fail(ctx, r.client.Ping(ctx).Err())
}

// Close closes the Redis client.
func (r *Redis) Close() error { return r.client.Close() }

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, rate Rate) (Result, error) {
	return r.check(ctx, key, rate, true)
}

// Peek implements Limiter: it neither records an event nor creates the key.
func (r *Redis) Peek(ctx context.Context, key string, rate Rate) (Result, error) {
	return r.check(ctx, key, rate, false)
}

// Refund implements Limiter.
func (r *Redis) Refund(ctx context.Context, key string, rate Rate) error {
	if rate.Limit <= 0 || rate.Period < time.Microsecond {
		return fmt.Errorf("ratelimit: invalid rate: %d per %s", rate.Limit, rate.Period)
	}
	interval := max(1, rate.interval().Microseconds())
	return r.fail(ctx, refundRedis.Run(ctx, r.client, []string{r.prefix + key}, interval).Err())
}

func (r *Redis) check(ctx context.Context, key string, rate Rate, record bool) (Result, error) {
	if rate.Limit <= 0 || rate.Period < time.Microsecond {
		return Result{}, fmt.Errorf("ratelimit: invalid rate: %d per %s", rate.Limit, rate.Period)
	}
	period := rate.Period.Microseconds()
	interval := max(1, rate.interval().Microseconds())
	flag := "0"
	if record {
		flag = "1"
	}
	vals, err := gcraRedis.Run(ctx, r.client, []string{r.prefix + key}, period, interval, flag).Int64Slice()
	if err != nil {
		return Result{}, r.fail(ctx, err)
	}
	if len(vals) != 4 {
		return Result{}, fmt.Errorf("ratelimit: unexpected reply from Redis: %v", vals)
	}
	return Result{
		Allowed:    vals[0] == 1,
		Limit:      rate.Limit,
		Remaining:  int(vals[1]),
		RetryAfter: time.Duration(vals[2]) * time.Microsecond,
		ResetAfter: time.Duration(vals[3]) * time.Microsecond,
	}, nil
}

// fail turns a Redis failure into a keyward error a caller can act on; the cause stays in the
// error's text (for logs), never in its caller-safe message.
func (r *Redis) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var ke *keyward.Error
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return fmt.Errorf("ratelimit: %w", err)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		ke = keyward.Errorf(keyward.ETimeout, "the rate limiter did not answer in time")
	default:
		ke = &keyward.Error{Code: keyward.EUnavailable, Message: "the rate limiter cannot be reached; try again",
			RetryAfter: redisRetryAfter}
		r.warn(err)
	}
	return fmt.Errorf("%w (redis: %w)", ke, err)
}

// warn logs that Redis fails, at most every 10 s.
func (r *Redis) warn(err error) {
	if r.logger == nil {
		return
	}
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last < int64(10*time.Second) || !r.lastWarn.CompareAndSwap(last, now) {
		return
	}
	r.logger.Warn("Redis (shared rate limits) cannot be reached: logins are refused until it answers", "err", err)
}
