// Package halsim is the simulated board: GPIO lines that a test or the
// rootless demo sets by hand, a UPS whose state is set the same way, LEDs
// that keep what they show, and a power controller that records what it
// was asked. Everything it is asked and everything set on it goes to one
// event log, which prints as text so that tests compare it whole.
//
// Its types implement hal's interfaces (hal.Input, hal.Output, hal.LED,
// hal.UPS, hal.Power, hal.ShutdownInhibitor), so firmware runs on it
// unchanged.
package halsim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/hal"
)

// Board holds the simulated lines and the event log.
type Board struct {
	// Now stamps events; nil means time.Now (which testing/synctest fakes).
	Now func() time.Time

	mu    sync.Mutex
	lines map[string]*Line
	log   []Event
}

// Event is one entry of the log.
type Event struct {
	At   time.Time
	What string // "set ups-onbatt active", "pulse ups-kill 1s", …
}

func (e Event) String() string { return e.What }

// NewBoard returns an empty board.
func NewBoard() *Board { return &Board{lines: make(map[string]*Line)} }

func (b *Board) record(format string, args ...any) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = append(b.log, Event{At: now(), What: fmt.Sprintf(format, args...)})
}

// Log returns a copy of the event log.
func (b *Board) Log() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Event(nil), b.log...)
}

// LogText returns the event log, one event a line, without times.
func (b *Board) LogText() string {
	var s strings.Builder
	for _, e := range b.Log() {
		s.WriteString(e.What)
		s.WriteString("\n")
	}
	return s.String()
}

// Line returns the line of that name, created inactive on first use. It is
// both a hal.Input (Set moves it) and a hal.Output (the firmware moves it).
func (b *Board) Line(name string) *Line {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.lines[name]
	if !ok {
		l = &Line{Name: name, board: b, edges: make(chan struct{}, 1)}
		b.lines[name] = l
	}
	return l
}

// Set drives a line as the world would (the UPS's contacts, the button).
func (b *Board) Set(name string, active bool) { b.Line(name).set(active, "set") }

// Line is one simulated GPIO line, already in logical terms (no polarity,
// no bounce: those belong to hal's periph path and are tested there).
type Line struct {
	Name  string
	board *Board

	mu     sync.Mutex
	active bool
	edges  chan struct{} // one slot: a change since the last WaitForEdge
}

var (
	_ hal.Input  = (*Line)(nil)
	_ hal.Output = (*Line)(nil)
)

func (l *Line) set(active bool, verb string) {
	l.mu.Lock()
	changed := l.active != active
	l.active = active
	l.mu.Unlock()
	l.board.record("%s %s %s", verb, l.Name, state(active))
	if changed {
		select {
		case l.edges <- struct{}{}:
		default:
		}
	}
}

func state(active bool) string {
	if active {
		return "active"
	}
	return "inactive"
}

// Active implements hal.Input.
func (l *Line) Active() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// WaitForEdge implements hal.Input: it returns after the next change.
func (l *Line) WaitForEdge(ctx context.Context) (bool, error) {
	select {
	case <-l.edges:
		return l.Active(), nil
	case <-ctx.Done():
		return l.Active(), ctx.Err()
	}
}

// Set implements hal.Output.
func (l *Line) Set(active bool) error {
	l.set(active, "out")
	return nil
}

// Pulse implements hal.Output.
func (l *Line) Pulse(ctx context.Context, d time.Duration) error {
	l.board.record("pulse %s %s", l.Name, d)
	l.mu.Lock()
	l.active = true
	l.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	var err error
	select {
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	l.active = false
	l.mu.Unlock()
	return err
}
