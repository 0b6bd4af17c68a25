package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the box may have no zoneinfo; time_zone must still load

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Defaults, as documented in types.go, README.md and the example file.
const (
	DefaultTimeZone            = "Asia/Tokyo"
	DefaultTunnelInterface     = "wg-shisa"
	DefaultBackend             = BackendAuto
	DefaultListenPort          = 51820
	DefaultMTU                 = 1420
	DefaultPersistentKeepalive = Duration(10 * time.Second)
	DefaultProbeInterval       = Duration(500 * time.Millisecond)
	DefaultMisses              = 3
	DefaultRise                = 3
	DefaultHandshakeTimeout    = Duration(180 * time.Second)
	DefaultHoldDown            = Duration(60 * time.Second)
	DefaultAPISocket           = "/run/shisa/shisad.sock"
	DefaultJournalDir          = "/var/lib/shisa/journal"
	DefaultJournalMaxBytes     = 16 << 20
	DefaultDeviceTimeout       = Duration(30 * time.Second)
	DefaultSafeModeAfter       = 5
	DefaultSafeModeWindow      = Duration(10 * time.Minute)
	DefaultGoodAfter           = Duration(60 * time.Second)
	DefaultHealthPort          = 8080
	DefaultMaxOffset           = Duration(500 * time.Millisecond)
	DefaultTimeSyncInterval    = Duration(15 * time.Minute)
	DefaultSelfCheckAt         = "03:00"
	DefaultMinFreeBytes        = 8 << 20
	DefaultMaxTemperature      = 85
)

