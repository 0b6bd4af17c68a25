package spare

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

func TestSiteShow(t *testing.T) {
	up := tunnel.Status{State: tunnel.Up}
	pair := &ha.Status{MachineStatus: ha.MachineStatus{Role: ha.Standby}}
	failed := &api.Acceptance{OK: false}
	passed := &api.Acceptance{OK: true}
	withFault := func(s Show) Show { s.Fault = hal.On; return s }
	for _, tc := range []struct {
		name     string
		st       api.Status
		checking bool
		want     Show
	}{
		{"up", api.Status{Tunnel: up}, false, ShowRunning},
		{"up, acceptance passed", api.Status{Tunnel: up, Acceptance: passed}, false, ShowRunning},
		{"connecting", api.Status{Tunnel: tunnel.Status{State: tunnel.Connecting}}, false, ShowConnecting},
		{"down", api.Status{Tunnel: tunnel.Status{State: tunnel.Down}}, false, ShowConnecting},
		{"stopped, no pair", api.Status{Tunnel: tunnel.Status{State: tunnel.Stopped}}, false, ShowConnecting},
		{"standby in a pair", api.Status{Tunnel: tunnel.Status{State: tunnel.Stopped}, Pair: pair}, false, ShowStandby},
		{"active in a pair", api.Status{Tunnel: up, Pair: pair}, false, ShowRunning},
		{"checking", api.Status{Tunnel: up}, true, ShowChecking},
		{"checking while connecting", api.Status{Tunnel: tunnel.Status{State: tunnel.Connecting}}, true, ShowChecking},
		{"acceptance failed", api.Status{Tunnel: up, Acceptance: failed}, false, ShowFault},
		{"acceptance failed, connecting", api.Status{Tunnel: tunnel.Status{State: tunnel.Connecting}, Acceptance: failed}, false, withFault(ShowConnecting)},
		{"safe mode", api.Status{Tunnel: up, SafeMode: "crash loop"}, false, ShowFault},
		{"a stuck job", api.Status{Tunnel: up, Stuck: []string{"probe"}}, false, ShowFault},
		{"self-check failed", api.Status{Tunnel: up, SelfCheck: &api.SelfCheck{OK: false}}, false, ShowFault},
		{"self-check passed", api.Status{Tunnel: up, SelfCheck: &api.SelfCheck{OK: true}}, false, ShowRunning},
		{"standby with a fault", api.Status{Tunnel: tunnel.Status{State: tunnel.Stopped}, Pair: pair, Stuck: []string{"ha"}}, false, withFault(ShowStandby)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, SiteShow(tc.st, tc.checking), "want %s", tc.want)
		})
	}
}

func TestPatternsDistinct(t *testing.T) {
	seen := map[Show]string{}
	for _, p := range Patterns {
		if other, ok := seen[p.Show]; ok {
			t.Errorf("%q and %q show the same pattern %s", p.State, other, p.Show)
		}
		seen[p.Show] = p.State
		assert.NotEqual(t, Show{}, p.Show, "%s: all dark", p.State)
	}
	assert.Len(t, Patterns, 10)
	assert.Equal(t, "power slow, tunnel off, fault fast", ShowRefused.String())
}

type brokenLED struct{}

func (brokenLED) Set(hal.Pattern) error { return errors.New("gone") }

func TestShowOn(t *testing.T) {
	p, tu, f := &halsim.LED{}, &halsim.LED{}, &halsim.LED{}
	require.NoError(t, ShowButtonHeld.On(hal.LEDs{Power: p, Tunnel: tu, Fault: f}))
	assert.Equal(t, ShowButtonHeld, Show{p.Pattern(), tu.Pattern(), f.Pattern()})
	// Zero LEDs show nothing and do not fail; a broken one fails, the
	// others are still set.
	require.NoError(t, ShowFault.On(hal.LEDs{}))
	err := ShowFault.On(hal.LEDs{Power: p, Tunnel: brokenLED{}, Fault: f})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tunnel")
	assert.Equal(t, hal.On, p.Pattern())
	assert.Equal(t, hal.On, f.Pattern())
}
