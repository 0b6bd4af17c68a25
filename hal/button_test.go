package hal_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/shisa-gw/shisa/hal"
)

const (
	testHold     = 300 * time.Millisecond
	testDebounce = 20 * time.Millisecond
	// slack bounds how late WaitHold may notice things: a press is seen
	// within EdgePoll plus the debounce (the pin's level is moved without
	// an edge event, the lost-edge path), a hold within a poll or two.
	slack = hal.EdgePoll + testDebounce + 150*time.Millisecond
)

// button is an active-low technician button on a gpiotest pin.
func button(t *testing.T) (*gpiotest.Pin, hal.Input) {
	t.Helper()
	p := newPin("GPIO27", gpio.High)
	return p, hal.NewInput(p, true, testDebounce)
}

// press moves the pin's level as the button would (pressed pulls it low).
func press(p *gpiotest.Pin, pressed bool) {
	p.Lock()
	p.L = gpio.Level(!pressed)
	p.Unlock()
}

// holdWaiter runs WaitHold in a goroutine and hands back its error.
func holdWaiter(ctx context.Context, in hal.Input, tick func(time.Duration)) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- hal.WaitHold(ctx, in, testHold, tick) }()
	return ch
}

func TestWaitHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, in := button(t)
		done := holdWaiter(t.Context(), in, nil)
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitHold returned %v with the button never pressed", err)
		default:
		}
		pressed := time.Now()
		press(p, true)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(pressed); d < testHold || d > testHold+slack {
			t.Fatalf("returned %s after the press; want %s to %s", d, testHold, testHold+slack)
		}
	})
}

func TestWaitHoldAlreadyPressed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, in := button(t)
		press(p, true)
		start := time.Now()
		if err := hal.WaitHold(t.Context(), in, testHold, nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < testHold || d > testHold+slack {
			t.Fatalf("returned after %s; want %s to %s", d, testHold, testHold+slack)
		}
	})
}

// A release before the hold starts the wait again: only a full hold after
// the second press counts.
func TestWaitHoldReleasedEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, in := button(t)
		done := holdWaiter(t.Context(), in, nil)
		synctest.Wait() // waiting for the press, in WaitForEdge
		press(p, true)
		// seen within EdgePoll plus the debounce; then held for testHold/2
		time.Sleep(hal.EdgePoll + testDebounce + testHold/2)
		press(p, false)
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitHold returned %v after a short press", err)
		default:
		}
		second := time.Now()
		press(p, true)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(second); d < testHold || d > testHold+slack {
			t.Fatalf("returned %s after the second press; want %s to %s", d, testHold, testHold+slack)
		}
	})
}

func TestWaitHoldContext(t *testing.T) {
	for _, pressed := range []bool{false, true} {
		name := map[bool]string{false: "released", true: "held"}[pressed]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, in := button(t)
				press(p, pressed)
				ctx, cancel := context.WithCancel(t.Context())
				// hold far longer than the test: only the cancel ends it
				done := make(chan error, 1)
				go func() { done <- hal.WaitHold(ctx, in, time.Hour, nil) }()
				time.Sleep(time.Second)
				cancel()
				start := time.Now()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("WaitHold = %v; want context.Canceled", err)
				}
				if d := time.Since(start); d > hal.EdgePoll+testDebounce {
					t.Fatalf("returned %s after the cancel", d)
				}
			})
		})
	}
}

// tick reports the time held, increasing, about every 250 ms, and 0 at a
// release before the hold is complete; it starts again from the beginning
// at the next press.
func TestWaitHoldTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, in := button(t)
		const hold = 2 * time.Second
		var (
			mu    sync.Mutex
			ticks []time.Duration
		)
		tick := func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			ticks = append(ticks, d)
		}
		done := make(chan error, 1)
		go func() { done <- hal.WaitHold(t.Context(), in, hold, tick) }()
		synctest.Wait() // waiting for the press, in WaitForEdge

		// seen within EdgePoll plus the debounce; then held for 900 ms
		press(p, true)
		time.Sleep(hal.EdgePoll + testDebounce + 900*time.Millisecond)
		press(p, false)
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		first := slices.Clone(ticks)
		ticks = nil
		mu.Unlock()
		if n := len(first); n < 3 || first[n-1] != 0 {
			t.Fatalf("ticks of a press of under a second: %v; want at least 2, then 0 at the release", first)
		}
		if held := first[:len(first)-1]; !slices.IsSorted(held) || held[0] <= 0 || held[len(held)-1] >= time.Second {
			t.Errorf("ticks of a press of under a second: %v; want increasing, under 1s, before the release's 0", first)
		}

		press(p, true)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		// about 250 ms apart: 7 ticks in a 2 s hold (250 ms … 1.75 s)
		if len(ticks) < 5 || len(ticks) > 9 {
			t.Errorf("%d ticks in a %s hold: %v; want about %d", len(ticks), hold, ticks, hold/(250*time.Millisecond)-1)
		}
		for i, d := range ticks {
			if d <= 0 || d >= hold || (i > 0 && d <= ticks[i-1]) {
				t.Fatalf("ticks %v: want increasing, within (0, %s)", ticks, hold)
			}
		}
	})
}
