package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Latency at a fixed offered load comes from this constant-rate generator, built after wrk2,
// not from wrk. wrk is a closed loop: each connection sends its next request only when the
// previous one has been answered, so when the server stalls the requests that would have been
// sent meanwhile are never sent, and the stall counts as one slow request per connection
// instead of many (coordinated omission).
//
// Here a fixed pool of C keep-alive connections, all opened before measuring (never more during
// a run, so no local port runs out), shares an overall rate R: connection i sends its k-th
// request at the intended time t0 + (k*C + i)/R, sleeping until then only when it is ahead of
// schedule. A connection that is behind (its previous answer came late) sends its next request
// as soon as that answer is read. Every request's latency runs from its intended send time to
// the end of its answer, so a stall of S counts for every request that should have been sent
// during it, each with the part of S it waited (up to S), as wrk2 does: the generator's
// schedule does not wait for the server. One exception keeps Go's timer slack out of the
// numbers: a sleeping connection wakes earlyWake before its intended time (timers here fire up
// to ~1 ms late) and sends at once; when that is before the intended time, the latency runs
// from the actual send, never from a later instant than the request left.
//
// The pool is C connections, so the offered load stays at R only while R x latency < C
// (Little's law): past that, and when this process lacks CPU, requests leave late. The result
// says how late the last ones left (lag) and the rate actually sent; a lagging generator's
// latencies include its own lag and are an upper bound.

// earlyWake is how long before a request's intended time a connection that is ahead of
// schedule wakes up: about the slack of Go's timers on Linux when the process is idle.
const earlyWake = time.Millisecond

// rateTimeout bounds how long after its run's end an answer may still arrive; a request not
// answered by then counts as without answer.
const rateTimeout = 30 * time.Second

// rateRequests serializes t's requests as HTTP/1.1 bytes, one per key of t.keysFile in the
// file's order: the same requests wrk's script sends.
func rateRequests(t target) ([][]byte, error) {
	host, ok := strings.CutPrefix(t.base, "http://")
	if !ok {
		return nil, fmt.Errorf("target %s: base %q is not an http:// URL", t.name, t.base)
	}
	f, err := os.Open(t.keysFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var reqs [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k := sc.Text()
		if k == "" {
			continue
		}
		reqs = append(reqs, serializeRequest(t, host, k))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("target %s: no key in %s", t.name, t.keysFile)
	}
	return reqs, nil
}

// serializeRequest is t's request carrying key k, as bytes to write on a connection to host.
func serializeRequest(t target, host, k string) []byte {
	auth, body := k, ""
	if t.inBody {
		auth, body = t.admin, `{"key":"`+k+`"}`
	}
	b := make([]byte, 0, 160+len(auth)+len(body))
	b = append(b, t.method+" "+t.path+" HTTP/1.1\r\nHost: "+host+"\r\nAuthorization: Bearer "+auth+"\r\n"...)
	if t.inBody {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n"...)
	}
	b = append(b, "\r\n"+body...)
	return b
}

// ratePool is the generator's fixed set of keep-alive connections to one server.
type ratePool struct {
	conns []*rateConn
}

// rateConn is one connection of the pool and what it measured in the current run.
type rateConn struct {
	c   net.Conn
	r   *bufio.Reader
	err error // why the connection broke; its later requests go without answer

	lat      []time.Duration // latency of each answered request, preallocated per run
	sent     int64
	wrong    int64     // answers with another status than expected
	lastSend time.Time // when its last request was written
	lastLag  time.Duration
}

// dialRatePool opens n connections to addr (host:port).
func dialRatePool(addr string, n int) (*ratePool, error) {
	p := &ratePool{}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			p.close()
			return nil, err
		}
		p.conns = append(p.conns, &rateConn{c: c, r: bufio.NewReaderSize(c, 16<<10)})
	}
	return p, nil
}

func (p *ratePool) close() {
	for _, c := range p.conns {
		_ = c.c.Close()
	}
}

// rateResult is what a constant-rate run measured.
type rateResult struct {
	requests            int64   // scheduled: rate x duration
	sent                float64 // requests/s actually written: below the rate asked, the generator fell behind
	lag                 time.Duration
	p50, p99, p999, max time.Duration
	latencies           []time.Duration // every answered request's latency, sorted
	wrong               int64           // answers with another status than expected
	transport           int64           // requests without answer (broken connection, timeout)
	success             float64         // share of the scheduled requests answered with the expected status
	firstError          string          // why a request went without answer, when one did
}

