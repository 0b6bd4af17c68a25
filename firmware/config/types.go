package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Site is the whole of /etc/shisa/site.yaml after decoding, defaulting and
// validation. Every field documented here is documented again, with its
// default, in README.md ("Configuration reference") and in
// testdata/site.example.yaml; a test keeps the three in step.
type Site struct {
	// Site is the site id, for example "hamamatsu-honcho". Lowercase
	// letters, digits and '-', 1 to 63 characters. Required.
	Site string `yaml:"site"`
	// Unit names this box within the site ("a", "b", or a serial).
	// Same charset as Site. Default: the host name.
	Unit string `yaml:"unit"`
	// TimeZone is the IANA zone the site's schedules are written in.
	// Default "Asia/Tokyo".
	TimeZone string `yaml:"time_zone"`

	WAN       Interface `yaml:"wan"`
	LAN       Interface `yaml:"lan"`
	Tunnel    Tunnel    `yaml:"tunnel"`
	Probe     Probe     `yaml:"probe"`
	API       API       `yaml:"api"`
	Journal   Journal   `yaml:"journal"`
	Watchdog  Watchdog  `yaml:"watchdog"`
	Health    Health    `yaml:"health"`
	TimeSync  TimeSync  `yaml:"time_sync"`
	SelfCheck SelfCheck `yaml:"self_check"`
	Pair      Pair      `yaml:"pair"`
	Power     Power     `yaml:"power"`
	UPS       UPS       `yaml:"ups"`

	// Path is the file the config was read from (not a YAML key).
	Path string `yaml:"-"`

	loc *time.Location // TimeZone, loaded during validation
}

// Location is the site's time zone (time_zone), loaded once when the config
// was validated; UTC for a Site not made by Load or Parse.
func (s *Site) Location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// Interface names a physical port of the box.
type Interface struct {
	// Interface is the Linux link name, for example "eth0". Required.
	Interface string `yaml:"interface"`
}

// Backend selects how the WireGuard device is realised.
type Backend string

const (
	BackendAuto     Backend = "auto"     // kernel if the kernel has WireGuard, else tun
	BackendKernel   Backend = "kernel"   // in-kernel WireGuard through netlink and wgctrl
	BackendTUN      Backend = "tun"      // wireguard-go on a TUN device
	BackendNetstack Backend = "netstack" // wireguard-go on a userspace TCP/IP stack (rootless)
)

// Tunnel describes the site's WireGuard tunnel to the datacenter.
type Tunnel struct {
	// Interface is the WireGuard link name. Default "wg-shisa".
	Interface string `yaml:"interface"`
	// Backend is auto, kernel, tun or netstack. Default auto.
	Backend Backend `yaml:"backend"`
	// PrivateKeyFile holds the site's WireGuard private key (base64, as
	// written by `wg genkey`). The file must be readable and must not be
	// readable or writable by group or others (mode 0600 or 0400). Required.
	// A relative path is relative to the config file's directory; after
	// Load or Parse the field holds the resolved path.
	PrivateKeyFile string `yaml:"private_key_file"`
	// ListenPort is the local UDP port; 0 picks a free one. Default 51820.
	ListenPort int `yaml:"listen_port"`
	// Address is this unit's address inside the tunnel, with prefix, for
	// example 10.99.1.2/32. Required.
	Address netip.Prefix `yaml:"address"`
	// ManagementAddress is where the datacenter reaches the health API
	// (issue 5); it must be an address of Address's network. Default: the
	// address part of Address.
	ManagementAddress netip.Addr `yaml:"management_address"`
	// MTU of the tunnel link, 1280 to 1500. Default 1420.
	MTU int `yaml:"mtu"`
	// Routes are the cloud's subnets. They are routed into the tunnel and
	// carried by the active endpoint only. At least one is required.
	Routes []netip.Prefix `yaml:"routes"`
	// PersistentKeepalive for every endpoint; 0 disables. Default 10s.
	PersistentKeepalive Duration `yaml:"persistent_keepalive"`
	// Endpoints is the ordered list of datacenter endpoints; the first is
	// preferred and failed back to. At least one is required.
	Endpoints []Endpoint `yaml:"endpoints"`
	// Failback returns to the first healthy endpoint after HoldDown.
	// Default true.
	Failback *bool `yaml:"failback"`
}

// Endpoint is one datacenter-side VPN device (or one front door of it).
type Endpoint struct {
	// Name is a short label used in events and status, for example "dc1".
	// Same charset as Site; unique. Required.
	Name string `yaml:"name"`
	// Endpoint is the UDP host:port of the datacenter device. The host is
	// an IP address or a DNS name. Required.
	Endpoint string `yaml:"endpoint"`
	// PublicKey is the datacenter device's WireGuard public key (base64).
	// Endpoints may share one key (one device, several front doors) or
	// have distinct keys (several devices). Required.
	PublicKey string `yaml:"public_key"`
	// Probe is an address inside the tunnel that answers ICMP echo and is
	// reached only through this endpoint (with distinct keys it is routed
	// to this endpoint's peer as a /32). Required.
	Probe netip.Addr `yaml:"probe"`

	// key is PublicKey parsed, set during validation (see Key).
	key wgtypes.Key
}

