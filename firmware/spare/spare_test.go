package spare

import (
	"context"
	"crypto/ed25519"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/sitepack"
)

func fingerprint(k ed25519.PrivateKey) string {
	return sitepack.Fingerprint(k.Public().(ed25519.PublicKey))
}

func activate(t *testing.T, run *running, req api.ActivateRequest) (*api.Activated, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return run.client.Activate(ctx, req)
}

// noSite asserts that nothing was installed: no site directory and no
// generation or link beside it.
func (r *rig) noSite() {
	r.t.Helper()
	_, err := os.Lstat(r.siteDir)
	assert.ErrorIs(r.t, err, fs.ErrNotExist, "the site directory was created")
	assert.Empty(r.t, r.strays(), "leftovers beside the site directory")
}

// strays lists what is beside the site directory and belongs to it.
func (r *rig) strays() []string {
	r.t.Helper()
	ents, err := os.ReadDir(r.dir)
	require.NoError(r.t, err)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".site.") {
			out = append(out, e.Name())
		}
	}
	return out
}

// installedOK asserts that the site directory is a link to a generation
// with site.yaml and the key.
func (r *rig) installedOK(site string) {
	r.t.Helper()
	fi, err := os.Lstat(r.siteDir)
	require.NoError(r.t, err)
	assert.Equal(r.t, fs.ModeSymlink, fi.Mode()&fs.ModeSymlink, "the site directory is not a link")
	y, err := os.ReadFile(filepath.Join(r.siteDir, sitepack.ConfigFile))
	require.NoError(r.t, err)
	assert.Contains(r.t, string(y), "site: "+site)
	fi, err = os.Stat(filepath.Join(r.siteDir, sitepack.KeyFile))
	require.NoError(r.t, err)
	assert.Equal(r.t, fs.FileMode(0o600), fi.Mode().Perm())
	rec, err := sitepack.Installed(r.siteDir)
	require.NoError(r.t, err)
	assert.Equal(r.t, site, rec.Site)
	live, err := os.Readlink(r.siteDir)
	require.NoError(r.t, err)
	assert.Equal(r.t, []string{live}, r.strays(), "leftovers beside the site directory")
}

func TestRunServesASpare(t *testing.T) {
	r := newRig(t)
	run := r.start()

	st := run.status(t)
	assert.Equal(t, "spare", st.Role)
	assert.Equal(t, "box-7", st.Box)
	assert.Equal(t, "1.2.3", st.Version)
	require.NotNil(t, st.Spare)
	assert.Equal(t, []string{fingerprint(r.dc)}, st.Spare.Trusted)
	assert.Equal(t, api.SpareWaiting, st.Spare.State)
	assert.Empty(t, st.Spare.LastError)
	assert.False(t, st.Spare.Button, "no button given")
	assert.False(t, st.Spare.Ready, "never prepared")
	assert.Nil(t, st.Spare.PreparedAt)
	assert.Equal(t, r.identity.Recipient().String(), st.Spare.Recipient)
	assert.Contains(t, kindsOf(st.Events), report.KindSpareStart)
	assert.Contains(t, kindsOf(run.events(t)), report.KindSpareStart)
	r.waitShow(ShowSpareNotReady)

	run.cancel()
	act, err := run.result(t)
	require.NoError(t, err)
	assert.Nil(t, act, "stopped, nothing activated")
	r.noSite()
}

func TestRunSocketInUse(t *testing.T) {
	r := newRig(t)
	r.start()
	// A second spare on the same socket and state: the journal is
	// locked, Run says so at once.
	act, err := Run(context.Background(), r.options())
	require.Error(t, err)
	assert.Nil(t, act)
}

