package sitepack

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstallFilesAndModes(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	_, err := Installed(dir)
	require.ErrorIs(t, err, ErrNotInstalled)

	c := contents(testSite, 3)
	p, err := Open(seal(t, c, dcKey), verifyOpts())
	require.NoError(t, err)
	at := time.Date(2026, 11, 29, 7, 3, 0, 0, time.UTC)
	require.NoError(t, install(p, dir, hooks{now: func() time.Time { return at }}))

	for name, want := range map[string]struct {
		mode os.FileMode
		data string
	}{
		ConfigFile:      {0o644, string(c.Config)},
		KeyFile:         {0o600, base64.StdEncoding.EncodeToString(c.WireGuardKey[:]) + "\n"},
		PairSecretFile:  {0o600, string(c.PairSecret) + "\n"},
		APITokenFile:    {0o600, string(c.APIToken) + "\n"},
		UPSPasswordFile: {0o600, string(c.UPSPassword) + "\n"},
		ExportKeyFile:   {0o600, base64.StdEncoding.EncodeToString(c.ExportKey.Seed()) + "\n"},
		ExportCertFile:  {0o644, base64.StdEncoding.EncodeToString(c.ExportCert) + "\n"},
	} {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, want.mode, fi.Mode().Perm(), name)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, want.data, string(b), name)
	}
	fi, err := os.Stat(filepath.Join(dir, "keys"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "keys/")

	rec, err := Installed(dir)
	require.NoError(t, err)
	assert.Equal(t, Record{
		Site: testSite, Unit: "a", Serial: 3,
		Signer:    base64.StdEncoding.EncodeToString(dcKey.Public().(ed25519.PublicKey)),
		Authority: base64.StdEncoding.EncodeToString(dcKey.Public().(ed25519.PublicKey)),
		Created:   c.Created, InstalledAt: at,
	}, *rec)
	assert.Equal(t, []string{mustReadlink(t, dir)}, strays(t, parent), "only the live generation is beside dir")
}

func mustReadlink(t *testing.T, path string) string {
	t.Helper()
	target, err := os.Readlink(path)
	require.NoError(t, err)
	return target
}

func TestInstallReplacesAndDropsOldFiles(t *testing.T) {
	parent, dir := installed(t)
	old := mustReadlink(t, dir)
	c := contents(testSite, 6)
	c.PairSecret = nil // the site is no longer a pair
	require.NoError(t, activate(seal(t, c, dcKey), verifyOpts(), dir))
	rec, err := Installed(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(6), rec.Serial)
	assert.NoFileExists(t, filepath.Join(dir, PairSecretFile))
	assert.NoDirExists(t, filepath.Join(parent, old), "the old generation is removed")
	assert.Len(t, strays(t, parent), 1)

	// The same serial again (a retried activation) is accepted.
	require.NoError(t, activate(seal(t, c, dcKey), verifyOpts(), dir))
}

// TestInstallRefuses checks Install's own checks, for a caller that did
// not pass the installed site and serial to Open.
func TestInstallRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Contents
		want error
	}{
		{"rollback", contents(testSite, 4), ErrRollback},
		{"other site", contents("kosai-shiyakusho", 9), ErrWrongSite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, dir := installed(t)
			before := snapshot(t, parent)
			p, err := Open(seal(t, tc.c, dcKey), verifyOpts())
			require.NoError(t, err)
			require.ErrorIs(t, Install(p, dir), tc.want)
			assert.Equal(t, before, snapshot(t, parent))
		})
	}
	t.Run("not from Open", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "site")
		err := Install(&Pack{Contents: contents(testSite, 1)}, dir)
		require.ErrorContains(t, err, "not opened with Open")
		assert.NoDirExists(t, dir)
	})
}

func TestInstallDirectoryInTheWay(t *testing.T) {
	p, err := Open(seal(t, contents(testSite, 1), dcKey), verifyOpts())
	require.NoError(t, err)

	parent := t.TempDir()
	dir := filepath.Join(parent, "site")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, Install(p, dir), "an empty directory is replaced")
	_, err = Installed(dir)
	require.NoError(t, err)

	parent = t.TempDir()
	dir = filepath.Join(parent, "site")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.yaml"), []byte("site: by-hand\n"), 0o644))
	before := snapshot(t, parent)
	err = Install(p, dir)
	require.ErrorContains(t, err, "no site pack installed; move it away first")
	assert.Equal(t, before, snapshot(t, parent))
}

