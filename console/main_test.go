package console_test

import (
	"testing"

	"github.com/keyward/keyward/internal/proctest"
)

// TestMain fails the run when a browser process outlives its test.
func TestMain(m *testing.M) { proctest.Main(m) }