func TestActivate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// pack builds the pack and the request for rig r.
		pack     func(r *rig) api.ActivateRequest
		wantFrom string
	}{
		{"sealed to the spare", func(r *rig) api.ActivateRequest {
			return api.ActivateRequest{Pack: r.seal(contents(testSite, 3))}
		}, sitepack.DatacenterUnit},
		{"sealed to a passphrase", func(r *rig) api.ActivateRequest {
			return api.ActivateRequest{Pack: r.sealWith(contents(testSite, 3), sitepack.SealOptions{Signer: r.dc, Passphrase: testPass}), Passphrase: testPass}
		}, sitepack.DatacenterUnit},
		{"exported by a unit", func(r *rig) api.ActivateRequest {
			// `site export` on the failed unit: signed by the site's
			// export key, which the datacenter certified.
			key, cert, err := sitepack.NewExportKey(r.dc, testSite)
			require.NoError(t, err)
			c := contents(testSite, 3)
			c.Unit, c.ExportKey, c.ExportCert = "a", key, cert
			return api.ActivateRequest{Pack: r.sealWith(c, sitepack.SealOptions{Signer: key, Cert: cert, Recipient: r.identity.Recipient().String()})}
		}, "a"},
		{"a large site.yaml", func(r *rig) api.ActivateRequest {
			// A real site's config with its comments: the request is
			// far larger than a power request's 4 KiB.
			c := contents(testSite, 3)
			c.Config = append(c.Config, []byte(strings.Repeat("# a comment line of a documented site.yaml, as the datacenter writes them\n", 200))...)
			return api.ActivateRequest{Pack: r.seal(c)}
		}, sitepack.DatacenterUnit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			run := r.start()
			got, err := activate(t, run, tc.pack(r))
			require.NoError(t, err)
			want := api.Activated{Site: testSite, Serial: 3, From: tc.wantFrom, Signer: fingerprint(r.dc),
				Socket: filepath.Join(r.dir, "site.sock")}
			assert.Equal(t, want, *got)

			act, err := run.result(t)
			require.NoError(t, err)
			require.NotNil(t, act)
			assert.Equal(t, want, *act)
			r.installedOK(testSite)
			k := kinds(t, r.journal)
			assert.Contains(t, k, report.KindSpareStart)
			assert.Contains(t, k, report.KindSpareActivated)
			assert.NotContains(t, k, report.KindSpareRefused)
		})
	}
}

