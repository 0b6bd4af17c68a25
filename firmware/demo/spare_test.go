package demo

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/spare"
)

// TestRunSpare plays the spare's morning on the simulated board: the
// button held with a pack on the USB stick activates the spare, the
// tunnel comes up, the acceptance check passes, and the LEDs go through
// the documented patterns.
func TestRunSpare(t *testing.T) {
	if testing.Short() {
		t.Skip("holds the simulated button for 5 s")
	}
	var out bytes.Buffer
	res, err := RunSpare(t.Context(), SpareOptions{Out: &out})
	require.NoError(t, err, out.String())
	assert.True(t, res.Ready)
	assert.True(t, res.Accepted)
	assert.GreaterOrEqual(t, res.ButtonToRunning, spare.HoldTime)
	for _, want := range []spare.Show{spare.ShowSpareReady, spare.ShowButtonHeld, spare.ShowRunning} {
		assert.Contains(t, res.LEDs, want.String(), "LED patterns shown: %v", res.LEDs)
	}
	assert.Contains(t, out.String(), "動作確認 合格")
}
