package netctl_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/shisa-gw/shisa/netctl"
)

// netstackNode is one wireguard-go device on a userspace netstack.
type netstackNode struct {
	net  *netstack.Net
	dev  *device.Device
	key  wgtypes.Key
	port int
	addr [2]netip.Addr // IPv4, IPv6
}

func newNetstackNode(t *testing.T, addrs ...netip.Addr) *netstackNode {
	t.Helper()
	tdev, tnet, err := netstack.CreateNetTUN(addrs, nil, 1420)
	if err != nil {
		t.Fatalf("CreateNetTUN: %v", err)
	}
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	logger := device.NewLogger(device.LogLevelError, fmt.Sprintf("(%s) ", addrs[0]))
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), logger)
	t.Cleanup(dev.Close) // closes the TUN too
	if err := dev.IpcSet("private_key=" + hex.EncodeToString(key[:]) + "\nlisten_port=0\n"); err != nil {
		t.Fatalf("IpcSet private key: %v", err)
	}
	if err := dev.Up(); err != nil {
		t.Fatalf("device up: %v", err)
	}
	n := &netstackNode{net: tnet, dev: dev, key: key, addr: [2]netip.Addr{addrs[0], addrs[1]}}
	cfg, err := dev.IpcGet()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(cfg))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "listen_port="); ok {
			if _, err := fmt.Sscan(v, &n.port); err != nil {
				t.Fatalf("listen_port %q: %v", v, err)
			}
		}
	}
	if n.port == 0 {
		t.Fatalf("no listen_port in device config:\n%s", cfg)
	}
	return n
}

// peer makes n accept and send to other's addresses over loopback UDP.
func (n *netstackNode) peer(t *testing.T, other *netstackNode) {
	t.Helper()
	pub := other.key.PublicKey()
	cfg := fmt.Sprintf("public_key=%s\nendpoint=127.0.0.1:%d\nallowed_ip=%s/32\nallowed_ip=%s/128\n",
		hex.EncodeToString(pub[:]), other.port, other.addr[0], other.addr[1])
	if err := n.dev.IpcSet(cfg); err != nil {
		t.Fatalf("IpcSet peer: %v", err)
	}
}

// TestNetstackPing pings across two netstacks joined by wireguard-go over
// loopback UDP: it needs no root and proves the netstack ping path.
func TestNetstackPing(t *testing.T) {
	a := newNetstackNode(t, netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("fd99::1"))
	b := newNetstackNode(t, netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("fd99::2"))
	a.peer(t, b)
	b.peer(t, a)

	p := netctl.NewNetstackPinger(a.net)
	for i, fam := range []string{"IPv4", "IPv6"} {
		rtt := pingOK(t, p, a.addr[i], b.addr[i]) // the first one handshakes
		t.Logf("%s: %v (first, with handshake)", fam, rtt)
		rtt = pingOK(t, p, netip.Addr{}, b.addr[i])
		t.Logf("%s: %v (unbound source)", fam, rtt)
		pingConcurrently(t, p, a.addr[i], b.addr[i], 32)
	}

	// No peer has 10.99.0.3: the netstack has no route for it.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Ping(ctx, a.addr[0], netip.MustParseAddr("10.99.0.3"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping to a silent address = %v, want a deadline error", err)
	}

	// The source must be the netstack's own.
	_, err = p.Ping(t.Context(), netip.MustParseAddr("10.77.0.1"), b.addr[0])
	if err == nil || !strings.Contains(err.Error(), "address of the netstack") {
		t.Errorf("Ping from a foreign source = %v, want a hint about the address", err)
	}
}

// TestNetstackPingSequential sends many pings one after another, each on a
// fresh endpoint: a reply that beats the reader to its endpoint must not
// lose the ping (see netctl's netstackRetry; before it, about one ping in
// 250 hung until its deadline).
func TestNetstackPingSequential(t *testing.T) {
	a := newNetstackNode(t, netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("fd99::1"))
	b := newNetstackNode(t, netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("fd99::2"))
	a.peer(t, b)
	b.peer(t, a)
	p := netctl.NewNetstackPinger(a.net)
	var worst time.Duration
	for range 500 {
		worst = max(worst, pingOK(t, p, a.addr[0], b.addr[0]))
	}
	t.Logf("500 pings, slowest %v", worst)
}