func TestActivateRefused(t *testing.T) {
	t.Parallel()
	tampered := func(r *rig) api.ActivateRequest {
		data := r.seal(contents(testSite, 3))
		data[len(data)/2] ^= 0x01
		return api.ActivateRequest{Pack: data}
	}
	for _, tc := range []struct {
		name string
		pack func(r *rig) api.ActivateRequest
		// before runs before the refused activation, after before the
		// good one that follows it.
		before, after func(r *rig)
		want          []string // in the error and LastError
	}{
		{name: "signed by an untrusted key", pack: func(r *rig) api.ActivateRequest {
			return api.ActivateRequest{Pack: r.sealWith(contents(testSite, 3), sitepack.SealOptions{Signer: newKey(t), Recipient: r.identity.Recipient().String()})}
		}, want: []string{sitepack.ErrUnknownSigner.Error()}},
		{name: "a byte tampered", pack: tampered, want: []string{"site pack"}},
		{name: "the signature tampered", pack: func(r *rig) api.ActivateRequest {
			data := r.seal(contents(testSite, 3))
			data[len(data)-1] ^= 0x80
			return api.ActivateRequest{Pack: data}
		}, want: []string{sitepack.ErrTampered.Error()}},
		{name: "wrong passphrase", pack: func(r *rig) api.ActivateRequest {
			return api.ActivateRequest{Pack: r.sealWith(contents(testSite, 3), sitepack.SealOptions{Signer: r.dc, Passphrase: testPass}), Passphrase: "wrong-wrong-wrong-wrong"}
		}, want: []string{sitepack.ErrDecrypt.Error()}},
		{name: "no passphrase for a passphrase pack", pack: func(r *rig) api.ActivateRequest {
			return api.ActivateRequest{Pack: r.sealWith(contents(testSite, 3), sitepack.SealOptions{Signer: r.dc, Passphrase: testPass})}
		}, want: []string{sitepack.ErrDecrypt.Error()}},
		{name: "sealed to another unit", pack: func(r *rig) api.ActivateRequest {
			other, err := age.GenerateX25519Identity()
			require.NoError(t, err)
			return api.ActivateRequest{Pack: r.sealWith(contents(testSite, 3), sitepack.SealOptions{Signer: r.dc, Recipient: other.Recipient().String()})}
		}, want: []string{sitepack.ErrDecrypt.Error()}},
		{name: "site.yaml does not load", pack: func(r *rig) api.ActivateRequest {
			c := contents(testSite, 3)
			c.Config = []byte(strings.Replace(string(c.Config), "address: 10.99.1.2/32", "address: not-an-address", 1))
			return api.ActivateRequest{Pack: r.seal(c)}
		}, want: []string{"fails its check", "tunnel.address"}},
		{name: "site.yaml names a key the pack lacks", pack: func(r *rig) api.ActivateRequest {
			c := contents(testSite, 3)
			c.Config = []byte(strings.Replace(string(c.Config), "keys/site.key", "keys/other.key", 1))
			return api.ActivateRequest{Pack: r.seal(c)}
		}, want: []string{"fails its check", "other.key"}},
		{name: "truncated", pack: func(r *rig) api.ActivateRequest {
			data := r.seal(contents(testSite, 3))
			return api.ActivateRequest{Pack: data[:len(data)*2/3]}
		}, want: []string{"site pack"}},
		{name: "not a pack", pack: func(r *rig) api.ActivateRequest {
			return api.ActivateRequest{Pack: []byte("site: hamamatsu-honcho\n")}
		}, want: []string{"site pack"}},
		{name: "no trusted key in the image", pack: func(r *rig) api.ActivateRequest {
			return api.ActivateRequest{Pack: r.seal(contents(testSite, 3))}
		}, before: func(r *rig) {
			ents, err := os.ReadDir(r.trusted)
			require.NoError(t, err)
			for _, e := range ents {
				require.NoError(t, os.Remove(filepath.Join(r.trusted, e.Name())))
			}
		}, after: func(r *rig) { r.trust(r.dc) }, want: []string{"no trusted datacenter key", "image is incomplete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			run := r.start()
			if tc.before != nil {
				tc.before(r)
			}
			_, err := activate(t, run, tc.pack(r))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), "refused")

			// Unchanged: nothing installed, still serving, the state says why.
			r.noSite()
			assert.False(t, run.returned(), "Run returned after a refusal")
			st := run.status(t)
			require.NotNil(t, st.Spare)
			assert.Equal(t, api.SpareRefused, st.Spare.State)
			for _, w := range tc.want {
				assert.Contains(t, st.Spare.LastError, w)
			}
			k := kindsOf(run.events(t))
			assert.Contains(t, k, report.KindSpareRefused)
			assert.NotContains(t, k, report.KindSpareActivated)
			r.waitShow(ShowRefused)

			// A good pack is activated afterwards.
			if tc.after != nil {
				tc.after(r)
			}
			got, err := activate(t, run, api.ActivateRequest{Pack: r.seal(contents(testSite, 4))})
			require.NoError(t, err)
			assert.Equal(t, uint64(4), got.Serial)
			act, err := run.result(t)
			require.NoError(t, err)
			require.NotNil(t, act)
			assert.Equal(t, *got, *act)
			r.installedOK(testSite)
		})
	}
}

func TestActivateOneAtATime(t *testing.T) {
	r := newRig(t)
	run := r.start()
	// Run has returned after the first: a second request finds no one,
	// or is refused; it never installs a second pack.
	_, err := activate(t, run, api.ActivateRequest{Pack: r.seal(contents(testSite, 3))})
	require.NoError(t, err)
	_, err = run.result(t)
	require.NoError(t, err)
	_, err = activate(t, run, api.ActivateRequest{Pack: r.seal(contents(testSite, 9))})
	require.Error(t, err)
	rec, err := sitepack.Installed(r.siteDir)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), rec.Serial)
}

