package sitepack

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allErrs are the refusals of Open; every error of Open wraps one.
var allErrs = []error{ErrTruncated, ErrMalformed, ErrVersion, ErrOversized, ErrTampered, ErrUnknownSigner, ErrWrongSite, ErrRollback, ErrDecrypt}

func isRefusal(err error) bool {
	for _, e := range allErrs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func TestRoundTripPassphrase(t *testing.T) {
	c := contents(testSite, 7)
	data := seal(t, c, dcKey)
	for _, typed := range []string{testPass, strings.ToUpper(testPass), strings.ReplaceAll(testPass, "-", ""), strings.ReplaceAll(testPass, "-", " ")} {
		o := verifyOpts()
		o.Passphrase = typed
		o.Site, o.MinSerial = testSite, 7
		p, err := Open(data, o)
		require.NoError(t, err, "passphrase typed as %q", typed)
		assert.Equal(t, c, p.Contents)
		assert.Equal(t, dcKey.Public(), p.Signer)
		assert.Equal(t, SealPassphrase, p.Sealing)
	}
}

func TestRoundTripNoOptionalSecrets(t *testing.T) {
	c := contents(testSite, 1)
	c.PairSecret, c.APIToken, c.UPSPassword = nil, nil, nil
	c.Unit = DatacenterUnit
	p, err := Open(seal(t, c, dcKey), verifyOpts())
	require.NoError(t, err)
	assert.Equal(t, c.Config, p.Config)
	assert.Empty(t, p.PairSecret)
	assert.Empty(t, p.APIToken)
	assert.Empty(t, p.UPSPassword)
	assert.Equal(t, DatacenterUnit, p.Unit)
}

func TestRoundTripUnitKey(t *testing.T) {
	spare, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	other, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	c := contents(testSite, 3)
	data, err := Seal(c, SealOptions{Signer: dcKey, Recipient: spare.Recipient().String()})
	require.NoError(t, err)

	p, err := Open(data, VerifyOptions{Trusted: trusted(), Identities: []age.Identity{other, spare}})
	require.NoError(t, err)
	assert.Equal(t, c, p.Contents)
	assert.Equal(t, SealX25519, p.Sealing)

	_, err = Open(data, VerifyOptions{Trusted: trusted(), Identities: []age.Identity{other}})
	require.ErrorIs(t, err, ErrDecrypt)
	assert.ErrorContains(t, err, "sealed to another unit")
	_, err = Open(data, VerifyOptions{Trusted: trusted(), Passphrase: testPass})
	require.ErrorIs(t, err, ErrDecrypt)
	assert.ErrorContains(t, err, "this unit has none")
}

// TestRefusals opens bad packs the way `spare activate` will, on a unit
// with serial 5 installed, and checks each refusal and that nothing under
// the install directory changed.
func TestRefusals(t *testing.T) {
	good := seal(t, contents(testSite, 6), dcKey)
	// offset of the payload length: magic, version, sealing, site, unit, serial, created.
	payloadLen := len(Magic) + 2 + 1 + len(testSite) + 1 + 1 + 8 + 8
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		data []byte
		opts func(*VerifyOptions)
		want error
		msg  string
	}{
		{name: "empty", data: nil, want: ErrTruncated, msg: "ends inside magic"},
		{name: "truncated by one byte", data: good[:len(good)-1], want: ErrTruncated, msg: "ends inside signature"},
		{name: "truncated in the payload", data: good[:payloadLen+40], want: ErrTruncated, msg: "ends inside payload"},
		{name: "garbled", data: []byte("site: hamamatsu-honcho\nthis is a yaml file, not a pack\n"), want: ErrMalformed, msg: "not a site pack"},
		{name: "trailing byte", data: append(append([]byte(nil), good...), 0), want: ErrMalformed, msg: "1 bytes after the signature"},
		{name: "tampered payload", data: mod(func(b []byte) []byte { b[payloadLen+100] ^= 0x01; return b }), want: ErrTampered, msg: "changed after signing"},
		{name: "tampered serial", data: mod(func(b []byte) []byte { b[payloadLen-9]++; return b }), want: ErrTampered},
		{name: "tampered signature", data: mod(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), want: ErrTampered},
		{name: "unknown signer", data: seal(t, contents(testSite, 6), otherKey), want: ErrUnknownSigner, msg: "not among the 2 trusted keys"},
		{name: "no trusted keys", data: good, opts: func(o *VerifyOptions) { o.Trusted = nil }, want: ErrUnknownSigner},
		{name: "wrong site", data: seal(t, contents("kosai-shiyakusho", 6), dcKey), want: ErrWrongSite, msg: `for site "kosai-shiyakusho", this unit is site "hamamatsu-honcho"`},
		{name: "rollback", data: seal(t, contents(testSite, 4), dcKey), want: ErrRollback, msg: "serial is 4, the installed pack's is 5"},
		{name: "wrong passphrase", data: good, opts: func(o *VerifyOptions) { o.Passphrase = "wrong-wrong-wrong-wrong" }, want: ErrDecrypt, msg: "wrong passphrase"},
		{name: "no passphrase", data: good, opts: func(o *VerifyOptions) { o.Passphrase = "" }, want: ErrDecrypt, msg: "none was given"},
		{name: "unknown version", data: mod(func(b []byte) []byte { b[len(Magic)] = 2; return b }), want: ErrVersion, msg: "version is 2; this firmware reads version 1"},
		{name: "oversized file", data: make([]byte, MaxPackSize+1), want: ErrOversized, msg: "the limit is"},
		{name: "oversized payload length", data: mod(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[payloadLen:], 0xffffffff)
			return b
		}), want: ErrOversized, msg: "payload is 4294967295 bytes"},
		{name: "oversized site length", data: mod(func(b []byte) []byte { b[len(Magic)+2] = 200; return b }), want: ErrOversized, msg: "site is 200 bytes, the limit is 63"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent, dir := installed(t)
			before := snapshot(t, parent)
			o := verifyOpts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			err := activate(tc.data, o, dir)
			require.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, tc.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "sitepack: "), "error %q starts with the package name", err)
			assert.NotContains(t, err.Error(), testPass)
			assert.Equal(t, before, snapshot(t, parent), "a refused pack changes nothing")
			rec, err := Installed(dir)
			require.NoError(t, err)
			assert.Equal(t, uint64(5), rec.Serial)
		})
	}
}

