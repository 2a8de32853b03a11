package refusal

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	late := fmt.Errorf("reading: %w", context.DeadlineExceeded)
	if got := Normalize(late); keyward.ErrorCode(got) != keyward.ETimeout || keyward.ErrorMessage(got) != "the request did not finish within its deadline" {
		t.Errorf("deadline: %v", got)
	}
	for _, err := range []error{nil, keyward.Errorf(keyward.EInvalid, "no"), keyward.Errorf(keyward.ETimeout, "the database did not answer in time")} {
		if got := Normalize(err); got != err {
			t.Errorf("Normalize(%v) = %v, want it unchanged", err, got)
		}
	}
}

func TestSetRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&keyward.Error{Code: keyward.ERateLimited, RetryAfter: 1500 * time.Millisecond}, "2"},
		{&keyward.Error{Code: keyward.EUnavailable, RetryAfter: 5 * time.Second}, "5"},
		{keyward.Errorf(keyward.ERateLimited, "slow down"), ""},
		{fmt.Errorf("plain"), ""},
	} {
		h := http.Header{}
		SetRetryAfter(h, tc.err)
		if got := h.Get("Retry-After"); got != tc.want {
			t.Errorf("%v: Retry-After %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	err := &keyward.Error{Code: keyward.EInvalid, Fields: map[string]string{"name": "bad", "meta": "too big", "environment": "no"}}
	fields, names := Fields(fmt.Errorf("wrapped: %w", err))
	if !slices.Equal(names, []string{"environment", "meta", "name"}) || fields["meta"] != "too big" {
		t.Errorf("Fields = %v, %v", fields, names)
	}
	if fields, names := Fields(fmt.Errorf("plain")); fields != nil || names != nil {
		t.Errorf("a plain error has fields: %v %v", fields, names)
	}
}
