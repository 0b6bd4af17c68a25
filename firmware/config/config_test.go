package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
	"gopkg.in/yaml.v3"
)

func TestExampleLoads(t *testing.T) {
	path := copyExample(t)
	s, err := Load(path)
	require.NoError(t, err)

	yes, no := true, false
	want := &Site{
		Site:     "hamamatsu-honcho",
		Unit:     "a",
		TimeZone: "Asia/Tokyo",
		WAN:      Interface{Interface: "eth0"},
		LAN:      Interface{Interface: "eth1"},
		Tunnel: Tunnel{
			Interface:           "wg-shisa",
			Backend:             BackendAuto,
			PrivateKeyFile:      filepath.Join(filepath.Dir(path), "keys", "site.key"),
			ListenPort:          51820,
			Address:             netip.MustParsePrefix("10.99.1.2/24"),
			ManagementAddress:   netip.MustParseAddr("10.99.1.2"),
			MTU:                 1420,
			Routes:              []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("10.30.0.0/24")},
			PersistentKeepalive: Duration(10 * time.Second),
			Endpoints: []Endpoint{
				{Name: "dc1", Endpoint: "dc1.example.jp:51820", PublicKey: dc1Pub, Probe: netip.MustParseAddr("10.20.0.1"), key: mustKey(t, dc1Pub)},
				{Name: "dc2", Endpoint: "198.51.100.7:51820", PublicKey: dc2Pub, Probe: netip.MustParseAddr("10.20.0.2"), key: mustKey(t, dc2Pub)},
			},
			Failback: &yes,
		},
		Probe: Probe{
			Interval:         Duration(500 * time.Millisecond),
			Timeout:          Duration(500 * time.Millisecond),
			Misses:           3,
			Rise:             3,
			HandshakeTimeout: Duration(180 * time.Second),
			HoldDown:         Duration(60 * time.Second),
			Targets:          []string{"portal.city.example.jp:443", "10.20.1.10:5432"},
		},
		API:     API{Socket: "/run/shisa/shisad.sock"},
		Journal: Journal{Dir: "/var/lib/shisa/journal", MaxBytes: 16 << 20},
		Watchdog: Watchdog{DeviceTimeout: Duration(30 * time.Second), SafeModeAfter: 5,
			SafeModeWindow: Duration(10 * time.Minute), GoodAfter: Duration(60 * time.Second)},
		Health:    Health{Port: 8080, TokenFile: filepath.Join(filepath.Dir(path), "keys", "api.token"), AlsoListen: []string{}},
		TimeSync:  TimeSync{Servers: []string{"10.20.0.123"}, MaxOffset: Duration(500 * time.Millisecond), Interval: Duration(15 * time.Minute)},
		SelfCheck: SelfCheck{At: "03:00", MinFreeBytes: 8 << 20, MaxTemperature: 85},
		Pair: Pair{
			Address:  netip.MustParseAddr("192.168.10.2"),
			Units:    []netip.Addr{netip.MustParseAddr("192.168.10.2"), netip.MustParseAddr("192.168.10.3")},
			Priority: 200, SecretFile: filepath.Join(filepath.Dir(path), "keys", "pair.secret"),
			VirtualIP: netip.MustParsePrefix("192.168.10.1/24"), Port: 5405,
			Interval: Duration(10 * time.Millisecond), DeadMultiplier: 15,
			Preempt: &no, PreemptDelay: Duration(30 * time.Second),
		},
		Power: Power{Grace: Duration(2 * time.Minute), Lead: Duration(5 * time.Minute), StepTimeout: Duration(5 * time.Second),
			Budget: Duration(30 * time.Second), RebootAfter: Duration(2 * time.Minute), StateDir: "/var/lib/shisa/power",
			WakeAlarm: "/sys/class/rtc/rtc0/wakealarm"},
		UPS: UPS{Source: "none", OffDelay: Duration(20 * time.Second), OnDelay: Duration(30 * time.Second),
			NUT: NUT{Address: "127.0.0.1:3493", Name: "ups", User: "shisa", PasswordFile: filepath.Join(filepath.Dir(path), "keys", "nut.password"), Interval: Duration(time.Second)},
			Contacts: Contacts{OnBattery: "GPIO17", LowBattery: "GPIO27", Kill: "GPIO22", ActiveLow: ptr(true),
				Debounce: Duration(50 * time.Millisecond), KillPulse: Duration(time.Second), CutsWithMains: ptr(false)}},
		Path: path,
	}
	assert.Equal(t, "Asia/Tokyo", s.Location().String(), "the zone is loaded once, at validation")
	s.loc = nil // compared above; a *time.Location holds caches
	assert.Equal(t, want, s)
	assert.False(t, s.SharedKey())

	k, err := s.PrivateKey()
	require.NoError(t, err)
	assert.Equal(t, sitePub, k.PublicKey().String())
	assert.Equal(t, dc2Pub, s.Tunnel.Endpoints[1].Key().String())
}

