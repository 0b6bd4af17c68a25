package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrors edits base (see helpers_test.go for its line numbers) and
// checks that the error names the file, the line and the field.
func TestErrors(t *testing.T) {
	const probe = "probe:\n  interval: 500ms\n" // appended: probe: is line 21, interval line 22
	tests := []struct {
		name     string
		old, new string // edit of base; old == "" appends new
		yaml     string // whole file instead of base
		want     []string
	}{
		// Syntax and shape.
		{name: "empty file", yaml: "", want: []string{"site.yaml: file is empty"}},
		{name: "only comments", yaml: "# nothing\n", want: []string{"site.yaml: file has no settings"}},
		{name: "not yaml", yaml: "site: [a\n", want: []string{"site.yaml:", "not valid YAML"}},
		{name: "tab indent", old: "  interface: eth0", new: "\tinterface: eth0", want: []string{"site.yaml:4: not valid YAML"}},
		{name: "two documents", old: "", new: "---\nsite: other\n", want: []string{"site.yaml:21: a second YAML document"}},
		{name: "top level list", yaml: "- site: x\n", want: []string{"site.yaml:1: want a mapping of settings"}},
		{name: "unknown key", old: "  routes:", new: "  mtus: 1400\n  routes:", want: []string{`site.yaml:10: tunnel.mtus: unknown key (did you mean "mtu"?)`}},
		{name: "unknown top key", old: "unit: a", new: "unit: a\nsitename: x", want: []string{"site.yaml:3: sitename: unknown key; known keys here: api, health, journal"}},
		{name: "unknown endpoint key", old: "      probe: 10.20.0.2", new: "      probe: 10.20.0.2\n      PublicKey: x", want: []string{`site.yaml:21: tunnel.endpoints[1].PublicKey: unknown key (did you mean "public_key"?)`}},
		{name: "duplicate key", old: "unit: a", new: "unit: a\nunit: b", want: []string{"site.yaml:3: unit: duplicate key (first at line 2)"}},
		{name: "duplicate nested key", old: "      probe: 10.20.0.1", new: "      probe: 10.20.0.1\n      probe: 10.20.0.9", want: []string{"site.yaml:17: tunnel.endpoints[0].probe: duplicate key (first at line 16)"}},
		{name: "alias", old: "unit: a", new: "unit: &u a\ntime_zone: *u", want: []string{"site.yaml:3: time_zone: YAML aliases"}},
		{name: "merge key", old: "wan:", new: "x: &w {interface: eth0}\nwan:\n  <<: *w", want: []string{"site.yaml:3: x: unknown key", "site.yaml:5: wan.<<: unknown key (YAML merge keys"}},

		// Missing keys: the line of the parent mapping.
		{name: "missing site", old: "site: hamamatsu-honcho\n", new: "", want: []string{"site.yaml:1: site: missing; required"}},
		{name: "missing address", old: "  address: 10.99.1.2/32\n", new: "", want: []string{"site.yaml:7: tunnel.address: missing; required"}},
		{name: "missing endpoint probe", old: "      probe: 10.20.0.2\n", new: "", want: []string{"site.yaml:17: tunnel.endpoints[1].probe: missing; required"}},
		{name: "missing lan", old: "lan:\n  interface: eth1\n", new: "", want: []string{"site.yaml:1: lan.interface: missing; required"}},
		{name: "missing tunnel", yaml: strings.Split(base, "tunnel:")[0], want: []string{
			"site.yaml:1: tunnel.private_key_file: missing", "site.yaml:1: tunnel.address: missing",
			"site.yaml:1: tunnel.routes: missing", "site.yaml:1: tunnel.endpoints: missing"}},
		{name: "no value", old: "unit: a", new: "unit:", want: []string{"site.yaml:2: unit: no value; write one, or remove the key"}},
		{name: "empty string", old: "unit: a", new: `unit: ""`, want: []string{"site.yaml:2: unit: empty"}},

		// Wrong kinds.
		{name: "string for list", old: "  routes:\n    - 10.20.0.0/16", new: "  routes: 10.20.0.0/16", want: []string{`site.yaml:10: tunnel.routes: want a list (lines starting with '- '), got "10.20.0.0/16"`}},
		{name: "string for mapping", old: "wan:\n  interface: eth0", new: "wan: eth0", want: []string{`site.yaml:3: wan: want a mapping (keys indented under it), got "eth0"`}},
		{name: "list for string", old: "unit: a", new: "unit: [a, b]", want: []string{"site.yaml:2: unit: want text, got a list"}},
		{name: "bool for string", old: "unit: a", new: "unit: true", want: []string{"site.yaml:2: unit: want text, got true/false (true) (quote it"}},
		{name: "string for bool", old: "  address:", new: "  failback: yes\n  address:", want: []string{`site.yaml:9: tunnel.failback: want true or false, got "yes"`}},
		{name: "string for int", old: "  address:", new: "  mtu: big\n  address:", want: []string{`site.yaml:9: tunnel.mtu: want a whole number, got "big"`}},
		{name: "float for int", old: "  address:", new: "  mtu: 1420.5\n  address:", want: []string{"site.yaml:9: tunnel.mtu: want a whole number, got a number (1420.5)"}},
		{name: "huge int", old: "", new: "journal:\n  max_bytes: 99999999999999999999999\n", want: []string{"site.yaml:22: journal.max_bytes: want a whole number"}},
		{name: "mapping for endpoint list", yaml: strings.Split(base, "  endpoints:")[0] + "  endpoints:\n    dc1: x\n", want: []string{"site.yaml:13: tunnel.endpoints: want a list"}},

		// Bad scalars.
		{name: "bad address", old: "10.99.1.2/32", new: "10.99.1.300/32", want: []string{`site.yaml:9: tunnel.address: "10.99.1.300/32" is not an address with prefix length`}},
		{name: "address without prefix", old: "10.99.1.2/32", new: "10.99.1.2", want: []string{`site.yaml:9: tunnel.address: "10.99.1.2" is not an address with prefix length`}},
		{name: "route host bits", old: "    - 10.20.0.0/16", new: "    - 10.20.0.1/16", want: []string{"site.yaml:11: tunnel.routes[0]: 10.20.0.1/16 has host bits set; did you mean 10.20.0.0/16?"}},
		{name: "route twice", old: "    - 10.20.0.0/16", new: "    - 10.20.0.0/16\n    - 10.20.0.0/16", want: []string{"site.yaml:12: tunnel.routes[1]: 10.20.0.0/16 is listed twice"}},
		{name: "no routes", old: "  routes:\n    - 10.20.0.0/16", new: "  routes: []", want: []string{"site.yaml:10: tunnel.routes: empty; at least one route is required"}},
		{name: "bad probe address", old: "probe: 10.20.0.1", new: "probe: 10.20.0.1/32", want: []string{`site.yaml:16: tunnel.endpoints[0].probe: "10.20.0.1/32" is not an IP address`}},
		{name: "zone in address", old: "probe: 10.20.0.1", new: "probe: fe80::1%eth0", want: []string{"site.yaml:16: tunnel.endpoints[0].probe: ", "without prefix length or zone"}},
		{name: "bad duration", old: "", new: "probe:\n  interval: fast\n", want: []string{`site.yaml:22: probe.interval: "fast" is not a duration`}},
		{name: "duration without unit", old: "", new: "probe:\n  interval: 500\n", want: []string{"site.yaml:22: probe.interval: 500 has no unit; write a duration such as 500ms"}},
		{name: "negative duration", old: "", new: "probe:\n  hold_down: -1s\n", want: []string{"site.yaml:22: probe.hold_down: -1s is negative"}},
		{name: "bad backend", old: "  address:", new: "  backend: wireguard\n  address:", want: []string{`site.yaml:9: tunnel.backend: "wireguard" is not a backend (want auto, kernel, tun or netstack)`}},
		{name: "bad key", old: "public_key: " + dc1Pub, new: "public_key: abc", want: []string{"site.yaml:15: tunnel.endpoints[0].public_key: not a WireGuard key (want 44 base64 characters)"}},
		{name: "short key", old: "public_key: " + dc1Pub, new: "public_key: " + dc1Pub[:43], want: []string{"site.yaml:15: tunnel.endpoints[0].public_key: not a WireGuard key"}},
		{name: "zero key", old: "public_key: " + dc1Pub, new: "public_key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", want: []string{"site.yaml:15: tunnel.endpoints[0].public_key: not a WireGuard key"}},
		{name: "endpoint no port", old: "dc1.example.jp:51820", new: "dc1.example.jp", want: []string{`site.yaml:14: tunnel.endpoints[0].endpoint: "dc1.example.jp" is not host:port`}},
		{name: "endpoint port 0", old: "dc1.example.jp:51820", new: "dc1.example.jp:0", want: []string{`site.yaml:14: tunnel.endpoints[0].endpoint: port "0" in "dc1.example.jp:0" is not 1 to 65535`}},
		{name: "endpoint port too big", old: "dc1.example.jp:51820", new: "dc1.example.jp:65536", want: []string{"site.yaml:14: tunnel.endpoints[0].endpoint: port"}},
		{name: "endpoint bad host", old: "dc1.example.jp:51820", new: "dc1_example.jp:51820", want: []string{`site.yaml:14: tunnel.endpoints[0].endpoint: host "dc1_example.jp" is neither`}},
		{name: "endpoint bad ipv4", old: "198.51.100.7:51820", new: "198.51.100.700:51820", want: []string{`site.yaml:18: tunnel.endpoints[1].endpoint: host "198.51.100.700" is neither`}},
		{name: "bad target", old: "", new: "probe:\n  targets:\n    - portal.example.jp\n", want: []string{`site.yaml:23: probe.targets[0]: "portal.example.jp" is not host:port`}},
		{name: "bad time zone", old: "unit: a", new: "unit: a\ntime_zone: Mars/Olympus", want: []string{`site.yaml:3: time_zone: unknown time zone "Mars/Olympus"`}},

		// Ranges and relations.
		{name: "bad site name", old: "site: hamamatsu-honcho", new: "site: Hamamatsu", want: []string{`site.yaml:1: site: "Hamamatsu" is not a valid name`}},
		{name: "bad unit name", old: "unit: a", new: "unit: -a", want: []string{`site.yaml:2: unit: "-a" is not a valid name`}},
		{name: "long name", old: "name: dc1", new: "name: " + strings.Repeat("d", 64), want: []string{"site.yaml:13: tunnel.endpoints[0].name: ", "is not a valid name"}},
		{name: "same name", old: "name: dc2", new: "name: dc1", want: []string{`site.yaml:17: tunnel.endpoints[1].name: "dc1" is already the name of tunnel.endpoints[0]`}},
		{name: "wan equals lan", old: "  interface: eth1", new: "  interface: eth0", want: []string{"site.yaml:6: lan.interface: same port as wan.interface (eth0)"}},
		{name: "interface slash", old: "  interface: eth1", new: "  interface: eth/1", want: []string{`site.yaml:6: lan.interface: "eth/1" is not a Linux interface name`}},
		{name: "interface too long", old: "  interface: eth1", new: "  interface: eth1234567890abcd", want: []string{"site.yaml:6: lan.interface: ", "not a Linux interface name"}},
		{name: "interface space", old: "  interface: eth1", new: `  interface: "eth 1"`, want: []string{"site.yaml:6: lan.interface: ", "not a Linux interface name"}},
		{name: "tunnel is wan", old: "  address:", new: "  interface: eth0\n  address:", want: []string{"site.yaml:9: tunnel.interface: eth0 is already the WAN or LAN port"}},
		{name: "mtu low", old: "  address:", new: "  mtu: 1000\n  address:", want: []string{"site.yaml:9: tunnel.mtu: 1000 is out of range (want 1280 to 1500)"}},
		{name: "mtu high", old: "  address:", new: "  mtu: 9000\n  address:", want: []string{"site.yaml:9: tunnel.mtu: 9000 is out of range"}},
		{name: "listen port", old: "  address:", new: "  listen_port: 70000\n  address:", want: []string{"site.yaml:9: tunnel.listen_port: 70000 is not a UDP port"}},
		{name: "keepalive fraction", old: "  address:", new: "  persistent_keepalive: 500ms\n  address:", want: []string{"site.yaml:9: tunnel.persistent_keepalive: 500ms: WireGuard counts keepalives in whole seconds"}},
		{name: "management outside", old: "  routes:", new: "  management_address: 10.99.2.1\n  routes:", want: []string{"site.yaml:10: tunnel.management_address: 10.99.2.1 is outside tunnel.address's network 10.99.1.2/32"}},
		{name: "address unspecified", old: "10.99.1.2/32", new: "0.0.0.0/32", want: []string{"site.yaml:9: tunnel.address: 0.0.0.0/32 is not a unicast address"}},
		{name: "no endpoints", yaml: strings.Split(base, "  endpoints:")[0] + "  endpoints: []\n", want: []string{"site.yaml:12: tunnel.endpoints: empty; at least one"}},
		{name: "probe shared with distinct keys", old: "probe: 10.20.0.2", new: "probe: 10.20.0.1", want: []string{"site.yaml:20: tunnel.endpoints[1].probe: 10.20.0.1 is also the probe of tunnel.endpoints[0] (dc1) with a different public_key"}},
		{name: "probe is own address", old: "probe: 10.20.0.2", new: "probe: 10.99.1.2", want: []string{"site.yaml:20: tunnel.endpoints[1].probe: 10.99.1.2 is this unit's own tunnel address"}},
		{name: "interval short", old: "", new: "probe:\n  interval: 10ms\n", want: []string{"site.yaml:22: probe.interval: 10ms is too short (want at least 50ms)"}},
		{name: "timeout long", old: "", new: probe + "  timeout: 1s\n", want: []string{"site.yaml:23: probe.timeout: 1s is longer than probe.interval (500ms)"}},
		{name: "timeout zero", old: "", new: probe + "  timeout: 0s\n", want: []string{"site.yaml:23: probe.timeout: must be more than 0"}},
		{name: "misses zero", old: "", new: probe + "  misses: 0\n", want: []string{"site.yaml:23: probe.misses: 0 is out of range (want 1 to 100)"}},
		{name: "rise too many", old: "", new: probe + "  rise: 101\n", want: []string{"site.yaml:23: probe.rise: 101 is out of range (want 1 to 100)"}},
		{name: "handshake short", old: "", new: probe + "  handshake_timeout: 5s\n", want: []string{"site.yaml:23: probe.handshake_timeout: 5s is too short (want at least 10s)"}},
		{name: "journal small", old: "", new: "journal:\n  max_bytes: 1000\n", want: []string{"site.yaml:22: journal.max_bytes: 1000 is too small"}},
		{name: "watchdog relative device", old: "", new: "watchdog:\n  device: dev/watchdog\n", want: []string{"site.yaml:22: watchdog.device: \"dev/watchdog\" is not an absolute path"}},
		{name: "watchdog timeout", old: "", new: "watchdog:\n  device_timeout: 1500ms\n", want: []string{"site.yaml:22: watchdog.device_timeout: 1.5s is out of range"}},
		{name: "safe mode after", old: "", new: "watchdog:\n  safe_mode_after: 1\n", want: []string{"site.yaml:22: watchdog.safe_mode_after: 1 is out of range"}},
		{name: "safe mode window", old: "", new: "watchdog:\n  safe_mode_window: 30s\n", want: []string{"site.yaml:22: watchdog.safe_mode_window: 30s is too short"}},
		{name: "good after", old: "", new: "watchdog:\n  good_after: 2h\n", want: []string{"site.yaml:22: watchdog.good_after: 2h is out of range"}},
		{name: "health port", old: "", new: "health:\n  port: 0\n", want: []string{"site.yaml:22: health.port: 0 is out of range"}},
		{name: "privileged port", old: "", new: "health:\n  port: 443\n", want: []string{"site.yaml:22: health.port: 443 is out of range (want 1024 to 65535"}},
		{name: "also listen everywhere", old: "", new: "health:\n  also_listen: ['0.0.0.0:8080']\n", want: []string{`site.yaml:22: health.also_listen[0]: "0.0.0.0:8080" listens on every address`}},
		{name: "also listen", old: "", new: "health:\n  also_listen: [localhost]\n", want: []string{`site.yaml:22: health.also_listen[0]: "localhost" is not an address:port`}},
		{name: "missing token", old: "", new: "health:\n  token_file: nothing.token\n", want: []string{"site.yaml:22: health.token_file: cannot read the token file"}},

		// Hot-standby pair: line 21 is "pair:".
		{name: "pair empty", old: "", new: "pair:\n  port: 5405\n", want: []string{
			"site.yaml:21: pair.address: missing; required", "site.yaml:21: pair.units: missing; required",
			"site.yaml:21: pair.secret_file: missing; required", "site.yaml:21: pair.virtual_ip: missing; required"}},
		{name: "pair one unit", old: "", new: pairYAML("units: [192.168.10.2]"), want: []string{"site.yaml:23: pair.units: lists 1 addresses; a pair has exactly 2 units"}},
		{name: "pair unit twice", old: "", new: pairYAML("units: [192.168.10.2, 192.168.10.2]"), want: []string{"site.yaml:23: pair.units: lists 192.168.10.2 twice"}},
		{name: "pair unit off subnet", old: "", new: pairYAML("units: [192.168.10.2, 192.168.11.3]"), want: []string{"site.yaml:23: pair.units[1]: 192.168.11.3 is outside pair.virtual_ip's subnet 192.168.10.0/24"}},
		{name: "pair unit is vip", old: "", new: pairYAML("units: [192.168.10.2, 192.168.10.1]"), want: []string{"site.yaml:23: pair.units[1]: 192.168.10.1 is the virtual IP"}},
		{name: "pair address not a unit", old: "", new: pairYAML("address: 192.168.10.9"), want: []string{"site.yaml:22: pair.address: 192.168.10.9 is not one of pair.units"}},
		{name: "pair vip ipv6", old: "", new: pairYAML("virtual_ip: fd00::1/64"), want: []string{"site.yaml:25: pair.virtual_ip: fd00::1/64 is not IPv4"}},
		{name: "pair priority", old: "", new: pairYAML("priority: 256"), want: []string{"site.yaml:26: pair.priority: 256 is out of range (want 1 to 255)"}},
		{name: "pair secret missing", old: "", new: pairYAML("secret_file: nothing.secret"), want: []string{"site.yaml:24: pair.secret_file: cannot read the pair secret file"}},
		{name: "pair interval", old: "", new: pairYAML("interval: 2s"), want: []string{"site.yaml:26: pair.interval: 2s is out of range (want 1ms to 1s)"}},
		{name: "pair dead multiplier", old: "", new: pairYAML("dead_multiplier: 1"), want: []string{"site.yaml:26: pair.dead_multiplier: 1 is out of range (want 2 to 255"}},
		{name: "ntp server", old: "", new: "time_sync:\n  servers: ['10.0.0.1:99999']\n", want: []string{"site.yaml:22: time_sync.servers[0]:"}},
		{name: "ntp interval", old: "", new: "time_sync:\n  interval: 10s\n", want: []string{"site.yaml:22: time_sync.interval: 10s is too short"}},
		{name: "self check at", old: "", new: "self_check:\n  at: '25:00'\n", want: []string{`site.yaml:22: self_check.at: "25:00" is not a time of day`}},
		{name: "temperature", old: "", new: "self_check:\n  max_temperature: 200\n", want: []string{"site.yaml:22: self_check.max_temperature: 200 is out of range"}},
		{name: "socket too long", old: "", new: "api:\n  socket: /" + strings.Repeat("s", 120) + "\n", want: []string{"site.yaml:22: api.socket: path is 121 bytes long"}},
	}
	path := siteDir(t)
	names := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.False(t, names[tc.name], "duplicate test name")
			names[tc.name] = true
			cfg := tc.yaml
			switch {
			case tc.yaml != "" || tc.name == "empty file":
			case tc.old == "":
				cfg = base + tc.new
			default:
				cfg = edit(t, base, tc.old, tc.new)
			}
			s, err := Parse(path, []byte(cfg))
			require.Error(t, err, "config:\n%s", cfg)
			assert.Nil(t, s)
			var ce *Error
			require.True(t, errors.As(err, &ce), "%T is not a *config.Error", err)
			msg := err.Error()
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			switch tc.name {
			case "missing tunnel", "pair empty":
				assert.Len(t, ce.Problems, len(tc.want), "one problem per missing key:\n%s", msg)
			case "merge key":
			default:
				assert.Len(t, ce.Problems, 1, "one mistake, one problem:\n%s", msg)
			}
			for _, p := range ce.Problems {
				assert.True(t, strings.HasSuffix(p.File, "/site.yaml"), p.File)
				assert.NotEmpty(t, p.Msg)
			}
		})
	}
}

// pairYAML is a pair section (lines 21 to 25 after base) with one line
// replaced (same key) or added (line 26); "" leaves it as it is.
func pairYAML(line string) string {
	lines := []string{"pair:", "  address: 192.168.10.2", "  units: [192.168.10.2, 192.168.10.3]",
		"  secret_file: pair.secret", "  virtual_ip: 192.168.10.1/24"}
	if line != "" {
		key := strings.SplitN(line, ":", 2)[0]
		replaced := false
		for i, l := range lines {
			if strings.HasPrefix(l, "  "+key+":") {
				lines[i], replaced = "  "+line, true
			}
		}
		if !replaced {
			lines = append(lines, "  "+line)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
