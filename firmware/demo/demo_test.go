package demo

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScriptedDay runs the demo's day rootless on netstack: the whole daemon
// (config, journal, WireGuard, probes, supervisor, API) against the
// simulated datacenter. Times are reported by `make bench`, not asserted.
func TestScriptedDay(t *testing.T) {
	if testing.Short() {
		t.Skip("the scripted day takes about 20 s; skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Dir: t.TempDir(), HoldDown: 3 * time.Second, TransferBytes: 2 << 20, Out: tWriter{t}})
	require.NoError(t, err)
	assert.True(t, res.TransferOK, "the transfer through dc2 arrived intact")
	assert.True(t, res.SessionSurvived, "a TCP session opened before the failover works after it")
	assert.True(t, res.DatacenterView, "the management API answered the datacenter through the tunnel")
	assert.Positive(t, res.FailoverGap)
	assert.GreaterOrEqual(t, res.FailbackAfter, 3*time.Second, "no failback before the hold-down")
	for _, kind := range []string{"daemon.start", "tunnel.up", "endpoint.dead", "tunnel.failover", "tunnel.failback"} {
		assert.Contains(t, res.Events, kind)
	}
	// The flap during the hold-down moved nothing: one failover, one failback.
	count := func(k string) int {
		return len(slices.DeleteFunc(slices.Clone(res.Events), func(e string) bool { return e != k }))
	}
	assert.Equal(t, 1, count("tunnel.failover"))
	assert.Equal(t, 1, count("tunnel.failback"))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
