package board_test

import (
	"testing"

	"github.com/shisa-gw/shisa/hal/board"
)

// This machine may or may not have GPIO chips: Open either finds drivers or
// says why not; it never panics.
func TestOpen(t *testing.T) {
	reg, err := board.Open()
	if err != nil {
		t.Logf("no board here: %v", err)
		return
	}
	if p := reg.ByName("no-such-pin"); p != nil {
		t.Fatalf("ByName(no-such-pin) = %v", p)
	}
}