// TestInstallCutShort stops Install at each step before the swap, first as
// a failing disk (an error: Install cleans up) and then as a power cut (a
// panic: nothing runs after it). Either way the old set is whole; after
// the power cut the next Install sweeps the leftovers and succeeds.
func TestInstallCutShort(t *testing.T) {
	steps := []string{stepGenDir, stepFiles + "#1", stepFiles + "#3", stepFiles + "#5", stepSync, stepLink}
	for _, mode := range []string{"error", "power cut"} {
		for _, stop := range steps {
			t.Run(mode+" after "+stop, func(t *testing.T) {
				parent, dir := installed(t)
				before := snapshot(t, parent)
				p, err := Open(seal(t, contents(testSite, 6), dcKey), verifyOpts())
				require.NoError(t, err)
				seen := map[string]int{}
				boom := errors.New("disk on fire")
				h := hooks{after: func(step string) error {
					seen[step]++
					if step == stop || fmt.Sprintf("%s#%d", step, seen[step]) == stop {
						if mode == "power cut" {
							panic(boom)
						}
						return boom
					}
					return nil
				}}
				func() {
					defer func() {
						if r := recover(); r != nil && r != boom {
							panic(r)
						}
					}()
					err = install(p, dir, h)
				}()
				rec, rerr := Installed(dir)
				require.NoError(t, rerr)
				assert.Equal(t, uint64(5), rec.Serial, "the old pack is installed")
				if mode == "error" {
					require.ErrorIs(t, err, boom)
					assert.Equal(t, before, snapshot(t, parent), "a failed install leaves nothing behind")
					return
				}
				after := snapshot(t, parent)
				for name, v := range before {
					assert.Equal(t, v, after[name], "%s is as it was", name)
				}
				assert.Greater(t, len(strays(t, parent)), 1, "the power cut left a generation behind")
				require.NoError(t, Install(p, dir))
				assert.Len(t, strays(t, parent), 1, "the next install swept the leftovers")
				rec, err = Installed(dir)
				require.NoError(t, err)
				assert.Equal(t, uint64(6), rec.Serial)
			})
		}
	}
	t.Run("error after swap", func(t *testing.T) {
		_, dir := installed(t)
		p, err := Open(seal(t, contents(testSite, 6), dcKey), verifyOpts())
		require.NoError(t, err)
		err = install(p, dir, hooks{after: func(step string) error {
			if step == stepSwap {
				return errors.New("sync failed")
			}
			return nil
		}})
		require.ErrorContains(t, err, "in place but may not be durable")
		rec, err := Installed(dir)
		require.NoError(t, err)
		assert.Equal(t, uint64(6), rec.Serial, "the new pack stays installed")
		b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
		require.NoError(t, err)
		assert.Contains(t, string(b), "# serial 6")
	})
}

func TestInstalledRefusesBadRecord(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ data, msg string }{
		{"{", "unexpected end of JSON"},
		{`{"site":"Bad Site","serial":3}`, "site:"},
		{`{"site":"ok"}`, "serial: missing or 0"},
		{fmt.Sprintf(`{"site":"ok","serial":1,"unit":"%0*d"}`, maxInstalled, 0), "over 4096 bytes"},
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, InstalledFile), []byte(tc.data), 0o644))
		_, err := Installed(dir)
		require.ErrorContains(t, err, tc.msg)
		assert.NotErrorIs(t, err, ErrNotInstalled)
	}
}

// TestInstallCheckedWithConfigLoad installs a pack holding the example
// site.yaml, checked by config.Load as `spare activate` will: the files
// are where the example's paths say. A config that does not load is
// refused and changes nothing.
func TestInstallCheckedWithConfigLoad(t *testing.T) {
	example, err := os.ReadFile("../../testdata/site.example.yaml")
	require.NoError(t, err)
	check := func(newDir string) error {
		s, err := config.Load(filepath.Join(newDir, ConfigFile))
		if err != nil {
			return err
		}
		if s.Site != testSite {
			return fmt.Errorf("site.yaml is for site %q", s.Site)
		}
		return nil
	}
	c := contents(testSite, 6)
	c.Config = example
	p, err := Open(seal(t, c, dcKey), verifyOpts())
	require.NoError(t, err)
	parent, dir := installed(t)
	require.NoError(t, InstallChecked(p, dir, check))
	_, err = config.Load(filepath.Join(dir, ConfigFile))
	require.NoError(t, err, "the installed config loads with its keys in place")

	before := snapshot(t, parent)
	c = contents(testSite, 7)
	c.Config = []byte(strings.Replace(string(example), "private_key_file: keys/site.key", "private_key_file: keys/elsewhere.key", 1))
	p, err = Open(seal(t, c, dcKey), verifyOpts())
	require.NoError(t, err)
	err = InstallChecked(p, dir, check)
	require.ErrorContains(t, err, "the new set fails its check")
	require.ErrorContains(t, err, "tunnel.private_key_file")
	assert.Equal(t, before, snapshot(t, parent))
}