// The example file writes every value at its default where there is one,
// so loading it with the defaulted keys removed must give the same Site.
func TestExampleValuesAreDefaults(t *testing.T) {
	path := copyExample(t)
	full, err := Load(path)
	require.NoError(t, err)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var kept []string
	for line := range strings.Lines(string(data)) {
		key := strings.TrimSpace(strings.SplitN(line, ":", 2)[0])
		switch key {
		case "time_zone", "interface", "backend", "listen_port", "management_address", "mtu",
			"persistent_keepalive", "failback", "interval", "timeout", "misses", "rise",
			"handshake_timeout", "hold_down", "api", "socket", "journal", "dir", "max_bytes":
			if key == "interface" && strings.HasPrefix(line, "  interface: eth") {
				break // wan and lan have no default
			}
			continue
		}
		kept = append(kept, line)
	}
	s, err := Parse(path, []byte(strings.Join(kept, "")))
	require.NoError(t, err)
	assert.Equal(t, full, s)
}

func mustKey(t testing.TB, s string) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.ParseKey(s)
	require.NoError(t, err)
	return k
}

// yamlPaths lists every key reachable from t, lists of mappings written
// as "name[]": "tunnel.endpoints[].name".
func yamlPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		name := yamlName(t.Field(i))
		if name == "" {
			continue
		}
		p := join(prefix, name)
		out = append(out, p)
		ft := t.Field(i).Type
		switch {
		case ft.Kind() == reflect.Struct && ft != prefixType && ft != addrType:
			out = append(out, yamlPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && ft.Elem() != prefixType:
			out = append(out, yamlPaths(ft.Elem(), p+"[]")...)
		}
	}
	return out
}

