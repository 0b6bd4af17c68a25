package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
