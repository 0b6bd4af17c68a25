package power

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/hal"
)

// TestUPSTransitions covers every transition the UPS drives, and the race
// of mains coming back once the shutdown began. Grace is 1m, RebootAfter
// 2m, OffDelay 20s and OnDelay 30s.
func TestUPSTransitions(t *testing.T) {
	contact := func(r *rig) { r.ups.CutsWithMains = false }
	refuse := func(r *rig) { r.ups.ArmErr = hal.ErrArmUnsupported }
	noRTC := func(r *rig) { r.opts.Power = noWake{r.pw} }
	// Inside the sequence: the UPS changes, the machine is busy.
	mainsBack := func(r *rig) { r.during = func() { r.ups.Set(online()) } }
	all := func(fs ...func(*rig)) func(*rig) {
		return func(r *rig) {
			for _, f := range fs {
				f(r)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		tweak  func(*rig)
		script func(r *rig)
		state  State
		events string
		armed  string
		power  string // hal.Power's requests
		ret    Return
		safe   bool
	}{{
		name:   "flicker shorter than the grace does nothing",
		script: func(r *rig) { r.set("OB"); after(59 * time.Second); r.set("OL"); after(time.Hour) },
		state:  Online,
		events: "power.state:online>on_battery power.state:on_battery>online",
	}, {
		name:   "long outage: the grace expires",
		script: func(r *rig) { r.set("OB"); after(59 * time.Second); after(time.Second) },
		state:  Halted,
		events: "power.state:online>on_battery power.state:on_battery>shutting_down power.shutdown power.safe_to_cut power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff battery",
		ret:    ReturnUPS, safe: true,
	}, {
		name:   "low battery at once",
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.safe_to_cut power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff low_battery",
		ret:    ReturnUPS, safe: true,
	}, {
		name:   "low battery during the grace",
		script: func(r *rig) { r.set("OB"); after(10 * time.Second); r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>on_battery power.state:on_battery>shutting_down power.shutdown power.safe_to_cut power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff low_battery",
		ret:    ReturnUPS, safe: true,
	}, {
		name:   "FSD from the NUT primary",
		script: func(r *rig) { r.set("OL FSD") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.safe_to_cut power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff fsd",
		ret:    ReturnUPS, safe: true,
	}, {
		name: "stale while on battery counts as low battery",
		script: func(r *rig) {
			r.set("OB")
			r.set("OB", func(st *hal.UPSState) { *st = st.Lost("DATA-STALE") })
		},
		state:  Halted,
		events: "power.state:online>on_battery power.state:on_battery>shutting_down power.shutdown power.safe_to_cut power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff low_battery",
		ret:    ReturnUPS, safe: true,
	}, {
		name: "stale while online does nothing",
		script: func(r *rig) {
			r.set("OL", func(st *hal.UPSState) { *st = st.Lost("connection refused") })
			after(time.Hour)
		},
		state: Online,
	}, {
		name:   "mains back during the grace cancels",
		script: func(r *rig) { r.set("OB"); after(30 * time.Second); r.set("OL"); after(time.Hour) },
		state:  Online,
		events: "power.state:online>on_battery power.state:on_battery>online",
	}, {
		name:   "mains back during the shutdown: finishes, the armed UPS power-cycles",
		tweak:  mainsBack,
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.safe_to_cut power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff low_battery",
		ret:    ReturnUPS, safe: true,
	}, {
		name:   "mains back during the shutdown, contact UPS: RTC wake instead of halting",
		tweak:  all(contact, mainsBack),
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.step_failed power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff wake=+2m0s low_battery",
		ret:    ReturnWake,
	}, {
		name:   "mains back during the shutdown, contact UPS, no RTC: reboot",
		tweak:  all(contact, mainsBack, noRTC),
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.step_failed power.step_failed power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "reboot low_battery",
		ret:    ReturnReboot,
	}, {
		name:   "contact UPS still on battery: the kill pulse is enough",
		tweak:  contact,
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.safe_to_cut power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff low_battery",
		ret:    ReturnUPS, safe: true,
	}, {
		name:   "arm refused (ErrArmUnsupported): RTC wake",
		tweak:  refuse,
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.step_failed power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff wake=+2m0s low_battery",
		ret:    ReturnWake,
	}, {
		name:   "arm refused, no RTC: reboot",
		tweak:  all(refuse, noRTC),
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.step_failed power.step_failed power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "reboot low_battery",
		ret:    ReturnReboot,
	}, {
		name:   "arm fails otherwise: RTC wake",
		tweak:  func(r *rig) { r.ups.ArmErr = errors.New("INSTCMD shutdown.return: ERR ACCESS-DENIED") },
		script: func(r *rig) { r.set("OB LB") },
		state:  Halted,
		events: "power.state:online>shutting_down power.shutdown power.step_failed power.state:shutting_down>halted",
		armed:  "off=20s on=30s",
		power:  "poweroff wake=+2m0s low_battery",
		ret:    ReturnWake,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, "", tc.tweak).start()
				defer r.stop()
				tc.script(r)
				if got := r.m.State(); got != tc.state {
					t.Errorf("state %s, want %s", got, tc.state)
				}
				if got := r.ev.kinds(); got != tc.events {
					t.Errorf("events:\n got %s\nwant %s", got, tc.events)
				}
				if got := r.armed(); got != tc.armed {
					t.Errorf("armed %q, want %q", got, tc.armed)
				}
				if got := r.shutdowns(); !strings.HasSuffix(got, tc.power) || (tc.power == "") != (got == "") {
					t.Errorf("power requests %q, want … %q", got, tc.power)
				}
				if tc.state != Halted {
					if _, ok := r.m.LastReport(); ok {
						t.Error("a sequence ran")
					}
					return
				}
				rep := r.report()
				if rep.Return != tc.ret || rep.SafeToCut != tc.safe || !rep.PoweredOff {
					t.Errorf("report: return %s safe %v powered off %v, want %s %v true (err %v)", rep.Return, rep.SafeToCut, rep.PoweredOff, tc.ret, tc.safe, rep.Err)
				}
				// Fake time does not move while the steps run.
				if rep.Total != 0 {
					t.Errorf("total %s, want 0 under synctest", rep.Total)
				}
				r.pw.Lock()
				held := r.pw.Held
				r.pw.Unlock()
				if held != 0 {
					t.Errorf("%d inhibitor locks still held", held)
				}
			})
		})
	}
}

