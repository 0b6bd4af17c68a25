package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The power: and ups: sections: every mistake is one problem naming the
// file, line and key; nothing is changed by a refused file.
func TestPowerErrors(t *testing.T) {
	tests := []struct {
		name, extra string
		want        string
	}{
		{"grace zero", "power:\n  grace: 0s\n", "site.yaml:22: power.grace: 0s is out of range (want 1s to 1h)"},
		{"lead long", "power:\n  lead: 48h\n", "site.yaml:22: power.lead: 48h is out of range"},
		{"budget below step", "power:\n  step_timeout: 10s\n  budget: 5s\n", "power.budget: 5s leaves no time for the steps"},
		{"wake relative", "power:\n  wake_alarm: rtc0\n", `site.yaml:22: power.wake_alarm: "rtc0" is not an absolute path`},
		{"bad source", "ups:\n  source: apc\n", `site.yaml:22: ups.source: "apc" is not a UPS source (want nut, contacts or none)`},
		{"off not shorter", "ups:\n  off_delay: 30s\n  on_delay: 30s\n", "site.yaml:23: ups.on_delay: 30s must be longer than ups.off_delay (30s)"},
		{"delay fraction", "ups:\n  off_delay: 1500ms\n", "site.yaml:22: ups.off_delay: 1.5s is not whole seconds"},
		{"nut without name", "ups:\n  source: nut\n", "site.yaml:21: ups.nut.name: missing; required"},
		{"nut bad address", "ups:\n  nut:\n    address: host:99999\n", "site.yaml:23: ups.nut.address: port"},
		{"nut user without password", "ups:\n  source: nut\n  nut:\n    name: ups\n    user: shisa\n", "site.yaml:25: ups.nut.user: set without ups.nut.password_file"},
		{"contacts without input", "ups:\n  source: contacts\n", "ups.contacts.on_battery: missing; required"},
		{"kill is input", "ups:\n  contacts:\n    on_battery: GPIO17\n    kill: GPIO17\n", "site.yaml:24: ups.contacts.kill: GPIO17 is also an input"},
		{"pulse short", "ups:\n  contacts:\n    kill_pulse: 10ms\n", "site.yaml:23: ups.contacts.kill_pulse: 10ms is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := siteDir(t)
			s, err := Parse(path, []byte(base+tc.extra))
			require.Error(t, err)
			assert.Nil(t, s)
			var ce *Error
			require.True(t, errors.As(err, &ce), "%T", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Len(t, ce.Problems, 1, "one mistake, one problem:\n%s", err)
		})
	}
}

func TestPowerNUTPasswordFile(t *testing.T) {
	path := siteDir(t)
	pw := filepath.Join(filepath.Dir(path), "nut.password")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret pw\n"), 0o644))
	cfg := base + "ups:\n  source: nut\n  nut:\n    name: ups\n    user: shisa\n    password_file: nut.password\n"
	_, err := Parse(path, []byte(cfg))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ups.nut.password_file: ")
	assert.Contains(t, err.Error(), "readable by others (mode 0644): run chmod 600")
	assert.NotContains(t, err.Error(), "s3cret", "the password leaked into the error")

	require.NoError(t, os.Chmod(pw, 0o600))
	s, err := Parse(path, []byte(cfg))
	require.NoError(t, err)
	assert.Equal(t, pw, s.UPS.NUT.PasswordFile)
	assert.Equal(t, "127.0.0.1:3493", s.UPS.NUT.Address)
	assert.Equal(t, time.Second, s.UPS.NUT.Interval.D())

	require.NoError(t, os.WriteFile(pw, []byte("\n"), 0o600))
	_, err = Parse(path, []byte(cfg))
	require.ErrorContains(t, err, "is empty; write the password on its first line")
}

func TestPowerDefaults(t *testing.T) {
	path := siteDir(t)
	s, err := Parse(path, []byte(base))
	require.NoError(t, err)
	assert.Equal(t, Power{
		Grace: Duration(2 * time.Minute), Lead: Duration(5 * time.Minute), StepTimeout: Duration(5 * time.Second),
		Budget: Duration(30 * time.Second), RebootAfter: Duration(2 * time.Minute),
		StateDir: "/var/lib/shisa/power", WakeAlarm: DefaultWakeAlarm,
	}, s.Power)
	assert.Equal(t, "none", s.UPS.Source)
	assert.Equal(t, 20*time.Second, s.UPS.OffDelay.D())
	assert.Equal(t, 30*time.Second, s.UPS.OnDelay.D())
	assert.True(t, *s.UPS.Contacts.ActiveLow)
	assert.False(t, *s.UPS.Contacts.CutsWithMains)

	s, err = Parse(path, []byte(base+"journal:\n  dir: state/journal\npower:\n  wake_alarm: none\n"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(filepath.Dir(path), "state", "power"), s.Power.StateDir)
	assert.Empty(t, s.Power.WakeAlarm)
}