// nodePaths lists the keys written in a YAML mapping, as yamlPaths does.
func nodePaths(n *yaml.Node, prefix string) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		p := join(prefix, n.Content[i].Value)
		out = append(out, p)
		switch v := n.Content[i+1]; v.Kind {
		case yaml.MappingNode:
			out = append(out, nodePaths(v, p)...)
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item.Kind == yaml.MappingNode {
					out = append(out, nodePaths(item, p+"[]")...)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestEveryKeyDocumented(t *testing.T) {
	keys := yamlPaths(reflect.TypeFor[Site](), "")
	slices.Sort(keys)
	require.Contains(t, keys, "tunnel.endpoints[].public_key")

	t.Run("example", func(t *testing.T) {
		data, err := os.ReadFile("../../testdata/site.example.yaml")
		require.NoError(t, err)
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal(data, &doc))
		assert.Equal(t, keys, nodePaths(doc.Content[0], ""), "keys in testdata/site.example.yaml")

		// Every key line has a comment on it or just above it.
		lines := strings.Split(string(data), "\n")
		keyRE := regexp.MustCompile(`^\s*(- )?[a-z_]+:`)
		for i, l := range lines {
			if !keyRE.MatchString(l) || strings.Contains(l, "#") {
				continue
			}
			assert.True(t, i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#"),
				"site.example.yaml:%d: %q has no comment", i+1, l)
		}
	})

	t.Run("readme", func(t *testing.T) {
		data, err := os.ReadFile("../../README.md")
		require.NoError(t, err)
		_, rest, ok := strings.Cut(string(data), "<!-- config-reference:start -->")
		require.True(t, ok, "README.md has no config-reference:start marker")
		block, _, ok := strings.Cut(rest, "<!-- config-reference:end -->")
		require.True(t, ok, "README.md has no config-reference:end marker")
		for _, k := range keys {
			assert.Contains(t, block, "`"+k+"`", "README.md configuration reference lacks %s", k)
		}
		// And the table lists no key that does not exist.
		rowRE := regexp.MustCompile("(?m)^\\| `([^`]+)`")
		for _, m := range rowRE.FindAllStringSubmatch(block, -1) {
			assert.Contains(t, keys, m[1], "README.md documents a key the config does not have")
		}
	})
}

func TestDefaults(t *testing.T) {
	path := siteDir(t)
	noUnit := edit(t, base, "unit: a\n", "")
	s, err := Options{Hostname: fixedHost("GW_01.Example.jp")}.Parse(path, []byte(noUnit))
	require.NoError(t, err)

	assert.Equal(t, "gw-01-example-jp", s.Unit)
	assert.Equal(t, "Asia/Tokyo", s.TimeZone)
	assert.Equal(t, "wg-shisa", s.Tunnel.Interface)
	assert.Equal(t, BackendAuto, s.Tunnel.Backend)
	assert.Equal(t, 51820, s.Tunnel.ListenPort)
	assert.Equal(t, 1420, s.Tunnel.MTU)
	assert.Equal(t, 10*time.Second, s.Tunnel.PersistentKeepalive.D())
	require.NotNil(t, s.Tunnel.Failback)
	assert.True(t, *s.Tunnel.Failback)
	assert.Equal(t, netip.MustParseAddr("10.99.1.2"), s.Tunnel.ManagementAddress)
	assert.Equal(t, 500*time.Millisecond, s.Probe.Interval.D())
	assert.Equal(t, 500*time.Millisecond, s.Probe.Timeout.D())
	assert.Equal(t, 3, s.Probe.Misses)
	assert.Equal(t, 3, s.Probe.Rise)
	assert.Equal(t, 180*time.Second, s.Probe.HandshakeTimeout.D())
	assert.Equal(t, 60*time.Second, s.Probe.HoldDown.D())
	assert.Empty(t, s.Probe.Targets)
	assert.Equal(t, "/run/shisa/shisad.sock", s.API.Socket)
	assert.Equal(t, "/var/lib/shisa/journal", s.Journal.Dir)
	assert.Equal(t, int64(16<<20), s.Journal.MaxBytes)

	// The real host name, sanitized, when no Hostname is given.
	s, err = Parse(path, []byte(noUnit))
	host, herr := os.Hostname()
	if herr == nil && nameRE.MatchString(sanitizeName(host)) {
		require.NoError(t, err)
		assert.Equal(t, sanitizeName(host), s.Unit)
	}

	// The timeout follows a configured interval; zeros that mean "off" stay.
	cfg := base + "probe:\n  interval: 2s\n  hold_down: 0s\n"
	cfg = edit(t, cfg, "  address:", "  listen_port: 0\n  persistent_keepalive: 0s\n  failback: false\n  address:")
	s, err = Parse(path, []byte(cfg))
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, s.Probe.Timeout.D())
	assert.Equal(t, time.Duration(0), s.Probe.HoldDown.D())
	assert.Equal(t, 0, s.Tunnel.ListenPort)
	assert.Equal(t, time.Duration(0), s.Tunnel.PersistentKeepalive.D())
	require.NotNil(t, s.Tunnel.Failback)
	assert.False(t, *s.Tunnel.Failback)
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"gw1":                   "gw1",
		"GW_01.example":         "gw-01-example",
		"-x":                    "x",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		assert.Equal(t, want, sanitizeName(in), in)
	}
	_, err := Options{Hostname: fixedHost("")}.Parse(siteDir(t), []byte(edit(t, base, "unit: a\n", "")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "site.yaml:1: unit: not set")
}

func TestRelativePaths(t *testing.T) {
	path := siteDir(t)
	dir := filepath.Dir(path)
	cfg := base + "api:\n  socket: run/shisad.sock\njournal:\n  dir: /data/journal\n"
	s, err := Parse(path, []byte(cfg))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "site.key"), s.Tunnel.PrivateKeyFile)
	assert.Equal(t, filepath.Join(dir, "run", "shisad.sock"), s.API.Socket)
	assert.Equal(t, "/data/journal", s.Journal.Dir)
	k, err := s.PrivateKey()
	require.NoError(t, err)
	assert.Equal(t, sitePub, k.PublicKey().String())

	// An absolute key path is used as written.
	abs := edit(t, base, "private_key_file: site.key", "private_key_file: "+filepath.Join(dir, "site.key"))
	s, err = Parse(filepath.Join(t.TempDir(), "elsewhere.yaml"), []byte(abs))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "site.key"), s.Tunnel.PrivateKeyFile)
}

