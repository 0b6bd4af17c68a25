package netctl

import (
	"context"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Backend names how a WireGuard device is realised.
type Backend string

const (
	BackendAuto     Backend = "auto"
	BackendKernel   Backend = "kernel"
	BackendTUN      Backend = "tun"
	BackendNetstack Backend = "netstack"
)

// WireGuard is one WireGuard device, whatever its backend.
type WireGuard interface {
	// Name is the link name ("wg-shisa"); for netstack it is only a label.
	Name() string
	// Backend says which backend realised the device.
	Backend() Backend
	// Configure applies cfg like `wg set` (wgctrl semantics: ReplacePeers,
	// per-peer Remove, UpdateOnly, ReplaceAllowedIPs).
	Configure(cfg wgtypes.Config) error
	// Device reports the device and its peers: last handshake time,
	// rx/tx bytes, current endpoint, allowed IPs.
	Device() (*wgtypes.Device, error)
	// Close removes the device (and, for tun and netstack, stops
	// wireguard-go). Close may be called more than once.
	Close() error
}

// Pinger sends one ICMP echo from src to dst and waits for the reply.
// It returns the round-trip time, or an error when no reply came before
// ctx ended. Implementations are safe for concurrent use.
type Pinger interface {
	Ping(ctx context.Context, src, dst netip.Addr) (time.Duration, error)
}
