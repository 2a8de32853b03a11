package postgrestest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on a loopback port in front of the test server. A store opened on
// Proxy.URL reaches the database through it, so a test can take the database away and give it
// back: Cut refuses new connections and drops the open ones, as a server that went down does;
// Hang keeps connections open and forwards nothing, as a network that drops packets does;
// Restore listens again on the same address.
type Proxy struct {
	tb     testing.TB
	target string // host:port of the server
	url    string // the database URL with the proxy's address

	mu    sync.Mutex
	addr  string
	ln    net.Listener
	conns map[net.Conn]struct{}
	hang  bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to the server of dbURL (a postgres:// URL) and stops it when tb ends.
func NewProxy(tb testing.TB, dbURL string) *Proxy {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil || !isURL(dbURL) || u.Host == "" {
		tb.Fatalf("postgrestest: NewProxy needs a postgres:// URL with a host, not %s", Redact(dbURL))
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := &Proxy{tb: tb, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("postgrestest: proxy listen: %v", err)
	}
	p.addr = ln.Addr().String()
	u.Host = p.addr
	p.url = u.String()
	p.serve(ln)
	tb.Cleanup(p.Close)
	return p
}

// URL is the database URL through the proxy.
func (p *Proxy) URL() string { return p.url }

// Addr is the proxy's loopback address.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.ln != ln { // cut meanwhile
				p.mu.Unlock()
				c.Close()
				return
			}
			p.conns[c] = struct{}{}
			hang := p.hang
			p.mu.Unlock()
			if hang {
				continue // hold it open, forward nothing
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

// forward joins c to a new connection to the server until either side closes or Cut.
func (p *Proxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if _, ok := p.conns[c]; !ok { // cut meanwhile
		p.mu.Unlock()
		s.Close()
		return
	}
	p.conns[s] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pipe(s, c); done <- struct{}{} }()
	go func() { p.pipe(c, s); done <- struct{}{} }()
	<-done
	p.drop(c)
	p.drop(s)
	<-done
}

// pipe copies from src to dst, discarding what arrives while the proxy hangs.
func (p *Proxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hang := p.hang
			p.mu.Unlock()
			if !hang {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// Cut stops listening, so new connections are refused, and closes every open one.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.hang = false
	p.mu.Unlock()
}

// Hang keeps every connection, open and new, but forwards nothing, until Cut.
func (p *Proxy) Hang() {
	p.mu.Lock()
	p.hang = true
	p.mu.Unlock()
}

// Restore listens again, on the same address, after Cut.
func (p *Proxy) Restore() {
	p.tb.Helper()
	p.mu.Lock()
	up := p.ln != nil
	p.mu.Unlock()
	if up {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("postgrestest: proxy listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.Cut()
	p.wg.Wait()
}
