package halsim

import (
	"sync"

	"github.com/shisa-gw/shisa/hal"
)

// LED is a simulated hal.LED: it keeps the pattern shown and every pattern
// it was asked to show, in order (a repeated pattern too). The zero LED is
// ready, dark, and logs nowhere; Board.LED returns one that also logs to
// the board.
type LED struct {
	Name  string
	board *Board

	mu      sync.Mutex
	pattern hal.Pattern
	history []hal.Pattern
}

var _ hal.LED = (*LED)(nil)

// LED returns a new LED of that name whose Sets go to b's log as
// "led NAME PATTERN".
func (b *Board) LED(name string) *LED { return &LED{Name: name, board: b} }

// Set implements hal.LED.
func (l *LED) Set(p hal.Pattern) error {
	l.mu.Lock()
	l.pattern = p
	l.history = append(l.history, p)
	l.mu.Unlock()
	if l.board != nil {
		l.board.record("led %s %s", l.Name, p)
	}
	return nil
}

// Pattern returns the pattern shown now (hal.Off before any Set).
func (l *LED) Pattern() hal.Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pattern
}

// History returns a copy of every pattern set, oldest first.
func (l *LED) History() []hal.Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hal.Pattern(nil), l.history...)
}
