package sitepack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExportRoundTrip installs a pack, exports it as a failed unit would
// and installs the export on a fresh spare.
func TestExportRoundTrip(t *testing.T) {
	_, dir := installed(t)
	c, err := Export(dir)
	require.NoError(t, err)
	want := contents(testSite, 5)
	want.Serial = 6
	assert.Equal(t, want, c)

	c.Unit = "a"
	unitKey := testKey("unit-a export")
	spare := filepath.Join(t.TempDir(), "site")
	require.NoError(t, activate(seal(t, c, unitKey), verifyOpts(), spare))
	again, err := Export(spare)
	require.NoError(t, err)
	c.Serial = 7
	assert.Equal(t, c, again)
	// The original unit accepts the export too (serial 6 > 5).
	require.NoError(t, activate(seal(t, again, unitKey), verifyOpts(), dir))
}

func TestExportRefuses(t *testing.T) {
	_, err := Export(filepath.Join(t.TempDir(), "site"))
	require.ErrorIs(t, err, ErrNotInstalled)

	_, dir := installed(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), []byte("not a key\n"), 0o600))
	_, err = Export(dir)
	require.ErrorContains(t, err, "keys/site.key does not hold a WireGuard private key")
	assert.NotContains(t, err.Error(), "not a key")

	_, dir = installed(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), make([]byte, MaxConfig+1), 0o644))
	_, err = Export(dir)
	require.ErrorIs(t, err, ErrOversized)
}
