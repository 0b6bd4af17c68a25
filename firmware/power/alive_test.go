package power

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

// The loop reports itself alive every AliveEvery, also while a sequence
// runs, and keeps the last UPS state for the status.
func TestAliveAndLastUPS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		board := halsim.NewBoard()
		ups, pw := board.NewUPS(), board.NewPower()
		var alive atomic.Int32
		m, err := New(Options{UPS: ups, Power: pw, StateDir: t.TempDir(), Alive: func() { alive.Add(1) }, AliveEvery: time.Second,
			Steps: Steps{Flush: func(ctx context.Context) error { time.Sleep(3 * time.Second); return nil }}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.UPS(); ok {
			t.Fatal("a UPS state before Run")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		synctest.Wait()
		if st, ok := m.UPS(); !ok || !st.Online {
			t.Fatalf("UPS() = %v, %v; want the online state read at start", st, ok)
		}
		time.Sleep(2500 * time.Millisecond)
		if n := alive.Load(); n != 3 {
			t.Fatalf("alive %d times in 2.5s (every 1s, and at start); want 3", n)
		}
		st := hal.Unknown("sim")
		st.OnBattery, st.LowBattery = true, true
		ups.Set(st)
		synctest.Wait()
		before := alive.Load()
		time.Sleep(2 * time.Second) // the flush step is still running
		if m.State() != ShuttingDown || alive.Load() != before+2 {
			t.Fatalf("state %s, alive %d more times; want shutting_down and 2", m.State(), alive.Load()-before)
		}
		cancel()
		<-done
	})
}
