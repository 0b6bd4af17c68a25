package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// dcSiteDir writes a datacenter's site directory from the example config
// and the test keys.
func dcSiteDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "site")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "keys"), 0o700))
	ex, err := os.ReadFile("../../../testdata/site.example.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.yaml"), ex, 0o644))
	for _, name := range []string{"site.key", "api.token", "pair.secret"} {
		b, err := os.ReadFile("../../../testdata/keys/" + name)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "keys", name), b, 0o600))
	}
	// The example names a NUT password file the test keys do not have.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keys", "nut.password"), []byte("ups-password\n"), 0o600))
	return dir
}

// TestSitePackExportRoundTrip: the datacenter's key, a pack built from a
// site directory, installed on a unit, exported from it sealed to a
// spare's identity, and opened there with only the datacenter's key
// trusted.
func TestSitePackExportRoundTrip(t *testing.T) {
	work := t.TempDir()
	key := filepath.Join(work, "dc.key")
	code, out, errs := runCLI("site", "keygen", key)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "fingerprint")
	fi, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	code, _, errs = runCLI("site", "keygen", key)
	assert.Equal(t, 1, code, "an existing key is kept")
	assert.Contains(t, errs, "exists")
	trusted := filepath.Join(work, "trusted")
	require.NoError(t, os.MkdirAll(trusted, 0o755))
	require.NoError(t, os.Rename(key+".pub", filepath.Join(trusted, "dc.pub")))
	keys, err := sitepack.LoadTrusted(trusted)
	require.NoError(t, err)

	site := dcSiteDir(t)
	pass := filepath.Join(work, "pass")
	require.NoError(t, os.WriteFile(pass, []byte("correct-horse-battery-staple-42\n"), 0o600))
	pack1 := filepath.Join(work, "p1.shisapack")
	code, out, errs = runCLI("site", "pack", "--dir", site, "--signer", key, "--serial", "3", "--passphrase-file", pass, "--out", pack1)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "site hamamatsu-honcho, serial 3, from datacenter")
	data, err := os.ReadFile(pack1)
	require.NoError(t, err)
	p, err := sitepack.Open(data, sitepack.VerifyOptions{Trusted: keys, Passphrase: "correct-horse-battery-staple-42"})
	require.NoError(t, err)
	assert.False(t, p.Certified, "the datacenter signs its own packs")
	assert.NotEmpty(t, p.ExportKey, "a datacenter pack carries the site's export key")
	assert.NotEmpty(t, p.UPSPassword)

	unit := filepath.Join(work, "unit", "site")
	require.NoError(t, os.MkdirAll(filepath.Dir(unit), 0o755))
	require.NoError(t, sitepack.Install(p, unit))

	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	pack2 := filepath.Join(work, "p2.shisapack")
	code, out, errs = runCLI("site", "export", "--site-dir", unit, "--to", id.Recipient().String(), "--box", "old-0007", "--out", pack2)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "serial 4, from old-0007")
	assert.NotContains(t, out, "passphrase (shown once", "sealed to a unit: no passphrase")
	data, err = os.ReadFile(pack2)
	require.NoError(t, err)
	p2, err := sitepack.Open(data, sitepack.VerifyOptions{Trusted: keys, Identities: []age.Identity{id}, Site: "hamamatsu-honcho", MinSerial: 3})
	require.NoError(t, err)
	assert.True(t, p2.Certified, "a unit signs with the site's certified export key")
	assert.Equal(t, "old-0007", p2.Unit)
	assert.Equal(t, p.Config, p2.Config)
	assert.Equal(t, p.WireGuardKey, p2.WireGuardKey)

	code, out, errs = runCLI("site", "show", pack2, "--trusted", trusted)
	require.Equal(t, 0, code, errs)
	for _, want := range []string{"site pack of site hamamatsu-honcho, serial 4", "from      old-0007", "sealed to one spare's key",
		"signed by the site's export key", "certified by the datacenter's key " + sitepack.Fingerprint(keys[0]), "signature good"} {
		assert.Contains(t, out, want)
	}
	tampered, err := os.ReadFile(pack2)
	require.NoError(t, err)
	tampered[len(tampered)/2] ^= 1
	bad := filepath.Join(work, "bad.shisapack")
	require.NoError(t, os.WriteFile(bad, tampered, 0o600))
	code, _, errs = runCLI("site", "show", bad, "--trusted", trusted)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "changed after signing")

	// Without --to or a passphrase file, a passphrase is made and shown once.
	pack3 := filepath.Join(work, "p3.shisapack")
	code, out, errs = runCLI("site", "export", "--site-dir", unit, "--box", "old-0007", "--out", pack3)
	require.Equal(t, 0, code, errs)
	i := strings.Index(out, "passphrase (shown once; give it separately from the file): ")
	require.GreaterOrEqual(t, i, 0, out)
	shown := strings.TrimSpace(out[i+len("passphrase (shown once; give it separately from the file): "):])
	data, err = os.ReadFile(pack3)
	require.NoError(t, err)
	_, err = sitepack.Open(data, sitepack.VerifyOptions{Trusted: keys, Passphrase: shown})
	require.NoError(t, err)
	s, err := sitepack.PeekSealing(data)
	require.NoError(t, err)
	assert.Equal(t, sitepack.SealPassphrase, s)
}