// Limits checked by validation.
const (
	MinMTU              = 1280
	MaxMTU              = 1500
	MinProbeInterval    = 50 * time.Millisecond
	MinHandshakeTimeout = 10 * time.Second
	MaxMissesOrRise     = 100
	MinJournalBytes     = 1 << 20
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// finish applies the defaults and checks everything the decoder cannot:
// required keys, ranges, and how fields relate. A default is applied when
// a key is absent or its value was rejected, so one bad value does not
// cause a cascade of complaints about the values that depend on it.
func (o Options) finish(s *Site, d *decoder) {
	dir := filepath.Dir(d.file)
	if o.BaseDir != "" {
		dir = o.BaseDir
	}
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}

	// Identity.
	d.required("site", "the site id, such as hamamatsu-honcho")
	d.checkName("site", s.Site)
	if d.has("unit") {
		d.checkName("unit", s.Unit)
	} else if !d.present("unit") {
		hostname := o.Hostname
		if hostname == nil {
			hostname = os.Hostname
		}
		h, err := hostname()
		s.Unit = sanitizeName(h)
		if err != nil || !nameRE.MatchString(s.Unit) {
			d.errorf("unit", "not set, and the host name %q cannot serve as one; set unit (for example a or b)", h)
		}
	}
	if !d.has("time_zone") {
		s.TimeZone = DefaultTimeZone
	}
	if s.TimeZone == "Local" {
		d.errorf("time_zone", `"Local" depends on the box; write an IANA zone such as Asia/Tokyo`)
	} else if loc, err := time.LoadLocation(s.TimeZone); err != nil {
		d.errorf("time_zone", "unknown time zone %q (want an IANA name such as Asia/Tokyo or UTC)", s.TimeZone)
	} else {
		s.loc = loc
	}

	// Ports.
	d.required("wan.interface", "the Linux name of the WAN port, such as eth0")
	d.checkIfname("wan.interface", s.WAN.Interface)
	d.required("lan.interface", "the Linux name of the LAN port, such as eth1")
	d.checkIfname("lan.interface", s.LAN.Interface)
	if d.has("wan.interface") && d.has("lan.interface") && s.WAN.Interface == s.LAN.Interface {
		d.errorf("lan.interface", "same port as wan.interface (%s); WAN and LAN must be different ports", s.WAN.Interface)
	}

	// Tunnel.
	t := &s.Tunnel
	if d.has("tunnel.interface") {
		d.checkIfname("tunnel.interface", t.Interface)
		if t.Interface == s.WAN.Interface || t.Interface == s.LAN.Interface {
			d.errorf("tunnel.interface", "%s is already the WAN or LAN port; the tunnel needs its own link name", t.Interface)
		}
	} else {
		t.Interface = DefaultTunnelInterface
	}
	if !d.has("tunnel.backend") {
		t.Backend = DefaultBackend
	}
	d.required("tunnel.private_key_file", "the file holding the site's WireGuard private key")
	t.PrivateKeyFile = resolve(t.PrivateKeyFile)
	var sitePublic wgtypes.Key
	if d.has("tunnel.private_key_file") && !o.SkipFileChecks {
		if k, err := readKeyFile(t.PrivateKeyFile); err != nil {
			d.errorf("tunnel.private_key_file", "%s", err)
		} else {
			sitePublic = k.PublicKey()
		}
	}
	if !d.has("tunnel.listen_port") {
		t.ListenPort = DefaultListenPort
	} else if t.ListenPort < 0 || t.ListenPort > 65535 {
		d.errorf("tunnel.listen_port", "%d is not a UDP port (want 0 to 65535; 0 picks a free one)", t.ListenPort)
	}
	d.required("tunnel.address", "this unit's tunnel address with prefix length, such as 10.99.1.2/32")
	addrOK := false
	if d.has("tunnel.address") {
		a := t.Address.Addr()
		switch {
		case t.Address.Bits() == 0:
			d.errorf("tunnel.address", "%s has prefix length 0; want this unit's address, such as 10.99.1.2/32", t.Address)
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
			d.errorf("tunnel.address", "%s is not a unicast address", t.Address)
		case a.Is4In6():
			d.errorf("tunnel.address", "%s is an IPv4-mapped IPv6 address; write the IPv4 address", t.Address)
		default:
			addrOK = true
		}
	}
	if !d.has("tunnel.management_address") {
		if addrOK {
			t.ManagementAddress = t.Address.Addr()
		}
	} else if addrOK && !t.Address.Masked().Contains(t.ManagementAddress) {
		d.errorf("tunnel.management_address", "%s is outside tunnel.address's network %s", t.ManagementAddress, t.Address.Masked())
	}
	if !d.has("tunnel.mtu") {
		t.MTU = DefaultMTU
	} else if t.MTU < MinMTU || t.MTU > MaxMTU {
		d.errorf("tunnel.mtu", "%d is out of range (want %d to %d)", t.MTU, MinMTU, MaxMTU)
	}
	d.required("tunnel.routes", "the datacenter subnets to route into the tunnel")
	if d.has("tunnel.routes") && len(t.Routes) == 0 {
		d.errorf("tunnel.routes", "empty; at least one route is required")
	}
	seenRoute := map[netip.Prefix]int{}
	for i, r := range t.Routes {
		p := fmt.Sprintf("tunnel.routes[%d]", i)
		if d.isBad(p) {
			continue
		}
		if r != r.Masked() {
			d.errorf(p, "%s has host bits set; did you mean %s?", r, r.Masked())
			continue
		}
		if j, dup := seenRoute[r]; dup {
			d.errorf(p, "%s is listed twice (also tunnel.routes[%d])", r, j)
			continue
		}
		seenRoute[r] = i
	}
	if !d.has("tunnel.persistent_keepalive") {
		t.PersistentKeepalive = DefaultPersistentKeepalive
	} else if k := t.PersistentKeepalive.D(); k != 0 && (k%time.Second != 0 || k > 65535*time.Second) {
		d.errorf("tunnel.persistent_keepalive", "%s: WireGuard counts keepalives in whole seconds; want 0 (off) or 1s to 65535s", k)
	}
	if !d.has("tunnel.failback") {
		yes := true
		t.Failback = &yes
	}
	o.endpoints(s, d, sitePublic)

	// Probe.
	p := &s.Probe
	if !d.has("probe.interval") {
		p.Interval = DefaultProbeInterval
	} else if p.Interval.D() < MinProbeInterval {
		d.errorf("probe.interval", "%s is too short (want at least %s)", p.Interval, Duration(MinProbeInterval))
	}
	if !d.has("probe.timeout") {
		p.Timeout = p.Interval
	} else if p.Timeout <= 0 {
		d.errorf("probe.timeout", "must be more than 0")
	} else if p.Timeout > p.Interval {
		d.errorf("probe.timeout", "%s is longer than probe.interval (%s); a probe must time out before the next is sent", p.Timeout, p.Interval)
	}
	if !d.has("probe.misses") {
		p.Misses = DefaultMisses
	} else if p.Misses < 1 || p.Misses > MaxMissesOrRise {
		d.errorf("probe.misses", "%d is out of range (want 1 to %d)", p.Misses, MaxMissesOrRise)
	}
	if !d.has("probe.rise") {
		p.Rise = DefaultRise
	} else if p.Rise < 1 || p.Rise > MaxMissesOrRise {
		d.errorf("probe.rise", "%d is out of range (want 1 to %d)", p.Rise, MaxMissesOrRise)
	}
	if !d.has("probe.handshake_timeout") {
		p.HandshakeTimeout = DefaultHandshakeTimeout
	} else if p.HandshakeTimeout.D() < MinHandshakeTimeout {
		d.errorf("probe.handshake_timeout", "%s is too short (want at least %s)", p.HandshakeTimeout, Duration(MinHandshakeTimeout))
	}
	if !d.has("probe.hold_down") {
		p.HoldDown = DefaultHoldDown
	}
	for i, target := range p.Targets {
		if msg := checkHostPort(target); msg != "" {
			d.errorf(fmt.Sprintf("probe.targets[%d]", i), "%s", msg)
		}
	}

	// Local API and journal.
	if d.has("api.socket") {
		s.API.Socket = resolve(s.API.Socket)
		// sockaddr_un holds 108 bytes with the terminating NUL.
		if len(s.API.Socket) > 107 {
			d.errorf("api.socket", "path is %d bytes long; a unix socket path can have at most 107", len(s.API.Socket))
		}
	} else {
		s.API.Socket = DefaultAPISocket
	}
	if d.has("journal.dir") {
		s.Journal.Dir = resolve(s.Journal.Dir)
	} else {
		s.Journal.Dir = DefaultJournalDir
	}
	if !d.has("journal.max_bytes") {
		s.Journal.MaxBytes = DefaultJournalMaxBytes
	} else if s.Journal.MaxBytes < MinJournalBytes {
		d.errorf("journal.max_bytes", "%d is too small (want at least %d, 1 MiB)", s.Journal.MaxBytes, MinJournalBytes)
	}

	// Watchdog and crash-loop safety.
	w := &s.Watchdog
	if w.Device == "none" {
		w.Device = ""
	} else if w.Device != "" && !filepath.IsAbs(w.Device) {
		d.errorf("watchdog.device", "%q is not an absolute path (want e.g. /dev/watchdog, or none)", w.Device)
	}
	if !d.has("watchdog.device_timeout") {
		w.DeviceTimeout = DefaultDeviceTimeout
	} else if t := w.DeviceTimeout.D(); t < 2*time.Second || t > 10*time.Minute || t%time.Second != 0 {
		d.errorf("watchdog.device_timeout", "%s is out of range (want whole seconds from 2s to 10m)", w.DeviceTimeout)
	}
	if !d.has("watchdog.safe_mode_after") {
		w.SafeModeAfter = DefaultSafeModeAfter
	} else if w.SafeModeAfter < 2 || w.SafeModeAfter > 100 {
		d.errorf("watchdog.safe_mode_after", "%d is out of range (want 2 to 100)", w.SafeModeAfter)
	}
	if !d.has("watchdog.safe_mode_window") {
		w.SafeModeWindow = DefaultSafeModeWindow
	} else if w.SafeModeWindow.D() < time.Minute {
		d.errorf("watchdog.safe_mode_window", "%s is too short (want at least 1m)", w.SafeModeWindow)
	}
	if !d.has("watchdog.good_after") {
		w.GoodAfter = DefaultGoodAfter
	} else if w.GoodAfter.D() < time.Second || w.GoodAfter.D() > time.Hour {
		d.errorf("watchdog.good_after", "%s is out of range (want 1s to 1h)", w.GoodAfter)
	}

	// Management API, time sync, self-check.
	h := &s.Health
	if !d.has("health.port") {
		h.Port = DefaultHealthPort
	} else if h.Port < 1024 || h.Port > 65535 {
		d.errorf("health.port", "%d is out of range (want 1024 to 65535: shisad runs without CAP_NET_BIND_SERVICE)", h.Port)
	}
	if d.has("health.token_file") {
		h.TokenFile = resolve(h.TokenFile)
		if !o.SkipFileChecks {
			if msg := checkTokenFile(h.TokenFile); msg != "" {
				d.errorf("health.token_file", "%s", msg)
			}
		}
	}
	for i, a := range h.AlsoListen {
		if ap, err := netip.ParseAddrPort(a); err != nil {
			d.errorf(fmt.Sprintf("health.also_listen[%d]", i), "%q is not an address:port (want e.g. 127.0.0.1:8080)", a)
		} else if ap.Addr().IsUnspecified() {
			d.errorf(fmt.Sprintf("health.also_listen[%d]", i), "%q listens on every address, the WAN included; name one address (e.g. 127.0.0.1:8080)", a)
		}
	}
	ts := &s.TimeSync
	for i, srv := range ts.Servers {
		hp := srv
		if _, _, err := net.SplitHostPort(srv); err != nil {
			hp = net.JoinHostPort(srv, "123")
		}
		if msg := checkHostPort(hp); msg != "" {
			d.errorf(fmt.Sprintf("time_sync.servers[%d]", i), "%s", msg)
		}
	}
	if !d.has("time_sync.max_offset") {
		ts.MaxOffset = DefaultMaxOffset
	} else if ts.MaxOffset <= 0 {
		d.errorf("time_sync.max_offset", "must be more than 0")
	}
	if !d.has("time_sync.interval") {
		ts.Interval = DefaultTimeSyncInterval
	} else if ts.Interval.D() < time.Minute {
		d.errorf("time_sync.interval", "%s is too short (want at least 1m)", ts.Interval)
	}
	sc := &s.SelfCheck
	if !d.has("self_check.at") {
		sc.At = DefaultSelfCheckAt
	} else if _, err := time.Parse("15:04", sc.At); err != nil {
		d.errorf("self_check.at", "%q is not a time of day (want HH:MM, e.g. 03:00)", sc.At)
	}
	if !d.has("self_check.min_free_bytes") {
		sc.MinFreeBytes = DefaultMinFreeBytes
	} else if sc.MinFreeBytes < 0 {
		d.errorf("self_check.min_free_bytes", "must not be negative")
	}
	if !d.has("self_check.max_temperature") {
		sc.MaxTemperature = DefaultMaxTemperature
	} else if sc.MaxTemperature < 30 || sc.MaxTemperature > 150 {
		d.errorf("self_check.max_temperature", "%d is out of range (want 30 to 150 °C)", sc.MaxTemperature)
	}

	// Hot-standby pair.
	o.pair(s, d, resolve)
	// Power and UPS (power.go).
	o.power(s, d, resolve)
}

