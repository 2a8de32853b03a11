package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// The server's access lines are many (every refused verification has one) and each would be a
// write(2) of its own: they are gathered in a buffer written at most every accessFlushEvery or
// when accessBufferSize fills, as zap's buffered sink does. Every other line (start, warnings,
// errors) is written at once, after whatever access lines precede it. A crash loses at most
// accessFlushEvery of access lines; a shutdown loses none.
const (
	accessFlushEvery = 100 * time.Millisecond
	accessBufferSize = 64 << 10
)

// lineBuffer is an io.Writer that keeps whole lines (slog writes one record per Write) until
// Flush, a full buffer, or its timer.
type lineBuffer struct {
	mu    sync.Mutex
	out   io.Writer
	buf   []byte
	timer *time.Timer // armed while buf holds lines
}

func newLineBuffer(out io.Writer) *lineBuffer {
	b := &lineBuffer{out: out, buf: make([]byte, 0, accessBufferSize)}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Write keeps p for the next flush; a record larger than the buffer goes out at once.
func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > cap(b.buf) {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(b.buf) {
			return b.out.Write(p)
		}
	}
	if len(b.buf) == 0 {
		b.timer.Reset(accessFlushEvery)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what the buffer holds.
func (b *lineBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *lineBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	b.timer.Stop()
	_, err := b.out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// accessLineHandler buffers the records httpapi writes per request ("request" at Info) in buf
// and writes every other record at once (see lineBuffer).
type accessLineHandler struct {
	slog.Handler
	buf *lineBuffer
}

// Handle implements slog.Handler.
func (h accessLineHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level != slog.LevelInfo || r.Message != "request" {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// WithAttrs implements slog.Handler.
func (h accessLineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return accessLineHandler{h.Handler.WithAttrs(as), h.buf}
}

// WithGroup implements slog.Handler.
func (h accessLineHandler) WithGroup(name string) slog.Handler {
	return accessLineHandler{h.Handler.WithGroup(name), h.buf}
}
