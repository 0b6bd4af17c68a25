package hal_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/shisa-gw/shisa/hal"
)

// newPin returns a gpiotest pin at level l with a buffered edge channel.
// (gpiotest sets its clock lazily in WaitForEdge; hal's input calls that from
// one goroutine at a time, under its lock.)
func newPin(name string, l gpio.Level) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, L: l, EdgesChan: make(chan gpio.Level, 16)}
}

type result struct {
	active bool
	err    error
}

// waiter runs WaitForEdge in a goroutine and hands back its result.
func waiter(ctx context.Context, in hal.Input) <-chan result {
	ch := make(chan result, 1)
	go func() {
		a, err := in.WaitForEdge(ctx)
		ch <- result{a, err}
	}()
	return ch
}

func TestInputPolarity(t *testing.T) {
	for _, tc := range []struct {
		name      string
		activeLow bool
		idle      gpio.Level // the electrical level when inactive
	}{
		{"active-high", false, gpio.Low},
		{"active-low", true, gpio.High},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPin("GPIO5", tc.idle)
				in, err := hal.OpenInput(hal.PinMap{"GPIO5": p}, hal.Line{Name: "ups-onbatt", Pin: "GPIO5", ActiveLow: tc.activeLow})
				if err != nil {
					t.Fatal(err)
				}
				if in.Active() {
					t.Fatalf("idle level %s reads active", tc.idle)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				got := waiter(ctx, in)
				p.EdgesChan <- !tc.idle
				if r := <-got; r.err != nil || !r.active {
					t.Fatalf("after edge to %s: WaitForEdge = %v, %v; want active", !tc.idle, r.active, r.err)
				}
				if !in.Active() {
					t.Fatal("Active() = false after the edge")
				}
				got = waiter(ctx, in)
				p.EdgesChan <- tc.idle
				if r := <-got; r.err != nil || r.active {
					t.Fatalf("after edge back to %s: WaitForEdge = %v, %v; want inactive", tc.idle, r.active, r.err)
				}
			})
		})
	}
}

func TestInputDebounce(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		name := map[bool]string{false: "active-high", true: "active-low"}[activeLow]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				idle := gpio.Level(activeLow)
				p := newPin("GPIO6", idle)
				const window = 50 * time.Millisecond
				in, err := hal.OpenInput(hal.PinMap{"GPIO6": p}, hal.Line{Name: "ups-lowbatt", Pin: "GPIO6", ActiveLow: activeLow, Debounce: window})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()

				// A burst of edges 5 ms apart, ending active: one change.
				start := time.Now()
				got := waiter(ctx, in)
				for i, l := range []gpio.Level{!idle, idle, !idle, idle, !idle} {
					if i > 0 {
						time.Sleep(5 * time.Millisecond)
					}
					p.EdgesChan <- l
				}
				r := <-got
				if r.err != nil || !r.active {
					t.Fatalf("burst: WaitForEdge = %v, %v; want one change to active", r.active, r.err)
				}
				// Reported once the line was quiet for the window after the
				// last edge (20 ms in), not before.
				if d := time.Since(start); d < 20*time.Millisecond+window {
					t.Fatalf("burst reported after %s, before the line settled", d)
				}

				// A glitch that ends where it began: no change.
				got = waiter(ctx, in)
				p.EdgesChan <- idle
				time.Sleep(10 * time.Millisecond)
				p.EdgesChan <- !idle
				time.Sleep(time.Second)
				synctest.Wait()
				select {
				case r := <-got:
					t.Fatalf("a glitch within the window was reported: %+v", r)
				default:
				}
				if !in.Active() {
					t.Fatal("Active() = false after the glitch")
				}
				cancel()
				if r := <-got; !errors.Is(r.err, context.Canceled) || !r.active {
					t.Fatalf("after cancel: %+v; want the last level and context.Canceled", r)
				}
			})
		})
	}
}

// An edge the driver lost (the level moved, no event) is still seen, within
// EdgePoll plus the debounce window.
func TestInputLostEdge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPin("GPIO7", gpio.Low)
		in := hal.NewInput(p, false, 20*time.Millisecond)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		got := waiter(ctx, in)
		p.Lock()
		p.L = gpio.High
		p.Unlock()
		r := <-got
		if r.err != nil || !r.active {
			t.Fatalf("WaitForEdge = %+v; want active", r)
		}
		if d := time.Since(start); d > hal.EdgePoll+20*time.Millisecond {
			t.Fatalf("lost edge seen after %s; want within %s", d, hal.EdgePoll+20*time.Millisecond)
		}
	})
}

// The context is watched even though the pin never returns an edge.
func TestInputContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPin("GPIO8", gpio.Low)
		in := hal.NewInput(p, false, 0)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := in.WaitForEdge(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second+hal.EdgePoll {
			t.Fatalf("returned %s after the deadline", d-3*time.Second)
		}
	})
}

func TestOutputPolarityAndPulse(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			p := newPin("GPIO9", gpio.Low)
			out, err := hal.OpenOutput(hal.PinMap{"GPIO9": p}, hal.Line{Name: "ups-kill", Pin: "GPIO9", ActiveLow: activeLow})
			if err != nil {
				t.Fatal(err)
			}
			inactive := gpio.Level(activeLow)
			if l := p.Read(); l != inactive {
				t.Fatalf("activeLow=%v: opened at %s; want %s (inactive)", activeLow, l, inactive)
			}
			done := make(chan error, 1)
			go func() { done <- out.Pulse(t.Context(), 500*time.Millisecond) }()
			time.Sleep(250 * time.Millisecond)
			if l := p.Read(); l != !inactive {
				t.Fatalf("activeLow=%v: mid-pulse at %s; want %s", activeLow, l, !inactive)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if l := p.Read(); l != inactive {
				t.Fatalf("activeLow=%v: after pulse at %s; want %s", activeLow, l, inactive)
			}

			// Cut short: the line still ends inactive, and the error says so.
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			if err := out.Pulse(ctx, time.Second); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cut-short pulse: err = %v", err)
			}
			if l := p.Read(); l != inactive {
				t.Fatalf("after cut-short pulse at %s; want %s", l, inactive)
			}
		})
	}
}

func TestOpenMissingPin(t *testing.T) {
	_, err := hal.OpenInput(hal.PinMap{}, hal.Line{Name: "button", Pin: "GPIO99"})
	if !errors.Is(err, hal.ErrNoPin) {
		t.Fatalf("OpenInput: err = %v; want ErrNoPin", err)
	}
	_, err = hal.OpenOutput(hal.PinMap{}, hal.Line{Name: "led-fault", Pin: "GPIO98", ActiveLow: true})
	if !errors.Is(err, hal.ErrNoPin) {
		t.Fatalf("OpenOutput: err = %v; want ErrNoPin", err)
	}
	t.Log(err)
}