// Probe holds the liveness settings of the tunnel supervisor.
type Probe struct {
	// Interval between probes to each endpoint. Default 500ms.
	Interval Duration `yaml:"interval"`
	// Timeout for one probe reply; at most Interval. Default: Interval.
	Timeout Duration `yaml:"timeout"`
	// Misses in a row after which an endpoint is dead. Default 3.
	Misses int `yaml:"misses"`
	// Rise is the number of answered probes in a row after which a dead
	// endpoint counts as alive again. Default 3.
	Rise int `yaml:"rise"`
	// HandshakeTimeout: an endpoint whose last handshake is older than this
	// is dead whatever its probes say. Default 180s (WireGuard rekeys every
	// 120s while traffic flows, and keepalives make traffic flow).
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	// HoldDown is how long the first endpoint must have been alive and have
	// answered every probe, before the tunnel fails back to it; a single
	// missed probe starts it again. Default 60s.
	HoldDown Duration `yaml:"hold_down"`
	// Targets are cloud services (host:port, TCP) checked through the
	// active endpoint for health reports. Optional.
	Targets []string `yaml:"targets"`
}

// API holds the local API's settings.
type API struct {
	// Socket is the unix socket shisactl talks to. Default
	// /run/shisa/shisad.sock. A relative path is relative to the config
	// file's directory.
	Socket string `yaml:"socket"`
}

// Journal holds the event journal's settings.
type Journal struct {
	// Dir is the directory of the journal's segment files. Default
	// /var/lib/shisa/journal. A relative path is relative to the config
	// file's directory.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the journal on flash; the oldest segment is removed
	// when the total exceeds it. Default 16 MiB (16777216).
	MaxBytes int64 `yaml:"max_bytes"`
}

// Watchdog holds the liveness and crash-loop settings.
type Watchdog struct {
	// Device is a hardware watchdog (/dev/watchdog) that shisad drives
	// itself when systemd does not supervise it (no WATCHDOG_USEC). "none"
	// (stored as "") means none. Default none (under systemd, systemd
	// drives the hardware watchdog: RuntimeWatchdogSec in system.conf).
	Device string `yaml:"device"`
	// DeviceTimeout is the hardware watchdog's timeout, 2s to 10m.
	// Default 30s.
	DeviceTimeout Duration `yaml:"device_timeout"`
	// SafeModeAfter failed starts within SafeModeWindow, the next start
	// runs in safe mode (tunnel only, last good config). 2 to 100.
	// Default 5.
	SafeModeAfter int `yaml:"safe_mode_after"`
	// SafeModeWindow over which failed starts are counted. Default 10m.
	SafeModeWindow Duration `yaml:"safe_mode_window"`
	// GoodAfter: a start counts as good once the tunnel has been up and
	// every job's check fresh for this long. Default 60s.
	GoodAfter Duration `yaml:"good_after"`
}

// Health holds the management API the datacenter polls.
type Health struct {
	// Port of the management API (HTTP inside the tunnel) on
	// tunnel.management_address. Default 8080.
	Port int `yaml:"port"`
	// TokenFile holds the bearer token every request must carry (one line,
	// at least 32 characters; mode 0600 or 0400). Without it the
	// management API does not run. Default: none.
	TokenFile string `yaml:"token_file"`
	// AlsoListen are more host:port addresses for the management API, for
	// example 127.0.0.1:8080 for a collector on the box. Default: none.
	AlsoListen []string `yaml:"also_listen"`
}

// TimeSync holds the time-sync check (seed row 27).
type TimeSync struct {
	// Servers are NTP servers (host or host:port, port 123 by default),
	// normally in the cloud and reached through the tunnel. Default: none
	// (only the system clock's own sync state is checked).
	Servers []string `yaml:"servers"`
	// MaxOffset beyond which the box is degraded and an event is
	// journaled. Default 500ms.
	MaxOffset Duration `yaml:"max_offset"`
	// Interval between checks, at least 1m. Default 15m.
	Interval Duration `yaml:"interval"`
}

// SelfCheck holds the daily self-check.
type SelfCheck struct {
	// At is the time of day (HH:MM, in time_zone) of the daily self-check.
	// Default "03:00".
	At string `yaml:"at"`
	// MinFreeBytes on the state directory's file system. Default 8 MiB
	// (8388608).
	MinFreeBytes int64 `yaml:"min_free_bytes"`
	// MaxTemperature in °C of the board's hottest sensor, where it has one.
	// Default 85.
	MaxTemperature int `yaml:"max_temperature"`
}

// Duration is a time.Duration written in YAML as "500ms", "3s", "1m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes d the way the config does: "500ms", "3s", "1m", "1m30s".
func (d Duration) String() string {
	x := time.Duration(d)
	switch {
	case x == 0:
		return "0s"
	case x%time.Minute == 0:
		s := strings.TrimSuffix(x.String(), "0s") // "1m0s" → "1m"
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m") // "1h0m" → "1h"
		}
		return s
	case x%time.Second == 0 || x > time.Second:
		return x.String()
	case x%time.Millisecond == 0:
		return fmt.Sprintf("%dms", x/time.Millisecond)
	}
	return x.String()
}
