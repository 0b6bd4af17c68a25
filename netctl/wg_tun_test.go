package netctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func wgRequireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: creates network namespaces and TUN devices")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: run 'sudo make test'")
	}
}

// wgEnterNewNetns moves the test goroutine's OS thread into a fresh network
// namespace for the rest of the test. The thread is never unlocked or
// switched back: when the test goroutine ends Go discards the thread, and
// the namespace (with any link the test left) dies with it, whether the
// test passed, failed or panicked. Cleanups run on the same goroutine, so
// they still see the namespace.
func wgEnterNewNetns(t *testing.T) {
	t.Helper()
	wgRequireRoot(t)
	runtime.LockOSThread() // never unlocked: see above
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("create network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
}

func TestTUNWireGuard(t *testing.T) {
	wgEnterNewNetns(t)
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	const name = "wg-tuntest"
	w, err := OpenWireGuard(WireGuardOptions{Name: name, Backend: BackendTUN, MTU: 1380, UAPIDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	tw, ok := w.(*TUNWireGuard)
	if !ok || w.Backend() != BackendTUN || w.Name() != name {
		t.Fatalf("OpenWireGuard = %T %s %s", w, w.Backend(), w.Name())
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("no TUN link after Open: %v", err)
	}
	if link.Type() != "tuntap" || link.Attrs().MTU != 1380 {
		t.Errorf("link type %s MTU %d, want tuntap 1380", link.Type(), link.Attrs().MTU)
	}

	priv, peer := wgMustKey(t), wgMustKey(t).PublicKey()
	port := 0 // any free port; read back below
	if err := w.Configure(wgtypes.Config{PrivateKey: &priv, ListenPort: &port, Peers: []wgtypes.PeerConfig{{
		PublicKey:                   peer,
		Endpoint:                    &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 51820},
		PersistentKeepaliveInterval: wgPtr(25 * time.Second),
		AllowedIPs:                  []net.IPNet{wgMustIPNet("10.0.0.0/8")},
	}}}); err != nil {
		t.Fatal(err)
	}

	// Through the socket, as `wg show` reads it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sock := filepath.Join(dir, name+".sock")
	if tw.UAPISocket() != sock {
		t.Errorf("UAPISocket = %q, want %q", tw.UAPISocket(), sock)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	viaSock, err := uapiGet(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := w.Device()
	if err != nil {
		t.Fatal(err)
	}
	for what, d := range map[string]*wgtypes.Device{"socket": viaSock, "Device()": direct} {
		if d.Name != name || d.PublicKey != priv.PublicKey() || d.ListenPort == 0 || len(d.Peers) != 1 {
			t.Fatalf("%s: name %q listen port %d peers %d", what, d.Name, d.ListenPort, len(d.Peers))
		}
		p := d.Peers[0]
		if p.PublicKey != peer || p.Endpoint.String() != "192.0.2.1:51820" ||
			p.PersistentKeepaliveInterval != 25*time.Second || len(p.AllowedIPs) != 1 || p.AllowedIPs[0].String() != "10.0.0.0/8" {
			t.Errorf("%s: peer = %+v", what, p)
		}
	}

	for range 2 {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := netlink.LinkByName(name); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Errorf("TUN link still there after Close (err %v)", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after Close (err %v)", err)
	}
	wgWaitGoroutines(t, before)
}

// TestTUNWireGuardWgctrl opens the socket in the default directory, where
// wgctrl (and `wg`) look, and reads the device through wgctrl itself.
var wgctrlSeq atomic.Int32

func TestTUNWireGuardWgctrl(t *testing.T) {
	wgEnterNewNetns(t)
	// Unique across test processes: others may run this package's tests
	// at the same time, and the default directory is shared.
	name := fmt.Sprintf("wgc%d-%d", os.Getpid()%10000000, wgctrlSeq.Add(1))
	w, err := OpenWireGuard(WireGuardOptions{Name: name, Backend: BackendTUN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if got, want := w.(*TUNWireGuard).UAPISocket(), filepath.Join(DefaultUAPIDir, name+".sock"); got != want {
		t.Errorf("UAPISocket = %q, want %q", got, want)
	}
	priv := wgMustKey(t)
	c, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Configure through wgctrl, read through Device(), and the other way.
	if err := c.ConfigureDevice(name, wgtypes.Config{PrivateKey: &priv}); err != nil {
		t.Fatal(err)
	}
	if d, err := w.Device(); err != nil || d.PublicKey != priv.PublicKey() {
		t.Fatalf("Device after wgctrl configure: %v, %v", d, err)
	}
	peer := wgMustKey(t).PublicKey()
	if err := w.Configure(wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: peer}}}); err != nil {
		t.Fatal(err)
	}
	d, err := c.Device(name)
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != wgtypes.Userspace || d.PublicKey != priv.PublicKey() || len(d.Peers) != 1 || d.Peers[0].PublicKey != peer {
		t.Errorf("wgctrl Device = %+v", d)
	}
}
