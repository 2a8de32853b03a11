package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/authority"
	"github.com/keyward/keyward/console"
	"github.com/keyward/keyward/dialect/f5xc"
	"github.com/keyward/keyward/dialect/projectkeys"
	"github.com/keyward/keyward/dialect/servicestack"
	"github.com/keyward/keyward/dialect/voltmx"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/secretscanning"
	"github.com/keyward/keyward/webhook"
)

// serveConfig holds what `keyward serve` is told by flags and environment.
type serveConfig struct {
	addr               string
	data               string
	database           string
	bootstrapTokenFile string
	requestTimeout     time.Duration
	shutdownTimeout    time.Duration
	logFormat          string
	logLevel           string
	accessLogSample    float64
	masterKeyFile      string
	tls                bool
	tlsCert, tlsKey    string
	metrics            bool
	metricsAddr        string
	metricsTokenFile   string
	gatewayHeaders     []string
	cacheTTL           time.Duration
	cacheSize          int
	unusedSweep        time.Duration
	redis              string
	webhooks           bool
	webhookPrivate     bool
	expiringLead       time.Duration
	sweepInterval      time.Duration
	getenv             func(string) string  // the environment, as the app reads it
	leakReportKeys     string               // --leak-report-keys: GitHub's secret scanning public keys
	leakKeys           *secretscanning.Keys // read from leakReportKeys at start
}