// benchItems are the bench self-test's items, in order.
var benchItems = []string{"site_removed", "trusted_keys", "identity", "journal", "free_space", "temperature", "leds", "firmware"}

func itemNames(items []api.CheckItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out
}

func TestPrepareASpare(t *testing.T) {
	r := newRig(t)
	run := r.start()
	r.waitShow(ShowSpareNotReady)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	// A spare has no site to confirm.
	_, err := run.client.Prepare(ctx, "x")
	var fe *api.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "site", fe.Field)
	assert.Contains(t, fe.Reason, "this unit is a spare")
	_, err = os.Stat(filepath.Join(r.stateDir, "spare", preparedFile))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a refused prepare wrote prepared.json")

	sp, err := run.client.Prepare(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, benchItems, itemNames(sp.SelfTest))
	for _, it := range sp.SelfTest {
		assert.True(t, it.OK, "%s: %s", it.Name, it.Detail)
	}
	assert.True(t, sp.Ready)
	require.NotNil(t, sp.PreparedAt)
	assert.True(t, strings.HasPrefix(sp.Recipient, "age1"), sp.Recipient)
	assert.NotEqual(t, r.identity.Recipient().String(), sp.Recipient, "a fresh identity")
	assert.Equal(t, []string{fingerprint(r.dc)}, sp.Trusted)
	assert.Equal(t, api.SpareWaiting, sp.State)

	p, err := readPrepared(filepath.Join(r.stateDir, "spare"))
	require.NoError(t, err)
	assert.True(t, p.OK)
	assert.Equal(t, benchItems, itemNames(p.SelfTest))
	assert.Empty(t, p.Site, "no site was removed")
	fi, err := os.Stat(filepath.Join(r.stateDir, "spare", identityFile))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())

	st := run.status(t)
	require.NotNil(t, st.Spare)
	assert.True(t, st.Spare.Ready)
	assert.Equal(t, sp.Recipient, st.Spare.Recipient)
	assert.Equal(t, sp.PreparedAt.Unix(), st.Spare.PreparedAt.Unix())
	assert.Contains(t, kindsOf(run.events(t)), report.KindSparePrepared)
	r.waitShow(ShowSpareReady)

	// A pack sealed to the old identity no longer opens; one sealed to
	// the new does.
	_, err = activate(t, run, api.ActivateRequest{Pack: r.seal(contents(testSite, 1))})
	require.Error(t, err)
	assert.Contains(t, err.Error(), sitepack.ErrDecrypt.Error())
	r.waitShow(ShowRefused)
	_, err = activate(t, run, api.ActivateRequest{Pack: r.sealWith(contents(testSite, 1), sitepack.SealOptions{Signer: r.dc, Recipient: sp.Recipient})})
	require.NoError(t, err)
	_, err = run.result(t)
	require.NoError(t, err)
}

