package f5xc_test

import (
	"testing"

	"github.com/keyward/keyward/internal/proctest"
)

// TestMain fails the run when a process a test started (openssl, curl) outlives it.
func TestMain(m *testing.M) { proctest.Main(m) }
