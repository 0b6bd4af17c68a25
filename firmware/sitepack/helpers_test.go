package sitepack

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testSite = "hamamatsu-honcho"
	testPass = "k3m9-x7qa-d2rt-pw5z-hh4n"
)

// testKey is a fixed ed25519 key named by seed.
func testKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func init() {
	// 2^10 instead of 2^15: the same code, 30 times faster under -race.
	scryptWorkFactor = 10
}

var (
	dcKey    = testKey("datacenter")
	dcOldKey = testKey("datacenter, the key before")
	otherKey = testKey("someone else")
)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// trusted is what a unit's image trusts: the datacenter's keys, the
// current one and the one before it, and no unit's key.
func trusted() []ed25519.PublicKey {
	return []ed25519.PublicKey{pub(dcOldKey), pub(dcKey)}
}

// exportKey is site's export key, as the datacenter made it.
func exportKey(site string) ed25519.PrivateKey { return testKey("export key of " + site) }

func mustCertify(by ed25519.PrivateKey, site string, export ed25519.PrivateKey) []byte {
	cert, err := Certify(by, site, pub(export))
	if err != nil {
		panic(err)
	}
	return cert
}

// sealExport seals c as `site export` does: signed by the site's export
// key carried in c, with its cert.
func sealExport(t testing.TB, c Contents) []byte {
	t.Helper()
	data, err := Seal(c, SealOptions{Signer: c.ExportKey, Cert: c.ExportCert, Passphrase: testPass})
	require.NoError(t, err)
	return data
}

// resign edits a pack's header and signs it again with signer, to build
// packs Seal will not.
func resign(t testing.TB, data []byte, signer ed25519.PrivateKey, edit func(h *header)) []byte {
	t.Helper()
	h, err := parseHeader(data)
	require.NoError(t, err)
	edit(h)
	h.signer = pub(signer)
	b := appendHeader(nil, h)
	return append(b, ed25519.Sign(signer, b)...)
}

// contents is a full pack's contents for site at serial.
func contents(site string, serial uint64) Contents {
	var k [32]byte
	copy(k[:], fmt.Sprintf("wg-key-%s-%d-0123456789abcdefghij", site, serial))
	return Contents{
		Site: site, Unit: "a", Serial: serial,
		Created:      time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC),
		Config:       []byte(fmt.Sprintf("site: %s\n# serial %d\ntunnel:\n  private_key_file: keys/site.key\n", site, serial)),
		WireGuardKey: k,
		PairSecret:   []byte(fmt.Sprintf("pair-secret-%d-0123456789abcdefghijklmnop", serial)),
		APIToken:     []byte(fmt.Sprintf("api-token-%d-0123456789abcdefghijklmnopqr", serial)),
		UPSPassword:  []byte(fmt.Sprintf("ups pass %d", serial)),
		ExportKey:    exportKey(site),
		ExportCert:   mustCertify(dcKey, site, exportKey(site)),
	}
}

func seal(t testing.TB, c Contents, signer ed25519.PrivateKey) []byte {
	t.Helper()
	data, err := Seal(c, SealOptions{Signer: signer, Passphrase: testPass})
	require.NoError(t, err)
	return data
}

func verifyOpts() VerifyOptions {
	return VerifyOptions{Trusted: trusted(), Passphrase: testPass}
}

// activate is what `spare activate` will do: check against what is
// installed, open, install.
func activate(data []byte, o VerifyOptions, dir string) error {
	rec, err := Installed(dir)
	switch {
	case err == nil:
		o.Site, o.MinSerial = rec.Site, rec.Serial
	case !errors.Is(err, ErrNotInstalled):
		return err
	}
	p, err := Open(data, o)
	if err != nil {
		return err
	}
	return Install(p, dir)
}

// snapshot describes everything under parent: names, modes, link targets
// and contents, so a test can prove nothing changed.
func snapshot(t *testing.T, parent string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(parent, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(parent, path)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			m[rel] = "-> " + target
		case fi.IsDir():
			m[rel] = fi.Mode().String()
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			m[rel] = fi.Mode().String() + " " + string(b)
		}
		return nil
	})
	require.NoError(t, err)
	return m
}

// installed sets up parent/site with the pack of serial 5.
func installed(t *testing.T) (parent, dir string) {
	t.Helper()
	parent = t.TempDir()
	dir = filepath.Join(parent, "site")
	require.NoError(t, activate(seal(t, contents(testSite, 5), dcKey), verifyOpts(), dir))
	return parent, dir
}

// strays lists the generation directories and links beside dir.
func strays(t *testing.T, parent string) []string {
	t.Helper()
	ents, err := os.ReadDir(parent)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}
