package sitepack

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCertifiedPackOpens: a pack signed by a site's export key opens on a
// unit that trusts only the datacenter's keys, when the export key's cert
// is from one of them; Pack says which vouched and how.
func TestCertifiedPackOpens(t *testing.T) {
	for _, tc := range []struct {
		name      string
		signer    ed25519.PrivateKey
		cert      []byte
		authority ed25519.PublicKey
		certified bool
	}{
		{"datacenter", dcKey, nil, pub(dcKey), false},
		{"datacenter, the key before", dcOldKey, nil, pub(dcOldKey), false},
		{"export key", exportKey(testSite), mustCertify(dcKey, testSite, exportKey(testSite)), pub(dcKey), true},
		{"export key certified by the key before", testKey("older export"), mustCertify(dcOldKey, testSite, testKey("older export")), pub(dcOldKey), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := contents(testSite, 6)
			data, err := Seal(c, SealOptions{Signer: tc.signer, Cert: tc.cert, Passphrase: testPass})
			require.NoError(t, err)
			o := verifyOpts()
			o.Site, o.MinSerial = testSite, 5
			p, err := Open(data, o)
			require.NoError(t, err)
			assert.Equal(t, c, p.Contents)
			assert.Equal(t, pub(tc.signer), p.Signer)
			assert.Equal(t, tc.authority, p.Authority)
			assert.Equal(t, tc.certified, p.Certified)
		})
	}
}

// TestCertRefusals opens packs whose signer is not trusted and whose cert
// does not make it so, on a unit with serial 5 installed: each is refused
// before the signature is checked, and nothing changes.
func TestCertRefusals(t *testing.T) {
	exp := exportKey(testSite)
	goodCert := mustCertify(dcKey, testSite, exp)
	sealWith := func(signer ed25519.PrivateKey, cert []byte) []byte {
		c := contents(testSite, 6)
		c.ExportKey, c.ExportCert = signer, cert
		if cert == nil {
			c.ExportKey = nil
		}
		data, err := Seal(c, SealOptions{Signer: signer, Cert: cert, Passphrase: testPass})
		require.NoError(t, err)
		return data
	}
	flipped := append([]byte(nil), goodCert...)
	flipped[10] ^= 0x04
	badContentsCert := contents(testSite, 6)
	badContentsCert.ExportCert = mustCertify(otherKey, testSite, exp)
	for _, tc := range []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"cert by an untrusted key", sealWith(exp, mustCertify(otherKey, testSite, exp)), ErrUnknownSigner, `its cert does not verify under any of them for site "hamamatsu-honcho"`},
		{"cert for another site", sealWith(exp, mustCertify(dcKey, "kosai-shiyakusho", exp)), ErrUnknownSigner, "for another site"},
		{"cert for another export key", sealWith(exp, mustCertify(dcKey, testSite, testKey("another export"))), ErrUnknownSigner, "for another export key"},
		{"cert bytes flipped", sealWith(exp, flipped), ErrUnknownSigner, "cert does not verify"},
		{"export key without cert", seal(t, contents(testSite, 6), testKey("export key of kosai-shiyakusho")), ErrUnknownSigner, "not among the 2 trusted keys and the pack has no cert"},
		{"cert length 5", resign(t, sealExport(t, contents(testSite, 6)), exp, func(h *header) { h.cert = make([]byte, 5) }), ErrMalformed, "cert is 5 bytes, want 0 or 64"},
		{"cert length 65", resign(t, sealExport(t, contents(testSite, 6)), exp, func(h *header) { h.cert = make([]byte, 65) }), ErrMalformed, "cert is 65 bytes"},
		{"trusted key with a cert", resign(t, seal(t, contents(testSite, 6), dcKey), dcKey, func(h *header) { h.cert = mustCertify(dcKey, testSite, dcKey) }), ErrMalformed, "a trusted key signs without one"},
		{"contents' export cert not from a trusted key", seal(t, badContentsCert, dcKey), ErrMalformed, "the export key's cert verifies under none of the 2 trusted keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, dir := installed(t)
			before := snapshot(t, parent)
			err := activate(tc.data, verifyOpts(), dir)
			require.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, tc.msg)
			assert.Equal(t, before, snapshot(t, parent), "a refused pack changes nothing")
		})
	}
}

