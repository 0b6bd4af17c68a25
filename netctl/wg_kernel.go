package netctl

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/mdlayher/genetlink"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// KernelWireGuard is the in-kernel WireGuard device: a link of type
// "wireguard" made through rtnetlink and configured through wgctrl
// (generic netlink). It works in the network namespace of the thread that
// opened it.
type KernelWireGuard struct {
	name   string
	log    *slog.Logger
	client *wgctrl.Client

	closeOnce sync.Once
	closeErr  error
}

var _ WireGuard = (*KernelWireGuard)(nil)

// KernelWireGuardAvailable reports whether the kernel can make WireGuard
// links. It asks the generic netlink controller for the "wireguard"
// family: that needs no privilege, creates nothing, and when WireGuard is
// a module that is not loaded yet the kernel loads it for the request
// (the module declares the family alias), so "loadable" counts as
// available. Any failure to ask counts as unavailable.
func KernelWireGuardAvailable() bool {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.GetFamily("wireguard")
	return err == nil
}

func openKernelWireGuard(opts WireGuardOptions) (*KernelWireGuard, error) {
	if !KernelWireGuardAvailable() {
		return nil, ErrNoKernelWireGuard
	}
	created := false
	link, err := netlink.LinkByName(opts.Name)
	switch {
	case err == nil:
		// A restart finds the link it left; reuse it (and its peers, which
		// the next Configure replaces or keeps as the caller says).
		if t := link.Type(); t != "wireguard" {
			return nil, fmt.Errorf("netctl: wireguard %s: a %s link of that name exists; remove it (ip link del %s) or pick another name", opts.Name, t, opts.Name)
		}
		if link.Attrs().MTU != opts.MTU {
			if err := netlink.LinkSetMTU(link, opts.MTU); err != nil {
				return nil, fmt.Errorf("netctl: wireguard %s: set MTU %d: %w", opts.Name, opts.MTU, err)
			}
		}
		opts.Logger.Debug("reusing existing wireguard link")
	case errors.As(err, new(netlink.LinkNotFoundError)):
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU = opts.Name, opts.MTU
		if err := netlink.LinkAdd(&netlink.Wireguard{LinkAttrs: la}); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				return nil, ErrNoKernelWireGuard
			}
			return nil, fmt.Errorf("netctl: wireguard %s: create link: %w", opts.Name, err)
		}
		created = true
	default:
		return nil, fmt.Errorf("netctl: wireguard %s: look up link: %w", opts.Name, err)
	}
	client, err := wgctrl.New()
	if err != nil {
		err = fmt.Errorf("netctl: wireguard %s: wgctrl: %w", opts.Name, err)
		if created {
			err = errors.Join(err, wgDeleteLink(opts.Name))
		}
		return nil, err
	}
	opts.Logger.Debug("wireguard device open", "created", created)
	return &KernelWireGuard{name: opts.Name, log: opts.Logger, client: client}, nil
}

// Name returns the link name.
func (w *KernelWireGuard) Name() string { return w.name }

// Backend returns BackendKernel.
func (w *KernelWireGuard) Backend() Backend { return BackendKernel }

// String names the device and its backend; it never shows a key.
func (w *KernelWireGuard) String() string { return fmt.Sprintf("wireguard %s (kernel)", w.name) }

// Configure applies cfg like `wg set`.
func (w *KernelWireGuard) Configure(cfg wgtypes.Config) error {
	if err := w.client.ConfigureDevice(w.name, cfg); err != nil {
		return fmt.Errorf("netctl: wireguard %s: configure: %w", w.name, err)
	}
	w.log.Debug("wireguard configured", "peers", len(cfg.Peers), "replace_peers", cfg.ReplacePeers)
	return nil
}

// Device reads the device back, like `wg show`.
func (w *KernelWireGuard) Device() (*wgtypes.Device, error) {
	d, err := w.client.Device(w.name)
	if err != nil {
		return nil, fmt.Errorf("netctl: wireguard %s: read: %w", w.name, err)
	}
	return d, nil
}

// Close deletes the link and closes the wgctrl client. It may be called
// again; a link already gone is not an error.
func (w *KernelWireGuard) Close() error {
	w.closeOnce.Do(func() {
		err := errors.Join(wgDeleteLink(w.name), w.client.Close())
		if err != nil {
			w.closeErr = fmt.Errorf("netctl: wireguard %s: close: %w", w.name, err)
		}
		w.log.Debug("wireguard device closed")
	})
	return w.closeErr
}

func wgDeleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link: %w", err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete link: %w", err)
	}
	return nil
}
