package spare

import (
	"context"
	"fmt"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/hal"
)

// Show is what the three LEDs (power, tunnel, fault) show.
type Show struct{ Power, Tunnel, Fault hal.Pattern }

// On sets the LEDs; errors are for the log.
func (s Show) On(l hal.LEDs) error { return l.Show(s.Power, s.Tunnel, s.Fault) }

// String is the pattern as README writes it: "power slow, tunnel off, fault off".
func (s Show) String() string {
	return fmt.Sprintf("power %s, tunnel %s, fault %s", s.Power, s.Tunnel, s.Fault)
}

// The LED patterns, one per state (README "Spare units" lists them; a
// test keeps the two in step).
var (
	ShowSpareReady    = Show{hal.BlinkSlow, hal.Off, hal.Off}
	ShowSpareNotReady = Show{hal.BlinkSlow, hal.Off, hal.BlinkSlow}
	ShowButtonHeld    = Show{hal.On, hal.BlinkFast, hal.Off}
	ShowActivating    = Show{hal.On, hal.BlinkFast, hal.BlinkFast}
	ShowRefused       = Show{hal.BlinkSlow, hal.Off, hal.BlinkFast}
	ShowConnecting    = Show{hal.On, hal.BlinkSlow, hal.Off}
	ShowChecking      = Show{hal.BlinkFast, hal.On, hal.Off}
	ShowRunning       = Show{hal.On, hal.On, hal.Off}
	ShowStandby       = Show{hal.On, hal.Off, hal.Off}
	ShowFault         = Show{hal.On, hal.On, hal.On}
)

// Patterns lists every state's pattern in the order README gives them.
var Patterns = []struct {
	State string
	Show  Show
}{
	{"spare, ready for storage", ShowSpareReady},
	{"spare, not prepared or bench self-test failed", ShowSpareNotReady},
	{"button held (release before 5 s to cancel)", ShowButtonHeld},
	{"activating: checking and installing the pack", ShowActivating},
	{"pack refused or none found (see `shisactl status`)", ShowRefused},
	{"site started, tunnel not up yet", ShowConnecting},
	{"acceptance check running", ShowChecking},
	{"running, tunnel up (acceptance passed)", ShowRunning},
	{"running as the standby of a pair", ShowStandby},
	{"running, tunnel up, with a fault: acceptance failed, safe mode, a stuck job or the self-check failed (fault on whatever the tunnel does)", ShowFault},
}

// SiteShow is the pattern of a unit serving a site, from its status.
// checking is true while an acceptance check runs.
func SiteShow(st api.Status, checking bool) Show {
	fault := st.SafeMode != "" || len(st.Stuck) > 0 ||
		(st.Acceptance != nil && !st.Acceptance.OK) || (st.SelfCheck != nil && !st.SelfCheck.OK)
	s := ShowConnecting
	switch {
	case checking:
		s = ShowChecking
	case st.Tunnel.State == tunnel.Up:
		s = ShowRunning
	case st.Tunnel.State == tunnel.Stopped && st.Pair != nil:
		s = ShowStandby
	}
	if fault {
		s.Fault = hal.On
	}
	return s
}

// showLEDs shows the spare's state.
func (u *Unit) showLEDs() {
	sp := u.spareStatus()
	s := ShowSpareNotReady
	switch {
	case sp.State == api.SpareActivating:
		s = ShowActivating
	case sp.State == api.SpareRefused:
		s = ShowRefused
	case sp.Ready:
		s = ShowSpareReady
	}
	if err := s.On(u.o.LEDs); err != nil {
		u.log.Warn("setting the LEDs", "err", err)
	}
}

// watchButton activates a pack when the button is held for HoldTime
// (holdTime).
func (u *Unit) watchButton(ctx context.Context) {
	showing := false // ShowButtonHeld is on
	for {
		err := hal.WaitHold(ctx, u.o.Button, holdTime, func(held time.Duration) {
			switch {
			case held > 0 && !showing:
				showing = true
				if err := ShowButtonHeld.On(u.o.LEDs); err != nil {
					u.log.Warn("setting the LEDs", "err", err)
				}
			case held == 0 && showing: // released early: back to the state
				showing = false
				u.showLEDs()
			}
		})
		showing = false
		if err != nil {
			return
		}
		if u.buttonActivate(ctx) {
			return
		}
		// Wait for the release, so a button still held does not start
		// again at once.
		for u.o.Button.Active() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// buttonActivate tries the packs found, newest first; true once one is
// installed.
func (u *Unit) buttonActivate(ctx context.Context) bool {
	packs := u.findPacks()
	if len(packs) == 0 {
		u.refuse(fmt.Sprintf("button held but no site pack (*%s) on a USB stick or in %s", PackExt, u.o.spareDir()))
		return false
	}
	for _, p := range packs {
		data, err := sitepack.ReadFile(p)
		if err != nil {
			// Activate refuses (state, journal, LEDs) the packs it
			// reads; one that cannot be read is refused here, or a
			// technician would see the spare at rest, as if the button
			// had not been held long enough.
			u.refuse(fmt.Sprintf("button held but a site pack cannot be read: %v", err))
			continue
		}
		u.log.Info("button: activating", "pack", p)
		if _, err = u.Activate(ctx, api.ActivateRequest{Pack: data}); err == nil {
			return true
		}
		u.log.Warn("button: pack not activated", "pack", p, "err", err)
	}
	return false
}

// refuse records a refusal the button met: state, journal, LEDs.
func (u *Unit) refuse(msg string) {
	u.mu.Lock()
	u.state, u.lastError = api.SpareRefused, msg
	u.mu.Unlock()
	u.event(report.KindSpareRefused, msg, nil)
	u.showLEDs()
}
