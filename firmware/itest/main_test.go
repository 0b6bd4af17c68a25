package itest

import (
	"testing"

	"github.com/shisa-gw/shisa/netctl/netnstest"
)

func TestMain(m *testing.M) { netnstest.Main(m) }