func newServeCmd(a *app) *cobra.Command {
	cfg := serveConfig{getenv: a.getenv}
	envOr := func(name, def string) string {
		if v := a.getenv(name); v != "" {
			return v
		}
		return def
	}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the keyward server",
		Long: `Run the keyward server.

The embedded default keeps its data in a SQLite database (WAL mode) under --data and listens on
loopback. --database postgres://... (or $KEYWARD_DATABASE_URL) runs on PostgreSQL instead, which
several keyward servers can share; the schema is migrated on start ("keyward migrate"). The first start creates the "system" project, the built-in roles and the "admin" user,
and prints a bootstrap admin token once to stderr, or writes it to --bootstrap-token-file (mode
0600). It is never shown again. SIGINT or SIGTERM drains in-flight requests, writes pending
usage data and closes the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.addr, "addr", envOr("KEYWARD_ADDR", "127.0.0.1:8080"), "listen address (env KEYWARD_ADDR)")
	f.StringVar(&cfg.data, "data", envOr("KEYWARD_DATA", "./keyward-data"), "data directory (env KEYWARD_DATA)")
	f.StringVar(&cfg.database, "database", a.getenv("KEYWARD_DATABASE_URL"), databaseHelp)
	f.StringVar(&cfg.bootstrapTokenFile, "bootstrap-token-file", "", "on first start, write the bootstrap admin token to this file (mode 0600) instead of stderr")
	f.DurationVar(&cfg.requestTimeout, "request-timeout", 30*time.Second, "deadline of each request; past it the caller gets 504")
	f.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to drain in-flight requests on SIGINT/SIGTERM")
	f.StringVar(&cfg.logFormat, "log-format", envOr("KEYWARD_LOG_FORMAT", "text"), "log format: text or json (env KEYWARD_LOG_FORMAT)")
	f.StringVar(&cfg.logLevel, "log-level", envOr("KEYWARD_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env KEYWARD_LOG_LEVEL)")
	f.Float64Var(&cfg.accessLogSample, "access-log-sample", httpapi.DefaultAccessLogSample, "share of successful verifications (/v1/verify, /v1/auth) written to the access log, from 0 to 1; refusals and errors are always written")
	f.StringVar(&cfg.masterKeyFile, "master-key-file", "", "file holding the master key that seals the CA keys (mode 0600); default $KEYWARD_MASTER_KEY, else <data>/master.key, created on first start")
	f.BoolVar(&cfg.tls, "tls", false, "serve HTTPS and accept client certificates issued by keyward's CA as credentials")
	f.StringVar(&cfg.tlsCert, "tls-cert", "", "with --tls: the server certificate (PEM); default one issued by keyward's CA for --addr")
	f.StringVar(&cfg.tlsKey, "tls-key", "", "with --tls: the server certificate's key (PEM)")
	f.BoolVar(&cfg.metrics, "metrics", true, "serve Prometheus metrics on /metrics")
	f.StringVar(&cfg.metricsAddr, "metrics-addr", a.getenv("KEYWARD_METRICS_ADDR"), "serve /metrics on this address of its own instead of the API's (env KEYWARD_METRICS_ADDR)")
	f.StringVar(&cfg.metricsTokenFile, "metrics-token-file", "", "require \"Authorization: Bearer <token>\" on /metrics, the token being this file's first line (default $KEYWARD_METRICS_TOKEN when set)")
	f.StringSliceVar(&cfg.gatewayHeaders, "gateway-key-header", nil, "extra request header /v1/auth reads the key from (repeatable), before Authorization and X-API-Key")
	f.DurationVar(&cfg.cacheTTL, "cache-ttl", authority.DefaultCacheTTL, "how long a verification result is reused: the bound on staleness when change notifications are lost")
	f.IntVar(&cfg.cacheSize, "cache-size", authority.DefaultCacheSize, "how many keys the verification cache holds")
	f.DurationVar(&cfg.unusedSweep, "unused-sweep-interval", time.Hour, "how often to disable the keys that project policies call unused (disable_unused_days); 0 never")
	f.StringVar(&cfg.redis, "redis", "", "Redis URL (redis://[:password@]host:6379/0, rediss:// for TLS) through which replicas share login throttling and rate limits (env KEYWARD_REDIS_URL); without it each replica limits alone. While Redis does not answer, logins are refused (503)")
	f.BoolVar(&cfg.webhooks, "webhooks", true, "send the projects' webhooks (every replica takes part; each delivery attempt is made by one)")
	f.BoolVar(&cfg.webhookPrivate, "webhook-allow-private", false, "let webhooks go to loopback, private and link-local addresses (refused by default, so that a project admin cannot make the server call what only it can reach)")
	f.DurationVar(&cfg.expiringLead, "webhook-expiring-lead", authority.DefaultExpiringLead, "how long before a credential's expires_at the credential.expiring event is written")
	f.DurationVar(&cfg.sweepInterval, "webhook-sweep-interval", time.Minute, "how often the server looks for credentials that are expiring or expired, to announce each once")
	f.StringVar(&cfg.leakReportKeys, "leak-report-keys", a.getenv("KEYWARD_LEAK_REPORT_KEYS"), "JSON file of the public keys GitHub signs secret scanning reports with, in the format of https://api.github.com/meta/public_keys/secret_scanning; it enables POST /v1/leaks/github (env KEYWARD_LEAK_REPORT_KEYS). Read at start: restart to change it")
	return cmd
}

// newLogger returns the server's logger on w, and the buffer of its access lines (see
// lineBuffer), to flush before the process ends.
func newLogger(w io.Writer, format, level string) (*slog.Logger, *lineBuffer, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, usageErrorf("--log-level must be debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: lvl}
	buf := newLineBuffer(w)
	switch format {
	case "text":
		return slog.New(accessLineHandler{slog.NewTextHandler(buf, opts), buf}), buf, nil
	case "json":
		return slog.New(accessLineHandler{slog.NewJSONHandler(buf, opts), buf}), buf, nil
	}
	return nil, nil, usageErrorf("--log-format must be text or json")
}

func serve(ctx context.Context, cfg serveConfig, stderr io.Writer) error {
	logger, logBuf, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	defer logBuf.Flush()
	if !(cfg.accessLogSample >= 0 && cfg.accessLogSample <= 1) { // NaN too
		return usageErrorf("--access-log-sample must be between 0 and 1")
	}
	if cfg.redis == "" { // not the flag's default, which --help would show with its password
		cfg.redis = cfg.getenv("KEYWARD_REDIS_URL")
	}
	limiter, err := openLimiter(cfg.redis, logger)
	if err != nil {
		return err
	}
	if limiter != nil {
		defer limiter.Close()
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, db, err := openStore(ctx, cfg.database, cfg.data)
	if err != nil {
		if db.kind == "" { // the URL itself was refused
			return err
		}
		return fmt.Errorf("opening %s: %w", db, err)
	}
	logger.Info("database opened", "database", db.String())
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("closing the database", "err", err)
		}
	}()
	mk, err := loadMasterKey(cfg.masterKeyFile, cfg.data, db.kind == kindPostgres, cfg.getenv, logger)
	if err != nil {
		return err
	}
	opts := authority.Options{Now: time.Now, Logger: logger, MasterKey: mk, CacheTTL: cfg.cacheTTL, CacheSize: cfg.cacheSize,
		StoreTimeout: cfg.requestTimeout}
	if limiter != nil {
		checkLimiter(ctx, limiter, cfg.redis, logger)
		opts.Limiter = limiter
	} else if db.kind == kindPostgres {
		logger.Info("login throttling is per replica; give every replica --redis to share it")
	}
	auth := authority.New(store, opts)
	defer func() {
		if err := auth.Close(); err != nil {
			logger.Error("writing pending usage data", "err", err)
		}
	}()

	// Before anything writes: every audit event is chained under the chain key it loads.
	if err := auth.InitAuditChain(ctx); err != nil {
		if errors.Is(err, masterkey.ErrMismatch) {
			return fmt.Errorf("loading the certificate authority: %w", err)
		}
		return fmt.Errorf("loading the audit chain key: %w", err)
	}
	tok, err := auth.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("first-start setup: %w", err)
	}
	if err := auth.SyncBuiltinRoles(ctx); err != nil {
		return fmt.Errorf("updating the built-in roles: %w", err)
	}
	if err := auth.InitCA(ctx); err != nil {
		return fmt.Errorf("loading the certificate authority: %w", err)
	}
	if tok != "" {
		if err := deliverBootstrapToken(tok, cfg.bootstrapTokenFile, stderr); err != nil {
			return err
		}
	}
	if cfg.unusedSweep > 0 {
		stop := sweepUnused(ctx, auth, cfg.unusedSweep, logger)
		defer stop() // before the authority and the store close
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.addr, err)
	}
	if cfg.tls {
		tlsConfig, err := serverTLS(cfg, auth, ln.Addr().String())
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, tlsConfig)
	} else if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		logger.Warn("serving plain HTTP on a non-loopback address; use --tls or put TLS in front of it", "addr", ln.Addr().String())
	}
	metricsToken, err := readMetricsToken(cfg.metricsTokenFile, cfg.getenv)
	if err != nil {
		ln.Close()
		return err
	}
	if cfg.leakReportKeys != "" {
		if cfg.leakKeys, err = secretscanning.Load(cfg.leakReportKeys); err != nil {
			ln.Close()
			return usageErrorf("--leak-report-keys: %v", err)
		}
		logger.Info("GitHub secret scanning reports accepted on POST /v1/leaks/github", "keys", cfg.leakKeys.Len())
	}
	handler, m := newHandler(cfg, auth, store, logger, metricsToken)
	var metricsSrv *http.Server
	if cfg.metrics && cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on %s for metrics: %w", cfg.metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", httpapi.MetricsHandler(m, metricsToken))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		logger.Info("metrics listening", "addr", mln.Addr().String(), "token", metricsToken != "")
		go func() {
			if err := metricsSrv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics listener failed", "err", err)
			}
		}()
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.requestTimeout + 10*time.Second,
		WriteTimeout:      cfg.requestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	stopWebhooks := startWebhooks(ctx, cfg, auth, store, logger)
	defer stopWebhooks()
	logger.Info("keyward listening", "addr", ln.Addr().String(), "data", cfg.data, "tls", cfg.tls)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", cfg.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("draining did not finish in time", "err", err)
	}
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	stopWebhooks()
	logger.Info("stopped")
	return nil
}

// deliverBootstrapToken shows the first admin token once: in a 0600 file when asked, else on
// stderr. If the file cannot be written the token goes to stderr, since it exists nowhere else.
func deliverBootstrapToken(tok, file string, stderr io.Writer) error {
	if file != "" {
		err := writeSecretFile(file, tok+"\n")
		if err == nil {
			fmt.Fprintf(stderr, "keyward: the bootstrap admin token was written to %s (mode 0600). It will not be shown again.\n", file)
			return nil
		}
		fmt.Fprintf(stderr, "keyward: could not write %s (%v); showing the token here instead.\n", file, err)
	}
	fmt.Fprintf(stderr, "\n%s\nBootstrap admin token (shown once, store it now; it never expires until you revoke it):\n\n    %s\n\n%s\n\n",
		strings.Repeat("=", 72), tok, strings.Repeat("=", 72))
	return nil
}

// writeSecretFile writes s to path with mode 0600, replacing the file atomically.
func writeSecretFile(path, s string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyward-token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(s); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// loadMasterKey finds the master key: --master-key-file, else $KEYWARD_MASTER_KEY, else for the
// embedded default a key file in the data directory, created on first start. Replicas sharing
// PostgreSQL must share one key, so there it must be given.
func loadMasterKey(file, data string, shared bool, getenv func(string) string, logger *slog.Logger) (*masterkey.Key, error) {
	if file != "" {
		return masterkey.LoadFile(file)
	}
	if k, ok, err := masterkey.FromEnv(getenv); err != nil || ok {
		return k, err
	}
	if shared {
		return nil, usageErrorf("with PostgreSQL give every replica the same master key: --master-key-file or $%s", masterkey.EnvVar)
	}
	path := filepath.Join(data, "master.key")
	k, created, err := masterkey.LoadOrCreate(path)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Warn("created a master key; back it up: without it the CA keys and recoverable keys cannot be read", "path", path)
	}
	return k, nil
}

// serverTLS builds the HTTPS configuration: the given certificate or one issued by keyward's CA
// for the listen address, and client certificates requested (verified by the authority, so that
// a revoked one is refused on its next request).
func serverTLS(cfg serveConfig, auth *authority.Authority, addr string) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case cfg.tlsCert != "" || cfg.tlsKey != "":
		if cert, err = tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey); err != nil {
			return nil, fmt.Errorf("loading --tls-cert/--tls-key: %w", err)
		}
	default:
		host, _, _ := net.SplitHostPort(addr)
		hosts := []string{host, "localhost"}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			hosts = []string{"127.0.0.1", "::1", "localhost"}
		}
		issued, err := auth.CA().IssueServer(hosts, 30*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("issuing the server certificate: %w", err)
		}
		if cert, err = tls.X509KeyPair(issued.ChainPEM, issued.KeyPEM); err != nil {
			return nil, err
		}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// readMetricsToken returns the token /metrics requires: the first line of file, else
// $KEYWARD_METRICS_TOKEN, else none.
func readMetricsToken(file string, getenv func(string) string) (string, error) {
	if file == "" {
		return getenv("KEYWARD_METRICS_TOKEN"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--metrics-token-file: %w", err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", usageErrorf("--metrics-token-file %s holds no token", file)
	}
	return tok, nil
}

// newHandler assembles the HTTP surfaces: the native API, its metrics, the gateway check, the
// vendor dialects and the web console. It returns the metrics too (nil without --metrics), for
// a listener of their own.
func newHandler(cfg serveConfig, auth *authority.Authority, store keyward.Store, logger *slog.Logger, metricsToken string) (http.Handler, *metrics.Metrics) {
	sample := cfg.accessLogSample
	if sample == 0 {
		sample = -1 // none; httpapi reads 0 as its default
	}
	opts := httpapi.Options{Logger: logger, RequestTimeout: cfg.requestTimeout, GatewayKeyHeaders: cfg.gatewayHeaders, AccessLogSample: sample,
		MetricsElsewhere: cfg.metricsAddr != "", MetricsToken: metricsToken, LeakReportKeys: cfg.leakKeys}
	if cfg.metrics {
		opts.Metrics = metrics.New(func() (uint64, uint64, int) {
			st := auth.Stats()
			return st.CacheHits, st.CacheMisses, st.CacheEntries
		})
	}
	api := httpapi.New(auth, store, opts)
	// The vendor dialects, each a thin translation onto the same authority.
	f5xc.New(auth, f5xc.Options{Logger: logger}).Register(api.Mount)
	voltmx.New(auth, voltmx.Options{Logger: logger}).Register(api.Mount)
	projectkeys.New(auth, projectkeys.Options{Logger: logger}).Register(api.Mount)
	servicestack.New(auth, servicestack.Options{Logger: logger}).Register(api.Mount)
	// The web console at /, over the same authority and behind the same middleware.
	console.New(auth, console.Options{Logger: logger}).Register(api.Mount)
	return api, opts.Metrics
}

// openLimiter returns the Redis limiter --redis names, or nil for the per-process default. It
// only reads the URL; checkLimiter connects.
func openLimiter(rawURL string, logger *slog.Logger) (*ratelimit.Redis, error) {
	if rawURL == "" {
		return nil, nil
	}
	lim, err := ratelimit.OpenRedis(rawURL, ratelimit.RedisOptions{Logger: logger})
	if err != nil {
		return nil, usageErrorf("--redis: %v", err)
	}
	return lim, nil
}

// checkLimiter says whether Redis answers. One that does not is not fatal: go-redis reconnects,
// and meanwhile logins are refused (fail closed) rather than let unthrottled guesses through.
func checkLimiter(ctx context.Context, lim *ratelimit.Redis, rawURL string, logger *slog.Logger) {
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := lim.Ping(pctx); err != nil {
		logger.Warn("Redis does not answer yet; logins are refused until it does", "redis", ratelimit.RedactRedisURL(rawURL), "err", err)
		return
	}
	logger.Info("rate limits shared through Redis", "redis", ratelimit.RedactRedisURL(rawURL))
}

// startWebhooks runs, until the returned function is called, the webhook dispatcher and the
// sweep that announces expiring and expired credentials. Every replica runs both: claims and
// marks in the store make each delivery attempt, and each announcement, happen once.
func startWebhooks(ctx context.Context, cfg serveConfig, auth *authority.Authority, store keyward.Store, logger *slog.Logger) func() {
	if !cfg.webhooks {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	d := webhook.New(store, webhook.Options{Open: auth.OpenWebhookSecret, Logger: logger, AllowPrivate: cfg.webhookPrivate})
	wg.Go(func() { d.Run(ctx) })
	interval := cfg.sweepInterval
	if interval <= 0 {
		interval = time.Minute
	}
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, err := auth.SweepExpiries(ctx, cfg.expiringLead); err != nil && ctx.Err() == nil {
				logger.Warn("expiry sweep failed", "err", err)
			} else if n > 0 {
				logger.Info("announced expiring and expired credentials", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}

// sweepUnused runs the authority's unused-key sweep now and then every interval until ctx ends
// or stop is called; stop returns once the sweep in progress, if any, has finished. Every
// replica runs it: each key is disabled by one conditional write, so they never disable twice.
func sweepUnused(ctx context.Context, auth *authority.Authority, every time.Duration, logger *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			n, err := auth.DisableUnused(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Warn("disabling unused keys failed; will retry", "err", err)
			case n > 0:
				logger.Info("disabled unused keys", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
