package hal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// EdgePoll is the longest single wait handed to a pin's WaitForEdge. periph's
// gpiochip driver returns at once from WaitForEdge(-1) (an open upstream bug),
// so hal never waits without a timeout: it waits at most EdgePoll at a time,
// checks the context between waits, and compares the level after every
// timeout so that an edge the driver lost is still seen within EdgePoll.
const EdgePoll = 200 * time.Millisecond

// Line names one GPIO line of the board and how to read it.
type Line struct {
	// Name is the line's role on the board ("ups-onbatt", "led-fault"); it
	// appears in errors and the simulated board's log.
	Name string
	// Pin is the pin as periph names it in gpioreg ("GPIO17", "gpiochip0/17"
	// style names as the host driver registers them).
	Pin string
	// ActiveLow inverts the line: active is the low electrical level. Dry
	// contacts wired to a pull-up are usually active low.
	ActiveLow bool
	// Debounce is how long an input must stay quiet after an edge before its
	// new level counts. Zero disables debouncing. Ignored for outputs.
	Debounce time.Duration
	// Pull is the input's bias; the zero value (gpio.PullNoChange) keeps what
	// the device tree set. Ignored for outputs.
	Pull gpio.Pull
}

func (l Line) String() string {
	pol := "active-high"
	if l.ActiveLow {
		pol = "active-low"
	}
	return fmt.Sprintf("%s (pin %s, %s)", l.Name, l.Pin, pol)
}

// Registry resolves periph pin names. On the board it is
// RegistryFunc(gpioreg.ByName) after host.Init (package hal/board does both);
// in tests, a PinMap of gpiotest pins.
type Registry interface {
	ByName(name string) gpio.PinIO
}

// RegistryFunc adapts a function such as gpioreg.ByName to Registry.
type RegistryFunc func(name string) gpio.PinIO

// ByName implements Registry.
func (f RegistryFunc) ByName(name string) gpio.PinIO { return f(name) }

// PinMap is a Registry over a fixed set of pins, for tests.
type PinMap map[string]gpio.PinIO

// ByName implements Registry.
func (m PinMap) ByName(name string) gpio.PinIO { return m[name] }

// Input is a line read in logical terms: polarity and debounce are applied.
type Input interface {
	// Active reports whether the line is active now (one read, polarity
	// applied, not debounced).
	Active() bool
	// WaitForEdge blocks until the debounced logical level changes and
	// returns the new level, or returns ctx's error. Call it from one
	// goroutine at a time.
	WaitForEdge(ctx context.Context) (active bool, err error)
}

// Output is a line driven in logical terms: polarity is applied.
type Output interface {
	// Set drives the line active or inactive.
	Set(active bool) error
	// Pulse drives the line active for d, then inactive. The line is left
	// inactive even when ctx ends early; ctx's error is returned then.
	Pulse(ctx context.Context, d time.Duration) error
}

// ErrNoPin is returned when a line's pin is not in the registry.
var ErrNoPin = errors.New("hal: no such GPIO pin")

// OpenInput resolves cfg.Pin in reg, configures it as an input with edge
// detection on both edges, and returns it as an Input with cfg's polarity
// and debounce.
func OpenInput(reg Registry, cfg Line) (Input, error) {
	p := reg.ByName(cfg.Pin)
	if p == nil {
		return nil, fmt.Errorf("hal: input %s: %w (check the pin name against the board's gpiochip lines)", cfg, ErrNoPin)
	}
	if err := p.In(cfg.Pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("hal: input %s: configure: %w", cfg, err)
	}
	return NewInput(p, cfg.ActiveLow, cfg.Debounce), nil
}

// OpenOutput resolves cfg.Pin in reg and drives it inactive.
func OpenOutput(reg Registry, cfg Line) (Output, error) {
	p := reg.ByName(cfg.Pin)
	if p == nil {
		return nil, fmt.Errorf("hal: output %s: %w (check the pin name against the board's gpiochip lines)", cfg, ErrNoPin)
	}
	o := NewOutput(p, cfg.ActiveLow)
	if err := o.Set(false); err != nil {
		return nil, fmt.Errorf("hal: output %s: %w", cfg, err)
	}
	return o, nil
}

// NewInput wraps a pin already configured with In(…, gpio.BothEdges). It is
// the debounce decorator: after an edge, it waits until the pin has seen no
// edge for debounce, then compares the level with the last one it reported;
// a burst of edges within the window is one change, and a glitch that ends
// where it began is none. (periph's gpioutil.Debounce needs a PinIO, ignores
// its debounce argument, sleeps on a real clock and does not debounce Read,
// so hal has its own.)
func NewInput(p gpio.PinIn, activeLow bool, debounce time.Duration) Input {
	in := &input{pin: p, activeLow: activeLow, debounce: debounce}
	in.last = in.Active()
	return in
}

type input struct {
	pin       gpio.PinIn
	activeLow bool
	debounce  time.Duration

	mu   sync.Mutex // held for the whole of WaitForEdge: one waiter at a time
	last bool       // the logical level last reported
}

func (in *input) Active() bool {
	return (in.pin.Read() == gpio.High) != in.activeLow
}

func (in *input) WaitForEdge(ctx context.Context) (bool, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return in.last, err
		}
		if !in.pin.WaitForEdge(EdgePoll) && in.Active() == in.last {
			continue // timeout and no lost edge
		}
		if err := in.settle(ctx); err != nil {
			return in.last, err
		}
		if now := in.Active(); now != in.last {
			in.last = now
			return now, nil
		}
	}
}

// settle returns once the pin has had no edge for in.debounce, waiting in
// finite steps so that ctx is watched.
func (in *input) settle(ctx context.Context) error {
	var quiet time.Duration
	for quiet < in.debounce {
		if err := ctx.Err(); err != nil {
			return err
		}
		w := min(in.debounce-quiet, EdgePoll)
		if in.pin.WaitForEdge(w) {
			quiet = 0 // another edge: the window starts again
			continue
		}
		quiet += w
	}
	return nil
}

// NewOutput wraps a pin as an Output with the given polarity.
func NewOutput(p gpio.PinOut, activeLow bool) Output {
	return &output{pin: p, activeLow: activeLow}
}

type output struct {
	pin       gpio.PinOut
	activeLow bool
}

func (o *output) Set(active bool) error {
	l := gpio.Level(active != o.activeLow)
	if err := o.pin.Out(l); err != nil {
		return fmt.Errorf("hal: set %s %s: %w", o.pin, l, err)
	}
	return nil
}

func (o *output) Pulse(ctx context.Context, d time.Duration) error {
	if err := o.Set(true); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var cerr error
	select {
	case <-t.C:
	case <-ctx.Done():
		cerr = fmt.Errorf("hal: pulse %s cut short: %w", o.pin, ctx.Err())
	}
	return errors.Join(cerr, o.Set(false))
}
