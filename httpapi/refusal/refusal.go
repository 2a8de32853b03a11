// Package refusal holds what every surface (the native API and each vendor dialect) does with
// an error before it renders it in its own shape: a request whose deadline ran out is a
// timeout, a refusal that says when to retry sets Retry-After, and field errors come in one
// order.
package refusal

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// Normalize returns err as a caller sees it: an internal error caused by the request's
// deadline is ETimeout.
func Normalize(err error) error {
	if errors.Is(err, context.DeadlineExceeded) && keyward.ErrorCode(err) == keyward.EInternal {
		return keyward.Errorf(keyward.ETimeout, "the request did not finish within its deadline")
	}
	return err
}

// SetRetryAfter sets Retry-After, in whole seconds rounded up, when err says when to retry.
func SetRetryAfter(h http.Header, err error) {
	var e *keyward.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
}

// Fields returns the field errors of err, by field name, with the names in order.
func Fields(err error) (fields map[string]string, names []string) {
	var e *keyward.Error
	if !errors.As(err, &e) {
		return nil, nil
	}
	for f := range e.Fields {
		names = append(names, f)
	}
	slices.Sort(names)
	return e.Fields, names
}