// TestEveryByteFlip flips each byte of a small pack in turn (every bit,
// then the whole byte) and cuts it at every length: each must be refused
// with one of the refusals, never accepted and never a panic. Once for a
// pack the datacenter signed, once for one signed by a certified export
// key (where a flip in the cert is refused as an unknown signer).
func TestEveryByteFlip(t *testing.T) {
	c := contents(testSite, 2)
	c.Config = []byte("site: x\n")
	c.PairSecret, c.APIToken, c.UPSPassword = nil, nil, nil
	t.Run("datacenter", func(t *testing.T) { everyByteFlip(t, seal(t, c, dcKey)) })
	t.Run("certified", func(t *testing.T) { everyByteFlip(t, sealExport(t, c)) })
}

func everyByteFlip(t *testing.T, data []byte) {
	_, err := Open(data, verifyOpts())
	require.NoError(t, err, "the unflipped pack opens")
	t.Logf("pack of %d bytes", len(data))
	counts := map[string]int{}
	for i := range data {
		for _, mask := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff} {
			b := append([]byte(nil), data...)
			b[i] ^= mask
			_, err := Open(b, verifyOpts())
			if !isRefusal(err) {
				t.Fatalf("byte %d ^ %#02x: Open = %v, want a refusal", i, mask, err)
			}
			for _, e := range allErrs {
				if errors.Is(err, e) {
					counts[e.Error()]++
				}
			}
		}
	}
	for n := range len(data) {
		if _, err := Open(data[:n], verifyOpts()); !isRefusal(err) {
			t.Fatalf("cut at %d: Open = %v, want a refusal", n, err)
		}
	}
	t.Logf("refusals by kind: %v", counts)
	assert.Positive(t, counts[ErrTampered.Error()])
	assert.Positive(t, counts[ErrUnknownSigner.Error()])
}

