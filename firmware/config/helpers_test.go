package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Public keys of testdata/keys/dc1.key and dc2.key (test-only keys).
const (
	dc1Pub  = "DbfQ0V2VyGdFhamQWWwu8oaTZDbazF8kSRYJNP0CB2U="
	dc2Pub  = "yh+miyClMepZjmn6flQ3bYv9hqeY0RW9hphHgjc1glM="
	sitePub = "bFkZz6dphiriU5MgMxVJ869CiN7MsETflMS5kB0BoFk="
)

// base is a small valid config; the error tables edit it line by line, so
// its line numbers matter: keep them in step with the tables.
const base = `site: hamamatsu-honcho
unit: a
wan:
  interface: eth0
lan:
  interface: eth1
tunnel:
  private_key_file: site.key
  address: 10.99.1.2/32
  routes:
    - 10.20.0.0/16
  endpoints:
    - name: dc1
      endpoint: dc1.example.jp:51820
      public_key: ` + dc1Pub + `
      probe: 10.20.0.1
    - name: dc2
      endpoint: 198.51.100.7:51820
      public_key: ` + dc2Pub + `
      probe: 10.20.0.2
`

// copyExample copies testdata/site.example.yaml and its keys into a fresh
// directory, the keys with mode 0600 (git keeps them 0644), and returns
// the config's path there.
func copyExample(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "keys"), 0o700))
	data, err := os.ReadFile("../../testdata/site.example.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.yaml"), data, 0o644))
	for _, name := range []string{"site.key", "api.token", "pair.secret"} {
		key, err := os.ReadFile("../../testdata/keys/" + name)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "keys", name), key, 0o600))
	}
	return filepath.Join(dir, "site.yaml")
}

// siteDir makes a directory holding the test site key as site.key and the
// test pair secret as pair.secret (both 0600) and returns the path a config
// in it would have.
func siteDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	key, err := os.ReadFile("../../testdata/keys/site.key")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.key"), key, 0o600))
	secret, err := os.ReadFile("../../testdata/keys/pair.secret")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pair.secret"), secret, 0o600))
	return filepath.Join(dir, "site.yaml")
}

// edit replaces old with new in s once, failing if old is not there.
func edit(t testing.TB, s, old, new string) string {
	t.Helper()
	require.Contains(t, s, old, "test edit does not apply")
	return strings.Replace(s, old, new, 1)
}

func fixedHost(h string) func() (string, error) {
	return func() (string, error) { return h, nil }
}
