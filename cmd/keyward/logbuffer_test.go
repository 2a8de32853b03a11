package main

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/logbuf"
)

// TestAccessLinesBuffered checks that access lines wait in the buffer, that any other line
// goes out at once after the access lines before it (order kept), and that the timer and
// Flush write what waits.
func TestAccessLinesBuffered(t *testing.T) {
	t.Parallel()
	out := &logbuf.Buffer{}
	logger, buf, err := newLogger(out, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("request", "request_id", "a1")
	logger.Info("request", "request_id", "a2")
	if got := out.String(); got != "" {
		t.Fatalf("access lines written at once: %q", got)
	}
	logger.Warn("something else")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "a1") || !strings.Contains(lines[1], "a2") || !strings.Contains(lines[2], "something else") {
		t.Fatalf("after a warning: %q", lines)
	}
	logger.Info("keyward listening") // not an access line: at once
	if !strings.Contains(out.String(), "keyward listening") {
		t.Fatalf("an info line that is no access line waited: %q", out.String())
	}
	logger.Info("request", "request_id", "a3")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "a3"); {
		if time.Now().After(deadline) {
			t.Fatal("the timer never wrote the access line")
		}
		time.Sleep(10 * time.Millisecond)
	}
	logger.Info("request", "request_id", "a4")
	if err := buf.Flush(); err != nil || !strings.Contains(out.String(), "a4") {
		t.Fatalf("Flush: %v, %q", err, out.String())
	}
	big := strings.Repeat("x", accessBufferSize+1)
	logger.Info("request", "request_id", "a5", "big", big)
	if !strings.Contains(out.String(), big) {
		t.Fatal("a record larger than the buffer waited")
	}
}
