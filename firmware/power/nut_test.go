package power

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/hal/halsim"
	"github.com/shisa-gw/shisa/hal/nut"
	"github.com/shisa-gw/shisa/hal/nut/nuttest"
)

// TestNUTEndToEnd drives the machine from a fake upsd over TCP: on battery,
// then low battery; the return is armed through NUT (delays set, then
// shutdown.return), or, when the UPS lacks that command, the refusal is
// reported and the box comes back by its RTC wake. Real time, short poll.
func TestNUTEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cmds   []string
		ran    string
		ret    Return
		failed bool // power.step_failed reported for the arm
	}{
		{"armed", []string{"shutdown.return"}, "SET ups.delay.shutdown=20; SET ups.delay.start=30; INSTCMD shutdown.return", ReturnUPS, false},
		{"refused", []string{"load.off"}, "", ReturnWake, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := nuttest.NewServer()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			srv.Lock()
			srv.Cmds = tc.cmds
			srv.Unlock()
			src, err := nut.NewSource(srv.Addr(), nut.Options{UPS: "ups", User: "shisa", Password: "secret", Interval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			board := halsim.NewBoard()
			pw := board.NewPower()
			ev := &events{}
			m, err := New(Options{UPS: src, Power: pw, Inhibitor: pw, StateDir: t.TempDir(), Events: ev, Grace: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			defer func() { cancel(); <-done }()

			waitFor(t, "on battery", func() bool { return m.State() == OnBattery }, func() { srv.Set("ups.status", "OB DISCHRG") })
			waitFor(t, "halted", func() bool { return m.State() == Halted }, func() { srv.Set("ups.status", "OB LB DISCHRG") })
			if got := strings.Join(srv.Commands(), "; "); got != tc.ran {
				t.Errorf("upsd ran %q, want %q", got, tc.ran)
			}
			rep, _ := m.LastReport()
			if rep.Return != tc.ret || rep.Trigger.Reason != "low_battery" {
				t.Errorf("return %s reason %s, want %s low_battery", rep.Return, rep.Trigger.Reason, tc.ret)
			}
			e, failed := ev.find(KindPowerStepFailed)
			if failed != tc.failed {
				t.Errorf("step failure reported %v, want %v: %v", failed, tc.failed, e)
			}
			if failed && !strings.Contains(e.msg, "shutdown.return") {
				t.Errorf("the refusal does not name the missing command: %s", e.msg)
			}
			t.Logf("safe to cut after %s, total %s; %s", rep.SafeToCutAfter, rep.Total, e.msg)
		})
	}
}

// waitFor does act, then waits (real time, bounded) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool, act func()) {
	t.Helper()
	act()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("not %s after 10s", what)
		}
	}
}