func TestPrepareASpareFailsItsBenchTest(t *testing.T) {
	r := newRig(t)
	// Too hot: the self-test fails, the spare is not ready.
	zone := filepath.Join(r.thermal, "thermal_zone0")
	require.NoError(t, os.MkdirAll(zone, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(zone, "temp"), []byte("99000\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(zone, "type"), []byte("cpu-thermal\n"), 0o644))
	run := r.start()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sp, err := run.client.Prepare(ctx, "")
	require.NoError(t, err)
	assert.False(t, sp.Ready)
	for _, it := range sp.SelfTest {
		assert.Equal(t, it.Name != "temperature", it.OK, "%s: %s", it.Name, it.Detail)
	}
	assert.False(t, run.status(t).Spare.Ready)
	r.waitShow(ShowSpareNotReady)
}

// installPack installs a pack for site into r.siteDir as an activation
// would.
func (r *rig) installPack(site string, serial uint64) {
	r.t.Helper()
	trusted, err := sitepack.LoadTrusted(r.trusted)
	require.NoError(r.t, err)
	p, err := sitepack.Open(r.seal(contents(site, serial)), sitepack.VerifyOptions{Trusted: trusted, Identities: []age.Identity{r.identity}})
	require.NoError(r.t, err)
	require.NoError(r.t, sitepack.Install(p, r.siteDir))
}

func (r *rig) openJournal() *journal.Journal {
	r.t.Helper()
	j, err := journal.Open(r.journal, journal.Options{NoSync: true})
	require.NoError(r.t, err)
	r.t.Cleanup(func() { j.Close() })
	return j
}

func (r *rig) prepareOptions() PrepareOptions {
	return PrepareOptions{SiteDir: r.siteDir, StateDir: r.stateDir, TrustedDir: r.trusted, Journal: r.openJournal(),
		Firmware: r.options().Firmware, LEDs: r.leds(), ThermalDir: r.thermal}
}

func TestPrepareASite(t *testing.T) {
	r := newRig(t)
	r.installPack(testSite, 5)
	live, err := os.Readlink(r.siteDir)
	require.NoError(t, err)
	// Keep the key file open: its contents must be wiped, not only
	// unlinked.
	key, err := os.Open(filepath.Join(r.siteDir, sitepack.KeyFile))
	require.NoError(t, err)
	defer key.Close()
	// A pack left for the button belongs to the old site.
	leftPack := filepath.Join(r.stateDir, "spare", "old"+PackExt)
	require.NoError(t, os.WriteFile(leftPack, []byte("pack"), 0o600))
	// A generation a cut install left behind.
	stray := filepath.Join(r.dir, ".site.gen-x")
	require.NoError(t, os.MkdirAll(filepath.Join(stray, "keys"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(stray, "keys", "site.key"), []byte("secret"), 0o600))

	rec, sp, err := Prepare(r.prepareOptions())
	require.NoError(t, err)
	assert.Equal(t, testSite, rec.Site)
	assert.Equal(t, uint64(5), rec.Serial)
	require.NotNil(t, sp)
	assert.True(t, sp.Ready, "%+v", sp.SelfTest)
	assert.Equal(t, benchItems, itemNames(sp.SelfTest))
	assert.True(t, strings.HasPrefix(sp.Recipient, "age1"))

	r.noSite()
	_, err = os.Stat(filepath.Join(r.dir, live))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the live generation is left")
	_, err = os.Stat(stray)
	assert.ErrorIs(t, err, fs.ErrNotExist, "the stray generation is left")
	b := make([]byte, 64)
	n, _ := key.ReadAt(b, 0)
	require.Positive(t, n)
	assert.Equal(t, make([]byte, n), b[:n], "the key file's contents were not wiped")
	_, err = os.Stat(leftPack)
	assert.ErrorIs(t, err, fs.ErrNotExist, "the old site's pack is left")

	p, err := readPrepared(filepath.Join(r.stateDir, "spare"))
	require.NoError(t, err)
	assert.Equal(t, testSite, p.Site)
	assert.Equal(t, sitepack.DatacenterUnit, p.Unit)
	assert.True(t, p.OK)
	id, err := loadIdentity(filepath.Join(r.stateDir, "spare"))
	require.NoError(t, err)
	assert.Equal(t, sp.Recipient, id.Recipient().String())
}

func TestPrepareRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(r *rig)
	}{
		{"no site directory", func(r *rig) {}},
		{"an empty site directory", func(r *rig) { require.NoError(t, os.Mkdir(r.siteDir, 0o755)) }},
		{"a site configured by hand", func(r *rig) {
			require.NoError(t, os.MkdirAll(filepath.Join(r.siteDir, "keys"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(r.siteDir, "site.yaml"), []byte(siteYAML(testSite)), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(r.siteDir, "keys", "site.key"), []byte("key\n"), 0o600))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tc.setup(r)
			o := r.prepareOptions()
			before := snapshot(t, r.dir)
			rec, sp, err := Prepare(o)
			require.ErrorIs(t, err, api.ErrRefused)
			assert.Contains(t, err.Error(), r.siteDir)
			assert.Nil(t, rec)
			assert.Nil(t, sp)
			assert.Equal(t, before, snapshot(t, r.dir), "a refused prepare changed files")
		})
	}
}

func TestRunSweepsLeftovers(t *testing.T) {
	r := newRig(t)
	stray := filepath.Join(r.dir, ".site.gen-x")
	require.NoError(t, os.MkdirAll(filepath.Join(stray, "keys"), 0o700))
	keyPath := filepath.Join(stray, "keys", "site.key")
	require.NoError(t, os.WriteFile(keyPath, []byte("a secret key"), 0o600))
	key, err := os.Open(keyPath)
	require.NoError(t, err)
	defer key.Close()
	require.NoError(t, os.Symlink(".site.gen-x", filepath.Join(r.dir, ".site.link-y")))
	other := filepath.Join(r.dir, ".other.gen-x") // not the site's
	require.NoError(t, os.Mkdir(other, 0o700))

	r.start()
	assert.Empty(t, r.strays())
	b := make([]byte, 12)
	_, err = key.ReadAt(b, 0)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 12), b, "the stray key was removed but not wiped")
	assert.DirExists(t, other)
}

// snapshot lists every path under dir with its mode and contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() && !strings.Contains(path, "journal") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		m[path] = v
		return nil
	}))
	return m
}

