package servicestack

import (
	"testing"

	"github.com/keyward/keyward/internal/proctest"
)

// TestMain fails the run when a process a test started (node, npm) outlives it.
func TestMain(m *testing.M) { proctest.Main(m) }