func TestKeyFileMode(t *testing.T) {
	path := siteDir(t)
	keyPath := filepath.Join(filepath.Dir(path), "site.key")
	secret, err := os.ReadFile(keyPath)
	require.NoError(t, err)

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o700} {
		require.NoError(t, os.Chmod(keyPath, mode))
		_, err := Parse(path, []byte(base))
		require.Error(t, err, "mode %04o", mode)
		msg := err.Error()
		assert.Contains(t, msg, "site.yaml:8: tunnel.private_key_file: ")
		assert.Contains(t, msg, "chmod 600 "+keyPath)
		assert.NotContains(t, msg, strings.TrimSpace(string(secret)))
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		require.NoError(t, os.Chmod(keyPath, mode))
		s, err := Parse(path, []byte(base))
		require.NoError(t, err, "mode %04o", mode)
		_, err = s.PrivateKey()
		require.NoError(t, err)
	}

	// PrivateKey checks the mode again when the tunnel starts.
	require.NoError(t, os.Chmod(keyPath, 0o600))
	s, err := Parse(path, []byte(base))
	require.NoError(t, err)
	require.NoError(t, os.Chmod(keyPath, 0o644))
	_, err = s.PrivateKey()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chmod 600")
	assert.NotContains(t, err.Error(), strings.TrimSpace(string(secret)))
}

func TestKeyFileProblems(t *testing.T) {
	path := siteDir(t)
	dir := filepath.Dir(path)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "keydir"), 0o700))
	const junk = "this-is-not-a-key-but-pretend-it-is-secret"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.key"), []byte(junk), 0o600))
	require.NoError(t, os.Symlink("site.key", filepath.Join(dir, "link.key")))

	for _, tc := range []struct{ file, want string }{
		{"missing.key", "does not exist"},
		{"keydir", "is not a regular file"},
		{"junk.key", "does not hold a WireGuard private key"},
	} {
		cfg := edit(t, base, "private_key_file: site.key", "private_key_file: "+tc.file)
		_, err := Parse(path, []byte(cfg))
		require.Error(t, err, tc.file)
		assert.Contains(t, err.Error(), "site.yaml:8: tunnel.private_key_file: ")
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), junk)
	}
	// A symlink to a good key file is fine (the target is checked).
	_, err := Parse(path, []byte(edit(t, base, "private_key_file: site.key", "private_key_file: link.key")))
	require.NoError(t, err)

	// The site's own public key pasted as an endpoint's key.
	_, err = Parse(path, []byte(edit(t, base, dc2Pub, sitePub)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "site.yaml:19: tunnel.endpoints[1].public_key: is this site's own public key")

	// SkipFileChecks does not read the key at all.
	_, err = Options{SkipFileChecks: true}.Parse(path, []byte(edit(t, base, "site.key", "missing.key")))
	require.NoError(t, err)
}

func TestSharedKey(t *testing.T) {
	path := siteDir(t)
	// Shared layout: same key, so the endpoints may also share a probe.
	cfg := edit(t, base, dc2Pub, dc1Pub)
	cfg = edit(t, cfg, "probe: 10.20.0.2", "probe: 10.20.0.1")
	s, err := Parse(path, []byte(cfg))
	require.NoError(t, err)
	assert.True(t, s.SharedKey())
	assert.Equal(t, s.Tunnel.Endpoints[0].Key(), s.Tunnel.Endpoints[1].Key())
	assert.Contains(t, s.Summary(), "shared key")

	s, err = Parse(path, []byte(base))
	require.NoError(t, err)
	assert.False(t, s.SharedKey())

	// Endpoints built by hand (other packages' tests) still have keys.
	e := Endpoint{PublicKey: dc1Pub}
	assert.Equal(t, dc1Pub, e.Key().String())
	assert.False(t, (&Site{}).SharedKey())
}