// checkTokenFile checks the management API's token file: a regular file,
// private (mode 0600 or 0400), one line of at least 32 characters. The
// message never holds the token.
func checkTokenFile(path string) string { return checkSecretFile(path, "token") }

// checkSecretFile checks a file holding a secret line (what names it in
// the message): a regular file, private (mode 0600 or 0400), one line of
// at least 32 characters. The message never holds the secret.
func checkSecretFile(path, what string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Sprintf("cannot read the %s file: %v", what, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Sprintf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Sprintf("%s is readable by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("cannot read the %s file: %v", what, err)
	}
	if t := strings.TrimSpace(string(b)); len(t) < 32 || strings.ContainsAny(t, " \t\n") {
		return fmt.Sprintf("%s must hold one %s of at least 32 characters without spaces (make one with: shisactl token new %s)", path, what, path)
	}
	return ""
}

// endpoints checks tunnel.endpoints and stores each parsed public key.
func (o Options) endpoints(s *Site, d *decoder, sitePublic wgtypes.Key) {
	t := &s.Tunnel
	d.required("tunnel.endpoints", "the datacenter endpoints, in order of preference")
	if d.has("tunnel.endpoints") && len(t.Endpoints) == 0 {
		d.errorf("tunnel.endpoints", "empty; at least one datacenter endpoint is required")
	}
	names := map[string]int{}
	for i := range t.Endpoints {
		e := &t.Endpoints[i]
		p := fmt.Sprintf("tunnel.endpoints[%d]", i)
		if d.isBad(p) {
			continue
		}
		d.required(p+".name", "a short label such as dc1")
		d.checkName(p+".name", e.Name)
		if d.has(p + ".name") {
			if j, dup := names[e.Name]; dup {
				d.errorf(p+".name", "%q is already the name of tunnel.endpoints[%d]; names must be unique", e.Name, j)
			} else {
				names[e.Name] = i
			}
		}
		d.required(p+".endpoint", "the datacenter device's UDP host:port, such as dc1.example.jp:51820")
		if d.has(p + ".endpoint") {
			if msg := checkHostPort(e.Endpoint); msg != "" {
				d.errorf(p+".endpoint", "%s", msg)
			}
		}
		d.required(p+".public_key", "the datacenter device's WireGuard public key")
		if d.has(p + ".public_key") {
			k, err := parsePublicKey(e.PublicKey)
			switch {
			case err != nil:
				d.errorf(p+".public_key", "not a WireGuard key (want 44 base64 characters)")
			case k == sitePublic:
				d.errorf(p+".public_key", "is this site's own public key; want the datacenter device's key")
			default:
				e.key = k
			}
		}
		d.required(p+".probe", "an address inside the tunnel that answers ping through this endpoint")
		if d.has(p+".probe") && d.has("tunnel.address") && e.Probe == t.Address.Addr() {
			d.errorf(p+".probe", "%s is this unit's own tunnel address; want an address at the datacenter", e.Probe)
		}
	}
	// Probe addresses tell endpoints apart; only endpoints of one device
	// (same key) may share one.
	for i := range t.Endpoints {
		for j := range i {
			a, b := &t.Endpoints[j], &t.Endpoints[i]
			pa, pb := fmt.Sprintf("tunnel.endpoints[%d]", j), fmt.Sprintf("tunnel.endpoints[%d]", i)
			if !d.has(pa+".probe") || !d.has(pb+".probe") || a.Probe != b.Probe {
				continue
			}
			if isZero(a.key) || isZero(b.key) || a.key != b.key {
				d.errorf(pb+".probe", "%s is also the probe of %s (%s) with a different public_key; each datacenter device needs its own probe address", b.Probe, pa, a.Name)
				break
			}
		}
	}
}

// required reports path as missing, unless it or its parent was written
// (a bad parent has already been reported).
func (d *decoder) required(path, what string) {
	if d.present(path) || d.isBad(parent(path)) {
		return
	}
	d.errorf(path, "missing; required: %s", what)
}

func (d *decoder) checkName(path, v string) {
	if d.has(path) && !nameRE.MatchString(v) {
		d.errorf(path, "%q is not a valid name (want 1 to 63 lowercase letters, digits and '-', starting with a letter or digit)", v)
	}
}

func (d *decoder) checkIfname(path, v string) {
	if !d.has(path) {
		return
	}
	// The rules of the kernel's dev_valid_name.
	bad := len(v) == 0 || len(v) > 15 || v == "." || v == ".." ||
		strings.ContainsFunc(v, func(r rune) bool {
			return r == '/' || r == ':' || r == ' ' || (r >= '\t' && r <= '\r') || r < ' ' || r > '~'
		})
	if bad {
		d.errorf(path, "%q is not a Linux interface name (want 1 to 15 characters, no '/', ':' or spaces)", v)
	}
}

// sanitizeName turns a host name into a valid unit name: lowercase, every
// other character replaced by '-', at most 63 characters.
func sanitizeName(h string) string {
	b := []byte(strings.ToLower(h))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// checkHostPort checks a host:port (UDP endpoint or TCP target) and
// returns what is wrong, or "".
func checkHostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (want for example dc1.example.jp:51820, 192.0.2.1:51820 or [2001:db8::1]:51820)", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || port[0] == '+' || port[0] == '-' || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q in %q is not 1 to 65535", port, s)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			return fmt.Sprintf("%q is not a usable unicast address", host)
		}
		return ""
	}
	if !validDNSName(host) {
		return fmt.Sprintf("host %q is neither an IP address nor a DNS name", host)
	}
	return ""
}

// validDNSName checks the syntax of a host name: dot-separated labels of
// letters, digits and '-', not starting or ending with '-', the last not
// all digits (so a mistyped IPv4 address is not taken for a name).
func validDNSName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

// HostName is the host name as a unit or box name (lower case, other
// characters turned to '-'), or "unknown" when it cannot serve as one.
func HostName() string {
	h, err := os.Hostname()
	n := sanitizeName(h)
	if err != nil || !nameRE.MatchString(n) {
		return "unknown"
	}
	return n
}
