package kubewebhook_test

import (
	"testing"

	"github.com/keyward/keyward/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }
