package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
)

// fakePower answers like shisad would; it records the requests.
type fakePower struct {
	adds     []api.OutageRequest
	restarts []api.RestartRequest
	refuse   error
}

var jst = time.FixedZone("", 9*3600) // as JSON decodes +09:00

func (f *fakePower) Outages(context.Context) (*api.OutageList, error) {
	s := time.Date(2026, 12, 5, 8, 0, 0, 0, jst)
	return &api.OutageList{TimeZone: "Asia/Tokyo", Outages: []api.Outage{
		{ID: "o-20261205-0800", Start: s, End: s.Add(9 * time.Hour), Reason: "electrical inspection", ShutdownAt: s.Add(-5 * time.Minute)},
		{ID: "r-20261206-0300", Start: s.Add(19 * time.Hour), End: s.Add(19 * time.Hour), Restart: true, ShutdownAt: s.Add(19 * time.Hour)},
	}}, nil
}

func (f *fakePower) AddOutage(_ context.Context, req api.OutageRequest) (*api.Outage, error) {
	f.adds = append(f.adds, req)
	if f.refuse != nil {
		return nil, f.refuse
	}
	s := time.Date(2026, 12, 5, 8, 0, 0, 0, jst)
	return &api.Outage{ID: "o-20261205-0800", Start: s, End: s.Add(9 * time.Hour), Reason: req.Reason, ShutdownAt: s.Add(-5 * time.Minute)}, nil
}

func (f *fakePower) CancelOutage(_ context.Context, id string) (*api.Outage, error) {
	if id != "o-20261205-0800" {
		return nil, errors.New(`shisad: cancelling the outage: no such outage window: "x" (scheduled: o-20261205-0800): not found`)
	}
	s := time.Date(2026, 12, 5, 8, 0, 0, 0, jst)
	return &api.Outage{ID: id, Start: s, End: s.Add(9 * time.Hour)}, nil
}

func (f *fakePower) Power(context.Context) (*api.PowerStatus, error) {
	l, _ := f.Outages(context.Background())
	return &api.PowerStatus{State: "on_battery", Cause: "mains lost", Controller: "systemd", TimeZone: "Asia/Tokyo",
		UPS:     &api.UPSStatus{Source: "nut:ups@127.0.0.1:3493", State: "on_battery", Flags: "OB DISCHRG", ChargePct: 87, RuntimeS: 1234},
		Outages: l.Outages, GraceS: 120, LeadS: 300, BudgetS: 30,
		Back: &api.BackReport{Msg: "back after 8h8m20s (shutdown reason planned, window o-20261128-0900)"}}, nil
}

func (f *fakePower) Restart(_ context.Context, req api.RestartRequest) (*api.RestartAnswer, error) {
	f.restarts = append(f.restarts, req)
	if req.At == "" {
		return &api.RestartAnswer{Now: true}, nil
	}
	s := time.Date(2026, 12, 6, 3, 0, 0, 0, jst)
	return &api.RestartAnswer{Scheduled: &api.Outage{ID: "r-20261206-0300", Start: s, End: s, Restart: true}}, nil
}

func TestOutageCommands(t *testing.T) {
	defer func(n func() time.Time) { now = n }(now)
	now = func() time.Time { return time.Date(2026, 11, 27, 19, 0, 0, 0, jst) }
	f := &fakePower{}
	var out bytes.Buffer
	err := cmdOutage(t.Context(), f, []string{"add", "--start", "2026-12-05 08:00", "--end", "2026-12-05 17:00", "--reason", "electrical inspection"}, &out)
	require.NoError(t, err)
	assert.Equal(t, []api.OutageRequest{{Start: "2026-12-05 08:00", End: "2026-12-05 17:00", Reason: "electrical inspection"}}, f.adds, "times go to shisad as typed: it reads them in the site's zone")
	assert.Equal(t, "planned o-20261205-0800: 2026-12-05 08:00 JST to 2026-12-05 17:00 JST: electrical inspection\nthe box shuts down at 2026-12-05 07:55:00 JST and comes back after the power returns at the end\n", out.String())

	f.refuse = errors.New("shisad refused it: start: outage window is in the past: window \"o-20251205-0800\" (2025-12-05 08:00 JST to 2025-12-05 17:00 JST) starts before now (2026-11-27 19:00 JST); give a start in the future")
	err = cmdOutage(t.Context(), f, []string{"add", "--start", "2025-12-05 08:00", "--end", "2025-12-05 17:00"}, &out)
	assert.EqualError(t, err, "outage add: "+f.refuse.Error())

	now = func() time.Time { return time.Date(2026, 12, 5, 7, 57, 0, 0, jst) }
	out.Reset()
	f.refuse = nil
	require.NoError(t, cmdOutage(t.Context(), f, []string{"add", "--start", "2026-12-05 08:00", "--end", "2026-12-05 17:00"}, &out))
	assert.Contains(t, out.String(), "the box shuts down NOW")

	err = cmdOutage(t.Context(), f, []string{"add", "--start", "2026-12-05 08:00"}, &out)
	var ue usageError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "--start and --end are required")

	out.Reset()
	require.NoError(t, cmdOutage(t.Context(), f, []string{"list"}, &out))
	assert.Contains(t, out.String(), "o-20261205-0800  outage   2026-12-05 08:00 JST  2026-12-05 17:00 JST  2026-12-05 07:55 JST  electrical inspection")
	assert.Contains(t, out.String(), "r-20261206-0300  restart  2026-12-06 03:00 JST  -")

	out.Reset()
	require.NoError(t, cmdOutage(t.Context(), f, []string{"cancel", "o-20261205-0800"}, &out))
	assert.Equal(t, "cancelled o-20261205-0800 (2026-12-05 08:00 JST to 2026-12-05 17:00 JST)\n", out.String())
	assert.ErrorContains(t, cmdOutage(t.Context(), f, []string{"cancel", "x"}, &out), "not found")
	require.ErrorAs(t, cmdOutage(t.Context(), f, []string{"cancel"}, &out), &ue)

	out.Reset()
	require.NoError(t, cmdOutage(t.Context(), f, []string{"add", "--help"}, &out))
	assert.True(t, strings.HasPrefix(out.String(), "USAGE\n  outage add --start TIME"), out.String())
}

func TestPowerCommands(t *testing.T) {
	f := &fakePower{}
	var out bytes.Buffer
	require.NoError(t, cmdPower(t.Context(), f, []string{"status"}, &out))
	for _, want := range []string{
		"power       ON_BATTERY (mains lost)",
		"ups         nut:ups@127.0.0.1:3493  on_battery  OB DISCHRG  charge 87%  runtime 20m",
		"power-off   systemd",
		"settings    grace 2m0s, lead 5m0s, budget 30s",
		"this start  back after 8h8m20s",
		"planned outages (Asia/Tokyo)",
	} {
		assert.Contains(t, out.String(), want)
	}
	out.Reset()
	require.NoError(t, cmdPower(t.Context(), f, []string{"restart"}, &out))
	assert.Contains(t, out.String(), "restarting now")
	out.Reset()
	require.NoError(t, cmdPower(t.Context(), f, []string{"restart", "--at", "2026-12-06 03:00", "--reason", "firmware"}, &out))
	assert.Equal(t, "restart scheduled as r-20261206-0300 at 2026-12-06 03:00:00 JST (cancel with: shisactl outage cancel r-20261206-0300)\n", out.String())
	assert.Equal(t, []api.RestartRequest{{}, {At: "2026-12-06 03:00", Reason: "firmware"}}, f.restarts)
	var ue usageError
	require.ErrorAs(t, cmdPower(t.Context(), f, []string{"reboot"}, &out), &ue)
}