func TestSiteCommandErrors(t *testing.T) {
	work := t.TempDir()
	loose := filepath.Join(work, "loose.key")
	require.NoError(t, os.WriteFile(loose, []byte("AAAA\n"), 0o644))
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"site"}, 2, "usage: shisactl site"},
		{[]string{"site", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"site", "pack", "--signer", loose, "--serial", "1"}, 2, "--dir DIR is required"},
		{[]string{"site", "pack", "--dir", work, "--serial", "1"}, 2, "--signer KEYFILE is required"},
		{[]string{"site", "pack", "--dir", work, "--signer", loose}, 2, "--serial N is required"},
		{[]string{"site", "pack", "--dir", work, "--signer", loose, "--serial", "1"}, 1, "group or others may read the signing key"},
		{[]string{"site", "export", "--site-dir", work}, 1, "no site installed from a pack"},
		{[]string{"site", "export", "--to", "age1x", "--passphrase-file", "f"}, 2, "not both"},
		{[]string{"site", "keygen"}, 2, "FILE"},
	} {
		code, _, errs := runCLI(c.args...)
		assert.Equal(t, c.code, code, "%v: %s", c.args, errs)
		assert.Contains(t, errs, c.want, "%v", c.args)
	}
}

func TestPrintStatusSpare(t *testing.T) {
	at := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	st := &api.Status{Box: "spare-0012", Version: "v1", Role: "spare", Uptime: 65,
		Tunnel: tunnel.Status{State: tunnel.Stopped},
		Spare: &api.Spare{Ready: true, PreparedAt: &at, Recipient: "age1abc", Trusted: []string{"0123456789abcdef"}, Button: true, State: api.SpareWaiting,
			SelfTest: []api.CheckItem{{Name: "journal", OK: true, Detail: "written and read back"}}}}
	var b bytes.Buffer
	printStatus(&b, st, at)
	out := b.String()
	for _, want := range []string{"SPARE UNIT: no site installed  box spare-0012", "READY for storage (prepared", "recipient age1abc",
		"trusted   0123456789abcdef", "OK  journal", "hold the button 5 s"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "ENDPOINT")

	st.Spare.Ready, st.Spare.PreparedAt, st.Spare.State, st.Spare.LastError = false, nil, api.SpareRefused, "signed by an unknown key"
	b.Reset()
	printStatus(&b, st, at)
	assert.Contains(t, b.String(), "NOT READY for storage (never prepared")
	assert.Contains(t, b.String(), "the last site pack was refused: signed by an unknown key")

	// A unit activated from a pack says where its pack came from.
	st = &api.Status{Site: "iwata", Unit: "a", Box: "spare-0012", Role: "active",
		Tunnel:     tunnel.Status{State: tunnel.Up, Active: "dc1", Since: at},
		Pack:       &api.PackInfo{Serial: 4, From: "old-0007", Replaces: "old-0007", InstalledAt: at},
		Acceptance: &api.Acceptance{At: at, OK: false, Items: []api.CheckItem{{Name: "handshake:dc2"}, {Name: "lan_link", OK: true}}}}
	b.Reset()
	printStatus(&b, st, at)
	assert.Contains(t, b.String(), "unit a  box spare-0012")
	assert.Contains(t, b.String(), "site pack serial 4 from old-0007")
	assert.Contains(t, b.String(), "(this box replaced old-0007)")
	assert.Contains(t, b.String(), "acceptance check FAILED: handshake:dc2")
}

// TestSitePackNeedsThePackLayout: a site.yaml naming a secret file
// elsewhere than the pack's layout is refused when the pack is built,
// not when a spare activates it.
func TestSitePackNeedsThePackLayout(t *testing.T) {
	work := t.TempDir()
	key := filepath.Join(work, "dc.key")
	code, _, errs := runCLI("site", "keygen", key)
	require.Equal(t, 0, code, errs)
	site := dcSiteDir(t)
	y, err := os.ReadFile(filepath.Join(site, "site.yaml"))
	require.NoError(t, err)
	y = []byte(strings.Replace(string(y), "secret_file: keys/pair.secret", "secret_file: pair.secret", 1))
	require.NoError(t, os.WriteFile(filepath.Join(site, "site.yaml"), y, 0o644))
	b, err := os.ReadFile(filepath.Join(site, "keys", "pair.secret"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(site, "pair.secret"), b, 0o600))
	pass := filepath.Join(work, "pass")
	require.NoError(t, os.WriteFile(pass, []byte("correct-horse-battery-staple-42\n"), 0o600))
	code, _, errs = runCLI("site", "pack", "--dir", site, "--signer", key, "--serial", "1", "--passphrase-file", pass, "--out", filepath.Join(work, "p"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "pair.secret_file is "+filepath.Join(site, "pair.secret")+"; a site pack installs it as keys/pair.secret")
	_, err = os.Stat(filepath.Join(work, "p"))
	assert.True(t, os.IsNotExist(err), "no pack is written")
}