// TestSequenceOrder checks the whole log of one unplanned shutdown: the
// inhibitor is held from step 1 until just before the power-off, and every
// step runs in order.
func TestSequenceOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "", nil).start()
		defer r.stop()
		r.set("OB LB")
		want := `ups sim: OB LB
inhibit "shisa: safe shutdown (low_battery): flushing state and arming the return"
ups arm-return off=20s on=30s
release "shisa: safe shutdown (low_battery): flushing state and arming the return"
power poweroff reason="low_battery"
`
		if got := r.board.LogText(); got != want {
			t.Errorf("board log:\n%s\nwant:\n%s", got, want)
		}
		if got, want := strings.Join(r.steps, " "), "journal notify tunnel_down flush"; got != want {
			t.Errorf("steps %q, want %q", got, want)
		}
		ev, _ := r.ev.find(report.KindPowerShutdown)
		if ev.fields["reason"] != report.ShutdownLowBattery {
			t.Errorf("power.shutdown fields %v", ev.fields)
		}
		rec, ok, err := ReadRecord(r.dir + "/" + RecordFile)
		if err != nil || !ok || rec.Reason != report.ShutdownLowBattery || !rec.At.Equal(r.t0) {
			t.Errorf("record %+v %v %v", rec, ok, err)
		}
	})
}

// TestRestartNow: Machine.Restart runs the sequence with an immediate
// return and arms nothing.
func TestRestartNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "", nil).start()
		defer r.stop()
		if err := r.m.Restart("firmware update"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, want := r.shutdowns(), "reboot restart"; got != want {
			t.Errorf("power %q, want %q", got, want)
		}
		if r.armed() != "" {
			t.Errorf("armed %q for a restart", r.armed())
		}
		if rep := r.report(); !rep.SafeToCut || rep.Return != ReturnReboot {
			t.Errorf("report %+v", rep)
		}
		if err := r.m.Restart("again"); !errors.Is(err, ErrBusy) {
			t.Errorf("second restart: %v, want ErrBusy", err)
		}
	})
}

// TestPowerOffRefused: a refused power-off is tried again as a reboot; if
// that is refused too the box stays up, halted, and says so.
func TestPowerOffRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "", func(r *rig) { r.pw.Err = errors.New("org.freedesktop.systemd1: access denied") }).start()
		defer r.stop()
		r.set("OB LB")
		if got, want := r.shutdowns(), "poweroff low_battery; reboot low_battery"; got != want {
			t.Errorf("power %q, want %q", got, want)
		}
		rep := r.report()
		if rep.PoweredOff || r.m.State() != Halted {
			t.Errorf("powered off %v, state %s", rep.PoweredOff, r.m.State())
		}
		if n := strings.Count(r.ev.kinds(), KindPowerOffFailed); n != 2 {
			t.Errorf("%d power-off failures reported, want 2: %s", n, r.ev.kinds())
		}
	})
}

// TestBootBack: after a shutdown, the next Run reports power.back and
// removes the record; with no record it reports nothing.
func TestBootBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		r := newRig(t, dir, nil).start()
		r.set("OB")
		after(time.Minute)
		r.stop()

		time.Sleep(3 * time.Hour) // the box is off
		r2 := newRig(t, dir, nil).start()
		ev, ok := r2.ev.find(report.KindPowerBack)
		if !ok {
			t.Fatalf("no power.back: %s", r2.ev.kinds())
		}
		if ev.fields["gone_s"] != float64(3*3600) || ev.fields["reason"] != report.ShutdownBattery {
			t.Errorf("power.back fields %v", ev.fields)
		}
		if _, ok := ev.fields["window"]; ok {
			t.Errorf("an unplanned outage has a window: %v", ev.fields)
		}
		if _, ok, _ := ReadRecord(dir + "/" + RecordFile); ok {
			t.Error("the record is still there after power.back")
		}
		r2.stop()
		r3 := newRig(t, dir, nil).start()
		defer r3.stop()
		if _, ok := r3.ev.find(report.KindPowerBack); ok {
			t.Error("power.back reported twice")
		}
	})
}
