package netctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TUNWireGuard is wireguard-go on a kernel TUN device. Closing it removes
// the TUN link.
type TUNWireGuard struct{ userspaceWireGuard }

// NetstackWireGuard is wireguard-go on gVisor's userspace network stack:
// no link, no root. Reach the tunnel through [NetstackWireGuard.Net].
type NetstackWireGuard struct {
	userspaceWireGuard
	net *netstack.Net
}

var (
	_ WireGuard = (*TUNWireGuard)(nil)
	_ WireGuard = (*NetstackWireGuard)(nil)
)

// Net is the userspace stack behind the tunnel: dial and listen through it
// (DialContextTCPAddrPort, ListenTCPAddrPort, ...) from the addresses in
// WireGuardOptions.Addrs.
func (w *NetstackWireGuard) Net() *netstack.Net { return w.net }

func openTUNWireGuard(opts WireGuardOptions) (*TUNWireGuard, error) {
	tdev, err := tun.CreateTUN(opts.Name, opts.MTU)
	if err != nil {
		return nil, fmt.Errorf("netctl: wireguard %s: create TUN: %w (needs CAP_NET_ADMIN and /dev/net/tun; is a link of that name already there?)", opts.Name, err)
	}
	uapiDir := opts.UAPIDir
	w := &TUNWireGuard{}
	if err := w.start(opts, BackendTUN, tdev, uapiDir); err != nil {
		return nil, err
	}
	return w, nil
}

func openNetstackWireGuard(opts WireGuardOptions) (*NetstackWireGuard, error) {
	if len(opts.Addrs) == 0 {
		return nil, fmt.Errorf("netctl: wireguard %s: netstack needs the tunnel address (WireGuardOptions.Addrs)", opts.Name)
	}
	tdev, tnet, err := netstack.CreateNetTUN(opts.Addrs, nil, opts.MTU)
	if err != nil {
		return nil, fmt.Errorf("netctl: wireguard %s: create netstack: %w", opts.Name, err)
	}
	uapiDir := opts.UAPIDir
	if uapiDir == "" {
		uapiDir = "-"
	}
	w := &NetstackWireGuard{net: tnet}
	if err := w.start(opts, BackendNetstack, tdev, uapiDir); err != nil {
		return nil, err
	}
	return w, nil
}

// userspaceWireGuard is what the tun and netstack backends share:
// wireguard-go's device, its UAPI socket, and the translation between
// wgctrl's types and UAPI text.
type userspaceWireGuard struct {
	name    string
	backend Backend
	log     *slog.Logger
	dev     *device.Device
	uapi    *uapiServer // nil when there is no socket
	wglog   *gatedLogger

	closeOnce sync.Once
	closeErr  error
}

// start takes ownership of tdev (closing it on failure), starts
// wireguard-go on it and the UAPI socket, and brings the device up.
func (w *userspaceWireGuard) start(opts WireGuardOptions, b Backend, tdev tun.Device, uapiDir string) error {
	w.name, w.backend, w.log = opts.Name, b, opts.Logger
	bind := opts.Bind
	if bind == nil {
		bind = conn.NewDefaultBind()
	}
	w.wglog = &gatedLogger{log: w.log}
	w.dev = device.NewDevice(tdev, bind, w.wglog.deviceLogger())
	fail := func(err error) error {
		w.dev.Close() // closes tdev and bind too
		w.wglog.stop()
		return fmt.Errorf("netctl: wireguard %s: %w", w.name, err)
	}
	if uapiDir != "-" {
		s, err := listenUAPI(uapiDir, w.name, w.dev.IpcHandle)
		if err != nil {
			return fail(err)
		}
		w.uapi = s
	}
	if err := w.dev.Up(); err != nil {
		if w.uapi != nil {
			w.uapi.Close()
		}
		return fail(fmt.Errorf("up: %w", err))
	}
	w.log.Debug("wireguard device open", "uapi", w.UAPISocket())
	return nil
}

// Name returns the link name (for netstack, the label).
func (w *userspaceWireGuard) Name() string { return w.name }

// Backend returns BackendTUN or BackendNetstack.
func (w *userspaceWireGuard) Backend() Backend { return w.backend }

// String names the device and its backend; it never shows a key.
func (w *userspaceWireGuard) String() string {
	return fmt.Sprintf("wireguard %s (%s)", w.name, w.backend)
}

// UAPISocket is the path of the device's UAPI socket, or "" if it has none.
func (w *userspaceWireGuard) UAPISocket() string {
	if w.uapi == nil {
		return ""
	}
	return w.uapi.path
}

// Configure applies cfg like `wg set`, through wireguard-go's UAPI.
func (w *userspaceWireGuard) Configure(cfg wgtypes.Config) error {
	var b strings.Builder
	if err := encodeUAPIConfig(&b, cfg); err != nil {
		return fmt.Errorf("netctl: wireguard %s: configure: %w", w.name, err)
	}
	if err := w.dev.IpcSet(b.String()); err != nil {
		// wireguard-go's messages name the failing key, never its value.
		return fmt.Errorf("netctl: wireguard %s: configure: %w", w.name, err)
	}
	w.log.Debug("wireguard configured", "peers", len(cfg.Peers), "replace_peers", cfg.ReplacePeers)
	return nil
}

// Device reads the device back, like `wg show`.
func (w *userspaceWireGuard) Device() (*wgtypes.Device, error) {
	text, err := w.dev.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("netctl: wireguard %s: read: %w", w.name, err)
	}
	d, err := parseUAPI(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("netctl: wireguard %s: read: %w", w.name, err)
	}
	d.Name = w.name
	d.Type = wgtypes.Userspace
	return d, nil
}

// Close stops the UAPI socket and wireguard-go, which closes the TUN
// device (removing its link) or the netstack, and the UDP sockets. It
// returns when their goroutines have ended and may be called again.
func (w *userspaceWireGuard) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		if w.uapi != nil {
			errs = append(errs, w.uapi.Close())
		}
		w.dev.Close()
		<-w.dev.Wait()
		// wireguard-go's Close does not wait for its per-CPU workers; they
		// end just after it, holding nothing. Silence them now so that
		// nothing is logged after Close returns.
		w.wglog.stop()
		w.closeErr = errors.Join(errs...)
		if w.closeErr != nil {
			w.closeErr = fmt.Errorf("netctl: wireguard %s: close: %w", w.name, w.closeErr)
		}
		w.log.Debug("wireguard device closed")
	})
	return w.closeErr
}

// gatedLogger sends wireguard-go's messages to log at debug level until
// stop: the tunnel job judges health from handshake age, not from these
// lines, and the lines can repeat every few seconds while a peer is
// unreachable. wireguard-go names peers by an abbreviated public key and
// never logs a private or preshared key.
type gatedLogger struct {
	log *slog.Logger

	mu      sync.RWMutex // held for reading while logging
	stopped bool
}

func (g *gatedLogger) deviceLogger() *device.Logger {
	logf := func(level string) func(string, ...any) {
		return func(format string, args ...any) {
			g.mu.RLock()
			defer g.mu.RUnlock()
			if g.stopped || !g.log.Enabled(context.Background(), slog.LevelDebug) {
				return
			}
			g.log.Debug(fmt.Sprintf(format, args...), "wglevel", level)
		}
	}
	return &device.Logger{Verbosef: logf("verbose"), Errorf: logf("error")}
}

// stop returns once no message is being logged, and none will be.
func (g *gatedLogger) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}
