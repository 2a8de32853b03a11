// Package metrics exposes keyward's Prometheus metrics: the verification hot path (results by
// code, latency, cache hit ratio, rate-limit rejections) and the Go runtime. Labels never carry
// a key, a credential name or any other caller-chosen value: only closed sets.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward"
)

// CacheStats reports the verification cache's counters.
type CacheStats func() (hits, misses uint64, entries int)

// Metrics holds the collectors of one server.
type Metrics struct {
	registry      *prometheus.Registry
	verifications *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	rateLimited   *prometheus.CounterVec
}

// New registers keyward's collectors; cache may be nil.
func New(cache CacheStats) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_verifications_total",
			Help: "Key verifications by surface (verify, auth, tokenreview) and result code (VALID, NOT_FOUND, ...).",
		}, []string{"surface", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyward_verification_duration_seconds",
			Help:    "Time to answer a verification, from request to response, by surface.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}, []string{"surface"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_rate_limited_total",
			Help: "Requests refused by a rate limit, by what was limited (key, login).",
		}, []string{"limit"}),
	}
	reg.MustRegister(m.verifications, m.latency, m.rateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cache != nil {
		reg.MustRegister(cacheCollector{cache})
	}
	return m
}

// Surface is the metrics of one verification surface with every label resolved when it is
// made, so that observing one verification hashes no label. A nil *Surface observes nothing.
type Surface struct {
	codes       map[string]prometheus.Counter
	vec         *prometheus.CounterVec // for a code outside keyward.VerificationCodes
	name        string
	latency     prometheus.Observer
	rateLimited prometheus.Counter
}

// Surface returns the metrics of the verification surface name; nil on a nil *Metrics.
func (m *Metrics) Surface(name string) *Surface {
	if m == nil {
		return nil
	}
	s := &Surface{codes: map[string]prometheus.Counter{}, vec: m.verifications, name: name,
		latency: m.latency.WithLabelValues(name), rateLimited: m.rateLimited.WithLabelValues("key")}
	for _, c := range keyward.VerificationCodes {
		s.codes[c] = m.verifications.WithLabelValues(name, c)
	}
	return s
}

// Observe counts one verification that ended with code after d, and a rate-limit refusal when
// code is one.
func (s *Surface) Observe(code string, d time.Duration) {
	if s == nil {
		return
	}
	c := s.codes[code]
	if c == nil {
		c = s.vec.WithLabelValues(s.name, code)
	}
	c.Inc()
	s.latency.Observe(d.Seconds())
	if code == keyward.CodeRateLimited || code == keyward.CodeUsageExceeded {
		s.rateLimited.Inc()
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// cacheCollector reads the cache counters at scrape time.
type cacheCollector struct{ stats CacheStats }

var (
	cacheHits    = prometheus.NewDesc("keyward_cache_hits_total", "Verification cache hits.", nil, nil)
	cacheMisses  = prometheus.NewDesc("keyward_cache_misses_total", "Verification cache misses (store lookups).", nil, nil)
	cacheEntries = prometheus.NewDesc("keyward_cache_entries", "Secrets in the verification cache.", nil, nil)
)

func (c cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheHits
	ch <- cacheMisses
	ch <- cacheEntries
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	hits, misses, entries := c.stats()
	ch <- prometheus.MustNewConstMetric(cacheHits, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(cacheMisses, prometheus.CounterValue, float64(misses))
	ch <- prometheus.MustNewConstMetric(cacheEntries, prometheus.GaugeValue, float64(entries))
}