func TestSummary(t *testing.T) {
	s, err := Load(copyExample(t))
	require.NoError(t, err)
	sum := s.Summary()
	for _, want := range []string{
		"hamamatsu-honcho", "unit a", "wan eth0, lan eth1", "wg-shisa (backend auto)",
		"10.99.1.2/24", "MTU 1420", "10.20.0.0/16, 10.30.0.0/24",
		"distinct keys",
		"1. dc1  dc1.example.jp:51820  key " + dc1Pub[:8],
		"2. dc2  198.51.100.7:51820  key " + dc2Pub[:8],
		"every 500ms, timeout 500ms", "1.5s (interval × misses)", "after 1m of health",
	} {
		assert.Contains(t, sum, want)
	}
	assert.NotContains(t, sum, dc1Pub, "only a fingerprint of public keys")
	priv, err := s.PrivateKey()
	require.NoError(t, err)
	assert.NotContains(t, sum, priv.String())
	assert.Less(t, strings.Index(sum, "1. dc1"), strings.Index(sum, "2. dc2"))
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 500 * time.Millisecond: "500ms", 3 * time.Second: "3s", time.Minute: "1m",
		90 * time.Second: "1m30s", time.Hour: "1h", 1500 * time.Millisecond: "1.5s",
	} {
		assert.Equal(t, want, Duration(d).String())
	}
}

func TestManyProblemsTogether(t *testing.T) {
	cfg := edit(t, base, "site: hamamatsu-honcho", "site: Hamamatsu")
	cfg = edit(t, cfg, "    - 10.20.0.0/16", "    - 10.20.0.1/16")
	cfg = edit(t, cfg, "      public_key: "+dc2Pub, "      public_key: nope")
	cfg += "probe:\n  interval: 1\n  colour: blue\n"
	_, err := Parse(siteDir(t), []byte(cfg))
	require.Error(t, err)

	var ce *Error
	require.True(t, errors.As(err, &ce))
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.Field)
		assert.True(t, strings.HasSuffix(p.File, "site.yaml"))
		assert.Positive(t, p.Line)
		assert.Positive(t, p.Col)
	}
	assert.Equal(t, []string{"site", "tunnel.routes[0]", "tunnel.endpoints[1].public_key", "probe.interval", "probe.colour"}, got)
	assert.Len(t, strings.Split(err.Error(), "\n"), 5)
	assert.Equal(t, Problem{File: ce.Problems[1].File, Line: 11, Col: 7, Field: "tunnel.routes[0]",
		Msg: "10.20.0.1/16 has host bits set; did you mean 10.20.0.0/16?"}, ce.Problems[1])
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "absent.yaml"))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)

	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, make([]byte, maxFileSize+1), 0o644))
	_, err = Load(big)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "larger than")
}

func TestBaseDir(t *testing.T) {
	dir := t.TempDir()
	orig := copyExample(t)
	keyDir := filepath.Dir(orig)
	b, err := os.ReadFile(orig)
	require.NoError(t, err)
	copyPath := filepath.Join(dir, "site.yaml")
	require.NoError(t, os.WriteFile(copyPath, b, 0o600))
	_, err = Load(copyPath)
	require.Error(t, err, "the copy's own directory has no keys/")
	s, err := Options{BaseDir: keyDir}.Load(copyPath)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(keyDir, "keys", "site.key"), s.Tunnel.PrivateKeyFile)
}

func TestTokenFile(t *testing.T) {
	path := copyExample(t)
	token := filepath.Join(filepath.Dir(path), "keys", "api.token")
	_, err := Load(path)
	require.NoError(t, err)

	secret, err := os.ReadFile(token)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(token, 0o644))
	_, err = Load(path)
	require.ErrorContains(t, err, "health.token_file:")
	require.ErrorContains(t, err, "chmod 600")
	assert.NotContains(t, err.Error(), strings.TrimSpace(string(secret)), "the token never appears in errors")

	require.NoError(t, os.Chmod(token, 0o600))
	require.NoError(t, os.WriteFile(token, []byte("short\n"), 0o600))
	_, err = Load(path)
	require.ErrorContains(t, err, "at least 32 characters")
}