func TestPrepareASpareWithAnEmptySiteDirectory(t *testing.T) {
	// An image may ship the site directory empty: Install replaces an
	// empty directory, and no site files are in it.
	r := newRig(t)
	require.NoError(t, os.Mkdir(r.siteDir, 0o755))
	run := r.start()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sp, err := run.client.Prepare(ctx, "")
	require.NoError(t, err)
	for _, it := range sp.SelfTest {
		assert.True(t, it.OK, "%s: %s", it.Name, it.Detail)
	}
	assert.True(t, sp.Ready)
	_, err = activate(t, run, api.ActivateRequest{Pack: r.sealWith(contents(testSite, 1), sitepack.SealOptions{Signer: r.dc, Recipient: sp.Recipient})})
	require.NoError(t, err)
	_, err = run.result(t)
	require.NoError(t, err)
	r.installedOK(testSite)
}

func TestBenchTestSiteRemoved(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(r *rig)
		ok    bool
	}{
		{"no site directory", func(r *rig) {}, true},
		{"an empty site directory", func(r *rig) { require.NoError(t, os.Mkdir(r.siteDir, 0o755)) }, true},
		{"a pack installed", func(r *rig) { r.installPack(testSite, 1) }, false},
		{"files in the site directory", func(r *rig) {
			require.NoError(t, os.Mkdir(r.siteDir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(r.siteDir, "site.yaml"), []byte("site: x\n"), 0o644))
		}, false},
		{"a generation left", func(r *rig) { require.NoError(t, os.Mkdir(filepath.Join(r.dir, ".site.gen-1"), 0o700)) }, false},
		{"a link left", func(r *rig) { require.NoError(t, os.Symlink(".site.gen-1", filepath.Join(r.dir, ".site.link-1"))) }, false},
		{"a dangling site link", func(r *rig) { require.NoError(t, os.Symlink(".site.gen-1", r.siteDir)) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tc.setup(r)
			items := BenchTest(r.prepareOptions())
			require.Equal(t, benchItems, itemNames(items))
			assert.Equal(t, tc.ok, items[0].OK, items[0].Detail)
		})
	}
}
