package netctl

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"golang.zx2c4.com/wireguard/conn"
)

// ErrNoKernelWireGuard is returned when the kernel backend is asked for on
// a kernel without WireGuard (neither built in nor as a loadable module).
var ErrNoKernelWireGuard = errors.New("netctl: kernel has no WireGuard support (try backend: tun)")

// WireGuardOptions says how to open a WireGuard device.
type WireGuardOptions struct {
	// Name is the link name, e.g. "wg-shisa"; for netstack only a label
	// (and the UAPI socket's name).
	Name string
	// Backend picks the implementation; "" means BackendAuto: kernel when
	// the kernel has WireGuard, else tun. Netstack is never picked
	// implicitly; it is for rootless runs and must be asked for.
	Backend Backend
	// MTU of the device; 0 means 1420, WireGuard's usual.
	MTU int
	// Addrs are the addresses the userspace stack owns (the tunnel
	// address). Netstack only; the other backends get their addresses from
	// Apply.
	Addrs []netip.Addr
	// Logger receives wireguard-go's messages at debug level (never a key).
	// Nil discards them.
	Logger *slog.Logger
	// UAPIDir is where a wireguard-go device serves its UAPI socket
	// (<UAPIDir>/<Name>.sock) so that `wg show` and wgctrl can read it.
	// For tun, "" means DefaultUAPIDir (/var/run/wireguard, where `wg`
	// looks); for netstack, "" means no socket (rootless runs cannot write
	// there). "-" means no socket. Ignored by the kernel backend.
	UAPIDir string
	// Bind is the UDP transport of a wireguard-go device; nil means
	// conn.NewDefaultBind(). Tests may inject one. Ignored by the kernel
	// backend.
	Bind conn.Bind
}

// WireGuardDefaultMTU is WireGuard's usual MTU: 1500 less the largest overhead
// (IPv6 outer header, UDP, WireGuard).
const WireGuardDefaultMTU = 1420

// OpenWireGuard creates (or, for the kernel backend after a restart,
// reuses) the WireGuard device and brings wireguard-go up. It does not set
// the link up or give it addresses; Apply does that. The device has no key
// and no peers until Configure.
//
// The concrete type is *KernelWireGuard, *TUNWireGuard or
// *NetstackWireGuard; callers of a netstack device type-assert to reach
// [NetstackWireGuard.Net].
func OpenWireGuard(opts WireGuardOptions) (WireGuard, error) {
	if opts.Name == "" {
		return nil, errors.New("netctl: wireguard: no device name")
	}
	if opts.MTU == 0 {
		opts.MTU = WireGuardDefaultMTU
	}
	if opts.MTU < 576 || opts.MTU > 65535 {
		return nil, fmt.Errorf("netctl: wireguard %s: MTU %d out of range (576 to 65535)", opts.Name, opts.MTU)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := opts.Backend
	if b == "" || b == BackendAuto {
		b = BackendTUN
		if KernelWireGuardAvailable() {
			b = BackendKernel
		}
	}
	opts.Logger = opts.Logger.With("wg", opts.Name, "backend", string(b))
	// Each case returns a nil interface on error, never a typed nil that
	// would pass a `!= nil` check and panic in Close.
	switch b {
	case BackendKernel:
		return orNil(openKernelWireGuard(opts))
	case BackendTUN:
		return orNil(openTUNWireGuard(opts))
	case BackendNetstack:
		return orNil(openNetstackWireGuard(opts))
	default:
		return nil, fmt.Errorf("netctl: wireguard %s: unknown backend %q (want auto, kernel, tun or netstack)", opts.Name, b)
	}
}

func orNil[T WireGuard](w T, err error) (WireGuard, error) {
	if err != nil {
		return nil, err
	}
	return w, nil
}
