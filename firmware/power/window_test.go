package power

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/firmware/report"
)

// TestPlannedWindow: the box shuts down Lead (5m) before the start, arms
// its return for the end, and after it comes back reports power.back and
// closes the window.
func TestPlannedWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		r := newRig(t, dir, nil).start()
		start, end := r.t0.Add(time.Hour), r.t0.Add(3*time.Hour)
		w, err := r.sched.Add(Window{Start: start, End: end, Reason: "electrical inspection"})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		after(54*time.Minute + 59*time.Second)
		if s := r.m.State(); s != Online {
			t.Fatalf("state %s a second before start−lead", s)
		}
		after(time.Second)
		if s := r.m.State(); s != Halted {
			t.Fatalf("state %s at start−lead", s)
		}
		if got, want := r.armed(), "off=20s on=2h5m0s"; got != want {
			t.Errorf("armed %q, want %q (to the end)", got, want)
		}
		if got, want := r.shutdowns(), "poweroff wake=+3h0m0s planned"; got != want {
			t.Errorf("power %q, want %q", got, want)
		}
		if ev, _ := r.ev.find(report.KindPowerShutdown); ev.fields["reason"] != report.ShutdownPlanned || ev.fields["window"] != w.ID {
			t.Errorf("power.shutdown %v", ev.fields)
		}
		r.stop()

		// The UPS cuts the load, mains comes back at the end, the UPS
		// restores it after its on-delay.
		time.Sleep(2*time.Hour + 10*time.Minute)
		r2 := newRig(t, dir, nil).start()
		defer r2.stop()
		if got, want := r2.ev.kinds(), "power.back outage.closed"; got != want {
			t.Errorf("events after boot %q, want %q", got, want)
		}
		back, _ := r2.ev.find(report.KindPowerBack)
		if back.fields["gone_s"] != (2*time.Hour+10*time.Minute).Seconds() || back.fields["reason"] != "planned" || back.fields["window"] != w.ID {
			t.Errorf("power.back %v", back.fields)
		}
		closed, _ := r2.ev.find(KindOutageClosed)
		if closed.fields["id"] != w.ID || closed.fields["shutdown"] != true {
			t.Errorf("outage.closed %v", closed.fields)
		}
		if ws := r2.sched.List(); len(ws) != 0 {
			t.Errorf("schedule after the window: %v", ws)
		}
	})
}

// TestWindowCancelled: a window cancelled before its start does nothing.
func TestWindowCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "", nil).start()
		defer r.stop()
		w, err := r.sched.Add(Window{Start: r.t0.Add(time.Hour), End: r.t0.Add(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		after(30 * time.Minute)
		if _, err := r.sched.Cancel(w.ID); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		after(3 * time.Hour)
		if s := r.m.State(); s != Online || r.shutdowns() != "" {
			t.Errorf("state %s, power %q", s, r.shutdowns())
		}
		if got, want := r.ev.kinds(), "outage.planned outage.cancelled"; got != want {
			t.Errorf("events %q, want %q", got, want)
		}
	})
}

// TestWindowReturnWithoutUPS: with a contact UPS on mains and no RTC the
// box reboots at once; back inside the window it does not shut down for it
// again (it rides the real cut on the UPS) and closes it at the end.
func TestWindowReturnWithoutUPS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		tweak := func(r *rig) {
			r.ups.CutsWithMains = false
			r.opts.Power = noWake{r.pw}
		}
		r := newRig(t, dir, tweak).start()
		w, err := r.sched.Add(Window{Start: r.t0.Add(10 * time.Minute), End: r.t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		after(5 * time.Minute)
		if got, want := r.shutdowns(), "reboot planned"; got != want {
			t.Errorf("power %q, want %q", got, want)
		}
		r.stop()

		time.Sleep(time.Minute) // rebooting
		r2 := newRig(t, dir, tweak).start()
		defer r2.stop()
		after(10 * time.Minute)
		if s := r2.m.State(); s != Online || r2.shutdowns() != "" {
			t.Errorf("inside the window: state %s, power %q", s, r2.shutdowns())
		}
		after(time.Hour)
		if got, want := r2.ev.kinds(), "power.back outage.closed"; got != want {
			t.Errorf("events %q, want %q", got, want)
		}
		if _, ok := r2.sched.Get(w.ID); ok {
			t.Error("window not closed")
		}
	})
}

// TestScheduledRestart (seed row 38): the same sequence at the start, with
// reason restart and an immediate return; closed after the boot.
func TestScheduledRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		r := newRig(t, dir, nil).start()
		w, err := r.sched.Add(Window{Start: r.t0.Add(30 * time.Minute), Restart: true, Reason: "kernel update"})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		after(29 * time.Minute)
		if r.shutdowns() != "" {
			t.Fatal("restarted before its time (a restart has no lead)")
		}
		after(time.Minute)
		if got, want := r.shutdowns(), "reboot restart"; got != want {
			t.Errorf("power %q, want %q", got, want)
		}
		if r.armed() != "" {
			t.Errorf("armed %q for a restart", r.armed())
		}
		r.stop()
		time.Sleep(40 * time.Second)
		r2 := newRig(t, dir, nil).start()
		defer r2.stop()
		back, _ := r2.ev.find(report.KindPowerBack)
		if back.fields["gone_s"] != 40.0 || back.fields["reason"] != report.ShutdownRestart || back.fields["window"] != w.ID {
			t.Errorf("power.back %v", back.fields)
		}
		if _, ok := r2.sched.Get(w.ID); ok {
			t.Error("restart not closed")
		}
		if !strings.Contains(r2.ev.kinds(), KindOutageClosed) {
			t.Errorf("events %s", r2.ev.kinds())
		}
	})
}