func TestCertify(t *testing.T) {
	key, cert, err := NewExportKey(dcKey, testSite)
	require.NoError(t, err)
	require.Len(t, cert, CertSize)
	assert.Equal(t, pub(dcKey), certAuthority(trusted(), testSite, pub(key), cert))
	assert.Nil(t, certAuthority(trusted(), "kosai-shiyakusho", pub(key), cert))
	again, err := Certify(dcKey, testSite, pub(key))
	require.NoError(t, err)
	assert.Equal(t, cert, again, "ed25519 is deterministic")
	// The message is the documented one, byte for byte.
	msg := "shisapk-export-cert\n" + string(rune(len(testSite))) + testSite + string(pub(key))
	assert.True(t, ed25519.Verify(pub(dcKey), []byte(msg), cert))

	for _, tc := range []struct {
		name   string
		dc     ed25519.PrivateKey
		site   string
		export ed25519.PublicKey
		msg    string
	}{
		{"bad site", dcKey, "Hamamatsu", pub(key), "site:"},
		{"no site", dcKey, "", pub(key), "site:"},
		{"no datacenter key", nil, testSite, pub(key), "the datacenter key is not"},
		{"short export key", dcKey, testSite, pub(key)[:31], "the export key is not"},
	} {
		_, err := Certify(tc.dc, tc.site, tc.export)
		require.ErrorContains(t, err, tc.msg, tc.name)
	}
	_, _, err = NewExportKey(dcKey, "Bad Site")
	require.ErrorContains(t, err, "site:")
}

func TestPrivateKeyFormat(t *testing.T) {
	k := testKey("a key")
	line := FormatPrivateKey(k)
	assert.Equal(t, base64.StdEncoding.EncodeToString(k.Seed())+"\n", string(line))
	got, err := ParsePrivateKey(line)
	require.NoError(t, err)
	assert.Equal(t, k, got)
	got, err = ParsePrivateKey([]byte("  " + strings.TrimSpace(string(line)) + "\r\n"))
	require.NoError(t, err)
	assert.Equal(t, k, got)
	assert.Equal(t, base64.StdEncoding.EncodeToString(pub(k)), FormatPublicKey(pub(k)))

	for name, in := range map[string]string{
		"empty":     "",
		"not b64":   "c2VjcmV0LX!!!\n",
		"short":     base64.StdEncoding.EncodeToString(k.Seed()[:31]) + "\n",
		"whole key": base64.StdEncoding.EncodeToString(k) + "\n",
		"two lines": string(line) + string(line),
	} {
		_, err := ParsePrivateKey([]byte(in))
		require.Error(t, err, name)
		if len(in) > 8 {
			assert.NotContains(t, err.Error(), strings.TrimSpace(in)[:8], name)
		}
	}
}

func TestLoadTrusted(t *testing.T) {
	write := func(dir, name, data string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	dir := t.TempDir()
	write(dir, "dc-2026.pub", "# the datacenter, from 2026\n"+FormatPublicKey(pub(dcKey))+"\n")
	write(dir, "dc-2024.pub", FormatPublicKey(pub(dcOldKey)))
	write(dir, "README", "not a key")
	keys, err := LoadTrusted(dir)
	require.NoError(t, err)
	assert.Equal(t, []ed25519.PublicKey{pub(dcOldKey), pub(dcKey)}, keys)

	for _, tc := range []struct{ name, data, msg string }{
		{"not base64", "nope\n", "line 1: not a base64 32-byte ed25519 public key"},
		{"private key", "# oops\n" + base64.StdEncoding.EncodeToString(dcKey) + "\n", "line 2: not a base64 32-byte"},
		{"two keys", FormatPublicKey(pub(dcKey)) + "\n" + FormatPublicKey(pub(dcOldKey)) + "\n", "line 2: a second key"},
		{"only comments", "# nothing here\n\n", "no key in the file"},
		{"too big", strings.Repeat("#", maxTrustedFile+1), "over 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(dir, "good.pub", FormatPublicKey(pub(dcKey)))
			write(dir, "bad.pub", tc.data)
			_, err := LoadTrusted(dir)
			require.ErrorContains(t, err, filepath.Join(dir, "bad.pub"))
			require.ErrorContains(t, err, tc.msg)
		})
	}

	empty := t.TempDir()
	write(empty, "dc.pub.bak", FormatPublicKey(pub(dcKey)))
	_, err = LoadTrusted(empty)
	require.ErrorContains(t, err, "no trusted datacenter key in "+empty+": the image is incomplete")
	_, err = LoadTrusted(filepath.Join(empty, "missing"))
	require.Error(t, err)
}
