package hal

import (
	"context"
	"time"
)

// The technician button's timing.
const (
	// holdTick is how often WaitHold reports progress while the button is
	// held.
	holdTick = 250 * time.Millisecond
	// holdPoll is how often WaitHold reads the button while it is held.
	holdPoll = 50 * time.Millisecond
)

// WaitHold returns nil once the button in (Active() = pressed) has been
// held continuously for hold. A release before then, seen within about
// 50 ms, starts the wait again; the next press needs a full hold. A button
// already pressed when WaitHold is called counts as held from the call.
//
// While the button is held, tick (if non-nil) is called about every
// 250 ms with how long it has been held, so that the caller can show
// progress on an LED, and with 0 when the button is released before the
// hold is complete, so that it can take the progress back. tick runs on
// WaitHold's goroutine and should return quickly.
//
// WaitHold waits for presses with in.WaitForEdge, so it must be the only
// one waiting on in. It returns ctx.Err() when ctx ends.
func WaitHold(ctx context.Context, in Input, hold time.Duration, tick func(held time.Duration)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !in.Active() {
			active, err := in.WaitForEdge(ctx)
			if err != nil {
				return err
			}
			if !active {
				continue // a release not yet reported: wait for the press
			}
		}
		done, err := held(ctx, in, hold, tick)
		if done || err != nil {
			return err
		}
	}
}

// held follows one press: true once it has lasted hold, false when the
// button is released before.
func held(ctx context.Context, in Input, hold time.Duration, tick func(time.Duration)) (bool, error) {
	start := time.Now()
	poll := time.NewTicker(holdPoll)
	defer poll.Stop()
	next := holdTick
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-poll.C:
		}
		d := time.Since(start)
		if !in.Active() {
			if tick != nil {
				tick(0) // released early
			}
			return false, nil
		}
		if d >= hold {
			return true, nil
		}
		if tick != nil && d >= next {
			tick(d)
			for next <= d {
				next += holdTick
			}
		}
	}
}
