package daemon

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/firmware/spare"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/hal"
)

// ErrBecameSpare is Run's error after `spare prepare`: the site is wiped
// and shisad goes on as a spare (package spare).
var ErrBecameSpare = errors.New("the site was removed: this unit is now a spare")

// activationWait bounds how long a unit just activated waits for its
// tunnel before it runs the acceptance check anyway (which then says what
// is wrong).
const activationWait = 90 * time.Second

// siteDir is where the site's pack is installed.
func (d *Daemon) siteDir() string {
	if d.opts.SiteDir != "" {
		return d.opts.SiteDir
	}
	return filepath.Dir(d.site.Path)
}

// packInfo reads the installed pack's record; nil for a site configured
// by hand.
func (d *Daemon) packInfo() *api.PackInfo {
	rec, err := sitepack.Installed(d.siteDir())
	if err != nil {
		return nil
	}
	pi := &api.PackInfo{Serial: rec.Serial, From: rec.Unit, Created: rec.Created, InstalledAt: rec.InstalledAt}
	vouched := rec.Authority // the datacenter's key, also for an exported pack
	if vouched == "" {
		vouched = rec.Signer
	}
	if k, err := base64.StdEncoding.DecodeString(vouched); err == nil {
		pi.Signer = sitepack.Fingerprint(k)
	}
	if rec.Unit != sitepack.DatacenterUnit && rec.Unit != d.opts.Box {
		pi.Replaces = rec.Unit
	}
	return pi
}

// Prepare implements api.Preparer: wipe the site, run the bench
// self-test, and stop, so that shisad goes on as a spare.
func (d *Daemon) Prepare(ctx context.Context, req api.PrepareRequest) (api.Spare, error) {
	if req.Site != d.site.Site {
		return api.Spare{}, &api.FieldError{Field: "site", Reason: fmt.Sprintf("%q is not this unit's site (%s): give the site id to confirm which site's secrets are wiped", req.Site, d.site.Site)}
	}
	if !d.preparing.TryLock() {
		return api.Spare{}, fmt.Errorf("%w: a spare prepare is already in progress", api.ErrRefused)
	}
	defer d.preparing.Unlock()
	d.mu.Lock()
	stop := d.stop
	// The start must not become "good" now: that would keep this site's
	// config as the last good one just as it is wiped.
	wasHealthy := d.healthy
	d.healthy = true
	d.mu.Unlock()
	if stop == nil {
		return api.Spare{}, fmt.Errorf("%w: the daemon is not running", api.ErrRefused)
	}
	rec, sp, err := spare.Prepare(spare.PrepareOptions{
		SiteDir: d.siteDir(), StateDir: d.opts.StateDir, TrustedDir: d.opts.TrustedDir,
		Journal: d.journal, Firmware: d.inv.Firmware, LEDs: d.opts.LEDs,
		ThermalDir: d.scIn.ThermalDir, MinFreeBytes: d.site.SelfCheck.MinFreeBytes,
		MaxTemperature: d.site.SelfCheck.MaxTemperature,
	})
	if err != nil {
		if rec != nil {
			// The site is gone even though the rest failed: stop serving it.
			stop(ErrBecameSpare)
		} else {
			d.mu.Lock()
			d.healthy = wasHealthy
			d.mu.Unlock()
		}
		return api.Spare{}, err
	}
	if g := d.opts.Guard; g != nil {
		if err := g.Forget(); err != nil {
			d.log.Error("wiping the last good config", "err", err)
		}
	}
	failed := selfcheck.FailedNames(sp.SelfTest)
	msg := fmt.Sprintf("site %s (serial %d) wiped; bench self-test passed: ready for storage", rec.Site, rec.Serial)
	if !sp.Ready {
		msg = fmt.Sprintf("site %s (serial %d) wiped; bench self-test FAILED: %v — not fit for the shelf", rec.Site, rec.Serial, failed)
	}
	d.event(report.KindSparePrepared, msg, map[string]any{
		"site": rec.Site, "unit": d.site.Unit, "serial": rec.Serial, "box": d.opts.Box,
		"ok": sp.Ready, "failed": failed, "items": sp.SelfTest, "recipient": sp.Recipient,
	})
	stop(ErrBecameSpare)
	return *sp, nil
}

// runActivated runs the acceptance check once after an activation: when
// the tunnel is up (or this unit is a healthy standby), or after
// activationWait at the latest.
func (d *Daemon) runActivated(ctx context.Context) error {
	if !d.opts.Activated {
		return nil
	}
	start := time.Now()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if settled(d.sup.Status()) || (d.pair != nil && d.pair.standbyReady(time.Now(), time.Second)) ||
			time.Since(start) > activationWait {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	if _, err := d.Acceptance(ctx); err != nil && ctx.Err() == nil {
		d.log.Error("the acceptance check after activation failed to run", "err", err)
	}
	return nil
}

// settled: the tunnel is up and every endpoint's health is known, each
// alive one with a handshake seen (only the one in use with shared keys):
// the acceptance check then judges the endpoints, not the start.
func settled(st tunnel.Status) bool {
	if st.State != tunnel.Up {
		return false
	}
	for _, e := range st.Endpoints {
		if e.Health == tunnel.Unknown {
			return false
		}
		if e.Health == tunnel.Alive && e.LastHandshake.IsZero() && (st.Layout != "shared" || e.Active) {
			return false
		}
	}
	return true
}

// runLEDs shows the unit's state on the LEDs (see spare.SiteShow).
func (d *Daemon) runLEDs(ctx context.Context) error {
	if d.opts.LEDs == (hal.LEDs{}) {
		return nil
	}
	defer func() { _ = spare.Show{}.On(d.opts.LEDs) }()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := spare.Show{Power: -1}
	for {
		d.mu.Lock()
		st := api.Status{Acceptance: d.lastAcc, SafeMode: d.opts.SafeMode}
		checking := d.checking
		d.mu.Unlock()
		st.Tunnel, st.Stuck, st.SelfCheck = d.sup.Status(), d.wd.Stale(), d.sc.Last()
		if d.pair != nil {
			st.Pair = d.pair.status()
		}
		if s := spare.SiteShow(st, checking); s != last {
			if err := s.On(d.opts.LEDs); err != nil {
				d.log.Warn("setting the LEDs", "err", err)
			}
			last = s
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
