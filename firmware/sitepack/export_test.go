package sitepack

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExportRoundTrip installs a datacenter pack, exports it as a failed
// unit would, signed by the site's export key with its cert, and installs
// the export on a fresh spare that trusts only the datacenter's keys. The
// spare can export in turn: the export key and cert travel, with their
// files' modes.
func TestExportRoundTrip(t *testing.T) {
	_, dir := installed(t)
	c, err := Export(dir)
	require.NoError(t, err)
	want := contents(testSite, 5)
	want.Serial = 6
	assert.Equal(t, want, c)

	c.Unit = "a"
	spare := filepath.Join(t.TempDir(), "site")
	data := sealExport(t, c)
	p, err := Open(data, verifyOpts())
	require.NoError(t, err)
	assert.True(t, p.Certified)
	assert.Equal(t, pub(c.ExportKey), p.Signer)
	assert.Equal(t, pub(dcKey), p.Authority)
	require.NoError(t, activate(data, verifyOpts(), spare))

	rec, err := Installed(spare)
	require.NoError(t, err)
	assert.True(t, rec.Certified)
	assert.Equal(t, FormatPublicKey(pub(c.ExportKey)), rec.Signer)
	assert.Equal(t, FormatPublicKey(pub(dcKey)), rec.Authority)
	for name, mode := range map[string]os.FileMode{ExportKeyFile: 0o600, ExportCertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(spare, name))
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), name)
	}

	again, err := Export(spare)
	require.NoError(t, err)
	c.Serial = 7
	assert.Equal(t, c, again)
	// The original unit accepts the export too (serial 6 > 5).
	require.NoError(t, activate(sealExport(t, again), verifyOpts(), dir))
}

// TestExportWithoutExportKey: a site whose packs carry no export key
// installs without the files, and exports with none (its unit then cannot
// sign an export a spare accepts).
func TestExportWithoutExportKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	c := contents(testSite, 2)
	c.ExportKey, c.ExportCert = nil, nil
	require.NoError(t, activate(seal(t, c, dcKey), verifyOpts(), dir))
	assert.NoFileExists(t, filepath.Join(dir, ExportKeyFile))
	assert.NoFileExists(t, filepath.Join(dir, ExportCertFile))
	got, err := Export(dir)
	require.NoError(t, err)
	assert.Nil(t, got.ExportKey)
	assert.Nil(t, got.ExportCert)
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

	for _, tc := range []struct {
		name string
		edit func(dir string)
		msg  string
	}{
		{"key without cert", func(dir string) { os.Remove(filepath.Join(dir, ExportCertFile)) }, "keys/export.key is there and keys/export.cert is not"},
		{"cert without key", func(dir string) { os.Remove(filepath.Join(dir, ExportKeyFile)) }, "keys/export.cert is there and keys/export.key is not"},
		{"bad key", func(dir string) {
			os.WriteFile(filepath.Join(dir, ExportKeyFile), []byte("c2VjcmV0LXNlZWQ=\n"), 0o600)
		}, "keys/export.key does not hold an ed25519 key seed"},
		{"short cert", func(dir string) {
			os.WriteFile(filepath.Join(dir, ExportCertFile), []byte(base64.StdEncoding.EncodeToString(make([]byte, 5))+"\n"), 0o644)
		}, "keys/export.cert does not hold a base64 64-byte cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := installed(t)
			tc.edit(dir)
			_, err := Export(dir)
			require.ErrorContains(t, err, tc.msg)
			assert.NotContains(t, err.Error(), "c2VjcmV0LXNlZWQ")
		})
	}
}