func TestSealRefusesBadContents(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Contents, *SealOptions)
		msg  string
	}{
		{"site", func(c *Contents, _ *SealOptions) { c.Site = "Hamamatsu" }, "site:"},
		{"unit", func(c *Contents, _ *SealOptions) { c.Unit = "" }, "unit:"},
		{"serial", func(c *Contents, _ *SealOptions) { c.Serial = 0 }, "serial:"},
		{"created", func(c *Contents, _ *SealOptions) { c.Created = time.Time{} }, "created:"},
		{"empty config", func(c *Contents, _ *SealOptions) { c.Config = nil }, "config:"},
		{"big config", func(c *Contents, _ *SealOptions) { c.Config = make([]byte, MaxConfig+1) }, "config:"},
		{"key", func(c *Contents, _ *SealOptions) { c.WireGuardKey = [32]byte{} }, "WireGuard key:"},
		{"short pair secret", func(c *Contents, _ *SealOptions) { c.PairSecret = []byte("short") }, "pair secret: 5 bytes"},
		{"token with a space", func(c *Contents, _ *SealOptions) {
			c.APIToken = []byte(strings.Repeat("a", 20) + " " + strings.Repeat("b", 20))
		}, "API token: holds whitespace"},
		{"UPS password with a line break", func(c *Contents, _ *SealOptions) { c.UPSPassword = []byte("pass\nword") }, "UPS password: holds a line break"},
		{"no signer", func(_ *Contents, o *SealOptions) { o.Signer = nil }, "signer:"},
		{"short passphrase", func(_ *Contents, o *SealOptions) { o.Passphrase = "abcd-efgh-ijkl" }, "passphrase: 12 characters"},
		{"both", func(_ *Contents, o *SealOptions) { o.Recipient = "age1x" }, "not both"},
		{"neither", func(_ *Contents, o *SealOptions) { o.Passphrase = "" }, "set a passphrase or a recipient"},
		{"bad recipient", func(_ *Contents, o *SealOptions) { o.Passphrase, o.Recipient = "", "age1nope" }, "recipient:"},
		{"export key without cert", func(c *Contents, _ *SealOptions) { c.ExportCert = nil }, "export cert: not set, and the export key is"},
		{"export cert without key", func(c *Contents, _ *SealOptions) { c.ExportKey = nil }, "export key: not set, and the export cert is"},
		{"export key of 32 bytes", func(c *Contents, _ *SealOptions) { c.ExportKey = c.ExportKey[:32] }, "export key: 32 bytes"},
		{"export key halves", func(c *Contents, _ *SealOptions) {
			c.ExportKey = append(append(ed25519.PrivateKey(nil), c.ExportKey.Seed()...), pub(otherKey)...)
		}, "export key: its public half does not match"},
		{"export cert of 5 bytes", func(c *Contents, _ *SealOptions) { c.ExportCert = c.ExportCert[:5] }, "export cert: 5 bytes"},
		{"cert of 5 bytes", func(_ *Contents, o *SealOptions) { o.Cert = make([]byte, 5) }, "cert: 5 bytes; want none or 64"},
		{"export key signs without its cert", func(c *Contents, o *SealOptions) { o.Signer = c.ExportKey }, "the signer is the site's export key and no cert is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := contents(testSite, 1)
			o := SealOptions{Signer: dcKey, Passphrase: testPass}
			tc.edit(&c, &o)
			_, err := Seal(c, o)
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.msg)
			assert.NotContains(t, err.Error(), testPass)
		})
	}
}

// TestSealEmptyExportKey: an empty but non-nil export key and cert mean
// none, as nil does.
func TestSealEmptyExportKey(t *testing.T) {
	c := contents(testSite, 1)
	c.ExportKey, c.ExportCert = ed25519.PrivateKey{}, []byte{}
	data, err := Seal(c, SealOptions{Signer: dcKey, Cert: []byte{}, Passphrase: testPass})
	require.NoError(t, err)
	p, err := Open(data, verifyOpts())
	require.NoError(t, err)
	assert.Nil(t, p.ExportKey)
	assert.Nil(t, p.ExportCert)
	assert.False(t, p.Certified)
}

func TestSecretsStayOutOfStrings(t *testing.T) {
	c := contents(testSite, 1)
	p, err := Open(seal(t, c, dcKey), verifyOpts())
	require.NoError(t, err)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprintf("%v", *p), fmt.Sprint(c)} {
		assert.Contains(t, s, "site pack hamamatsu-honcho serial 1")
		assert.NotContains(t, s, string(c.PairSecret))
		assert.NotContains(t, s, string(c.APIToken))
		assert.NotContains(t, s, string(c.UPSPassword))
		assert.NotContains(t, s, "wg-key")
		assert.NotContains(t, s, string(c.ExportKey.Seed()))
		assert.NotContains(t, s, base64.StdEncoding.EncodeToString(c.ExportKey.Seed()))
		assert.Contains(t, s, "export key true")
	}
}

func TestNewPassphrase(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p := NewPassphrase()
		require.Len(t, p, 24)
		require.Equal(t, 4, strings.Count(p, "-"))
		for _, r := range strings.ReplaceAll(p, "-", "") {
			require.Contains(t, passphraseAlphabet, string(r))
		}
		require.False(t, seen[p], "passphrase repeated")
		seen[p] = true
	}
	assert.Len(t, passphraseAlphabet, 32)
}

// TestScryptWorkFactor seals at the real work factor (the others run at a
// cheap one) and checks Open refuses one above its limit, which would ask
// more memory than the board has.
func TestScryptWorkFactor(t *testing.T) {
	saved := scryptWorkFactor
	t.Cleanup(func() { scryptWorkFactor = saved })
	for _, tc := range []struct {
		logN int
		ok   bool
	}{{15, true}, {scryptMaxWorkFactor + 1, false}} {
		scryptWorkFactor = tc.logN
		_, err := Open(seal(t, contents(testSite, 1), dcKey), verifyOpts())
		if tc.ok {
			require.NoError(t, err, "work factor 2^%d", tc.logN)
		} else {
			require.ErrorIs(t, err, ErrDecrypt, "work factor 2^%d", tc.logN)
		}
	}
}
