package demo

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/daemon"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/sim"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/hal/halsim"
)

// TestPowerDay runs the power part of the demo: a planned outage set by the
// datacenter and an unplanned one, on the simulated board, with the whole
// daemon. Times are printed, not asserted (make bench measures them).
func TestPowerDay(t *testing.T) {
	if testing.Short() {
		t.Skip("the power day takes about 15 s; skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunPower(ctx, PowerOptions{Dir: t.TempDir(), Out: tWriter{t}})
	require.NoError(t, err)
	assert.Equal(t, "planned", res.Planned.Reason)
	assert.True(t, res.Planned.SafeToCut, "planned: %+v", res.Planned)
	assert.Equal(t, "low_battery", res.Unplanned.Reason)
	assert.True(t, res.Unplanned.SafeToCut, "unplanned: %+v", res.Unplanned)
	assert.Equal(t, "ups", res.Unplanned.Return)
	assert.GreaterOrEqual(t, res.PlannedLate, time.Duration(0), "no shutdown before its planned time")
	assert.True(t, strings.HasPrefix(res.PlannedBack, "back after "), res.PlannedBack)
	assert.Contains(t, res.PlannedBack, "planned")
	assert.Contains(t, res.UnplannedBack, "low_battery")
	assert.True(t, res.WindowClosed)
	require.Len(t, res.PowerOffs, 2)
	assert.False(t, res.PowerOffs[0].WakeAt.IsZero(), "the planned power-off wakes the box at the window's end")
	for _, k := range []string{"outage.planned", "power.shutdown", "power.safe_to_cut", "power.back", "outage.closed"} {
		assert.Contains(t, res.Events, k)
	}
}

// testSite is a site on the simulated datacenter, with the power section of
// the demo, for the daemon tests below.
func testSite(t *testing.T, extra ...string) *config.Site {
	t.Helper()
	siteKey, err := wgtypes.GeneratePrivateKey()
	require.NoError(t, err)
	dc, err := sim.New(sim.Options{
		Endpoints:     []sim.EndpointSpec{{Name: "dc1", Probe: netip.MustParseAddr("10.99.0.1")}},
		SitePublicKey: siteKey.PublicKey(), SiteAllowed: []netip.Prefix{tunnelAddr},
	})
	require.NoError(t, err)
	t.Cleanup(func() { dc.Close() })
	dir := t.TempDir()
	path, err := writeSite(dir, siteKey, dc.Endpoints(), 10*time.Second, strings.Repeat("t", 40))
	require.NoError(t, err)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("power:\n  step_timeout: 1s\n  budget: 5s\n  wake_alarm: none\n" + strings.Join(extra, ""))
	require.NoError(t, errors.Join(err, f.Close()))
	site, err := config.Load(path)
	require.NoError(t, err)
	return site
}

func kinds(t *testing.T, d *daemon.Daemon) []string {
	recs, _, err := d.Journal().Since(0, 1000)
	require.NoError(t, err)
	var k []string
	for _, r := range recs {
		k = append(k, r.Kind+": "+r.Msg)
	}
	return k
}

// Without systemd over D-Bus (this machine, a container) the power job
// says so once and the daemon runs on; so it does when the UPS's contacts
// cannot be opened (no GPIO chip).
func TestNoPowerController(t *testing.T) {
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err == nil {
		t.Skip("this machine has a system D-Bus: the test would reach the real systemd")
	}
	if _, err := os.Stat("/dev/gpiochip0"); err == nil {
		t.Skip("this machine has a GPIO chip: the test would drive its pins")
	}
	d, err := daemon.New(daemon.Options{Site: testSite(t, "ups:\n  source: contacts\n  contacts:\n    on_battery: GPIO17\n"), Version: "test"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	require.NoError(t, waitFor(ctx, 10*time.Second, func() bool { return d.Tunnel().State == tunnel.Up }))
	p := d.Power()
	assert.True(t, strings.HasPrefix(p.Controller, "unavailable: hal: cannot reach systemd over the system D-Bus"), p.Controller)
	assert.Equal(t, api.PowerOnline, p.State)
	all := strings.Join(kinds(t, d), "\n")
	assert.Contains(t, all, "power.unavailable: the box cannot power itself off")
	assert.Contains(t, all, "power.unavailable: the UPS (contacts) cannot be watched; the box will not shut down before its battery runs dry: board:")
	assert.Nil(t, p.UPS)
	cancel()
	require.NoError(t, <-done)
}

// A refused power-off (and the refused reboot after it) leaves the box up
// with its tunnel down: the daemon then ends with an error that says so,
// so that systemd starts it again with the tunnel.
func TestPowerOffRefused(t *testing.T) {
	board := halsim.NewBoard()
	pw := board.NewPower()
	pw.Err = errors.New("simulated: the power controller refuses")
	site := testSite(t)
	d, err := daemon.New(daemon.Options{Site: site, Version: "test", Power: pw})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	require.NoError(t, waitFor(ctx, 10*time.Second, func() bool { return d.Tunnel().State == tunnel.Up }))
	a, err := d.Restart(time.Time{}, "test")
	require.NoError(t, err)
	assert.True(t, a.Now)
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "power-off refused after the safe-shutdown sequence")
	case <-ctx.Done():
		t.Fatal("the daemon did not end after the refused power-off")
	}
	j, err := journal.Open(site.Journal.Dir, journal.Options{}) // the daemon closed its own
	require.NoError(t, err)
	defer j.Close()
	recs, _, err := j.Since(0, 1000)
	require.NoError(t, err)
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.Kind + ": " + r.Msg + "\n")
	}
	all := b.String()
	assert.Contains(t, all, "power.poweroff_failed: power-off and reboot refused")
	assert.Contains(t, all, "tunnel.stopped")
	pw.Lock()
	defer pw.Unlock()
	require.Len(t, pw.Shutdowns, 1, "a restart asks for a reboot, and there is nothing to fall back to")
	assert.True(t, pw.Shutdowns[0].Reboot)
}