// run sends reqs round-robin at rate requests/s for d over the pool's connections, expecting
// status expect, and measures each request's latency from its intended send time.
func (p *ratePool) run(reqs [][]byte, expect, rate int, d time.Duration) rateResult {
	total := max(1, int64(rate)*int64(d)/int64(time.Second))
	nc := int64(len(p.conns))
	// A little time to start the goroutines, so that the first requests are not late.
	t0 := time.Now().Add(5 * time.Millisecond)
	var wg sync.WaitGroup
	for i, c := range p.conns {
		n := max(0, (total-int64(i)+nc-1)/nc)
		c.lat = make([]time.Duration, 0, n)
		c.sent, c.wrong, c.lastSend, c.lastLag = 0, 0, time.Time{}, 0
		if c.err == nil {
			if err := c.c.SetDeadline(t0.Add(d + rateTimeout)); err != nil {
				c.err = err
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(reqs, int64(i), nc, total, expect, rate, t0)
		}()
	}
	wg.Wait()

	r := rateResult{requests: total}
	var sent, ok int64
	var last time.Time
	for _, c := range p.conns {
		r.latencies = append(r.latencies, c.lat...)
		sent += c.sent
		r.wrong += c.wrong
		if c.lastSend.After(last) {
			last = c.lastSend
		}
		r.lag = max(r.lag, c.lastLag)
		if c.err != nil && r.firstError == "" {
			r.firstError = c.err.Error()
		}
	}
	answered := int64(len(r.latencies))
	ok = answered - r.wrong
	r.transport = total - answered
	r.success = float64(ok) / float64(total)
	r.sent = float64(sent) / max(d, last.Sub(t0)).Seconds()
	slices.Sort(r.latencies)
	r.p50, r.p99, r.p999 = quantile(r.latencies, 0.5), quantile(r.latencies, 0.99), quantile(r.latencies, 0.999)
	if answered > 0 {
		r.max = r.latencies[answered-1]
	}
	return r
}

// run sends the requests j = i, i+nc, i+2nc, ... < total of a run starting at t0, request j
// at its intended time t0 + j/rate or, when behind, as soon as the previous answer is read.
func (c *rateConn) run(reqs [][]byte, i, nc, total int64, expect, rate int, t0 time.Time) {
	for j := i; j < total; j += nc {
		if c.err != nil {
			return // no new connection during a run: the rest of its requests go without answer
		}
		intended := t0.Add(time.Duration(j * int64(time.Second) / int64(rate)))
		now := time.Now()
		if wait := intended.Sub(now) - earlyWake; wait > 0 {
			time.Sleep(wait)
			now = time.Now()
		}
		from := intended
		if now.Before(intended) {
			from = now
		}
		c.lastLag = max(0, now.Sub(intended))
		c.lastSend = now
		if _, err := c.c.Write(reqs[j%int64(len(reqs))]); err != nil {
			c.err = err
			return
		}
		c.sent++
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			c.err = err
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			c.err = err
			return
		}
		c.lat = append(c.lat, time.Since(from))
		if resp.StatusCode != expect {
			c.wrong++
		}
		if resp.Close {
			c.err = errors.New("the server closed the connection")
		}
	}
}

// quantile is the nearest-rank q-quantile of sorted latencies (0 when there are none).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// runRate measures t at rate requests/s for d after a warm-up of warmup at the same rate, over
// conns connections opened before the warm-up.
func runRate(t target, conns, rate int, warmup, d time.Duration) rateResult {
	reqs, err := rateRequests(t)
	if err != nil {
		fatalf("%v", err)
	}
	pool, err := dialRatePool(strings.TrimPrefix(t.base, "http://"), conns)
	if err != nil {
		fatalf("connecting to %s: %v", t.name, err)
	}
	defer pool.close()
	if warmup > 0 {
		pool.run(reqs, t.expect, rate, warmup)
	}
	r := pool.run(reqs, t.expect, rate, d)
	if len(r.latencies) == 0 {
		fatalf("%s at %d/s: no request was answered (%s)", t.name, rate, r.firstError)
	}
	// A request without an answer is what overload looks like at a fixed rate, a number to
	// print; an answer with the wrong status means something does not work.
	if 100*r.wrong > r.requests {
		fatalf("%s at %d/s: %d of %d answers were not %d", t.name, rate, r.wrong, r.requests, t.expect)
	}
	r.latencies = nil
	return r
}
