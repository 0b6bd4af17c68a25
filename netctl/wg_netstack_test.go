package netctl

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func wgMustKey(t testing.TB) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// wgOpenNetstack opens a netstack device on a real loopback UDP bind and
// closes it when the test ends.
func wgOpenNetstack(t testing.TB, name string, addr netip.Addr, uapiDir string) *NetstackWireGuard {
	t.Helper()
	w, err := OpenWireGuard(WireGuardOptions{
		Name: name, Backend: BackendNetstack, Addrs: []netip.Addr{addr}, UAPIDir: uapiDir,
		Logger: slog.New(slog.NewTextHandler(wgTestWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w.(*NetstackWireGuard)
}

type wgTestWriter struct{ t testing.TB }

func (w wgTestWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// wgWaitGoroutines waits until no more goroutines run than before, or fails
// at the deadline with their stacks.
func wgWaitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		<-tick.C
	}
}

func wgPeerOf(t *testing.T, w WireGuard, pub wgtypes.Key) wgtypes.Peer {
	t.Helper()
	d, err := w.Device()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Peers {
		if p.PublicKey == pub {
			return p
		}
	}
	t.Fatalf("%s has no peer %s", w.Name(), wgShortKey(pub))
	return wgtypes.Peer{}
}

func TestNetstackWireGuardPair(t *testing.T) {
	before := runtime.NumGoroutine()
	ipA, ipB := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	var logs wgSyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	open := func(name string, ip netip.Addr) *NetstackWireGuard {
		w, err := OpenWireGuard(WireGuardOptions{Name: name, Backend: BackendNetstack, Addrs: []netip.Addr{ip}, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		return w.(*NetstackWireGuard)
	}
	a, b := open("wg-a", ipA), open("wg-b", ipB)
	privA, privB, psk := wgMustKey(t), wgMustKey(t), wgMustKey(t)
	pubA, pubB := privA.PublicKey(), privB.PublicKey()
	portA, portB := wgFreeUDPPort(t), wgFreeUDPPort(t)
	host32 := func(ip netip.Addr) net.IPNet { return wgMustIPNet(netip.PrefixFrom(ip, 32).String()) }
	cfg := func(priv wgtypes.Key, port int, peer wgtypes.Key, peerPort int, peerIP netip.Addr) wgtypes.Config {
		return wgtypes.Config{PrivateKey: &priv, ListenPort: &port, ReplacePeers: true, Peers: []wgtypes.PeerConfig{{
			PublicKey: peer, PresharedKey: &psk,
			Endpoint:   &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: peerPort},
			AllowedIPs: []net.IPNet{host32(peerIP)},
		}}}
	}
	if err := a.Configure(cfg(privA, portA, pubB, portB, ipB)); err != nil {
		t.Fatal(err)
	}
	if err := b.Configure(cfg(privB, portB, pubA, portA, ipA)); err != nil {
		t.Fatal(err)
	}

	// TCP from A's stack to a listener on B's stack, through the tunnel.
	ln, err := b.Net().ListenTCPAddrPort(netip.AddrPortFrom(ipB, 8080))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	c, err := a.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(ipB, 8080))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP through the tunnel connected in %v (includes the handshake)", time.Since(start))
	msg := []byte("hello through wireguard")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
	c.Close()
	ln.Close()
	wg.Wait()

	p := wgPeerOf(t, a, pubB)
	if p.LastHandshakeTime.IsZero() || time.Since(p.LastHandshakeTime) > time.Minute {
		t.Errorf("A's last handshake = %v, want recent", p.LastHandshakeTime)
	}
	if p.ReceiveBytes == 0 || p.TransmitBytes == 0 {
		t.Errorf("A's rx/tx = %d/%d, want both > 0", p.ReceiveBytes, p.TransmitBytes)
	}
	if p.Endpoint == nil || p.Endpoint.String() != fmt.Sprintf("127.0.0.1:%d", portB) {
		t.Errorf("A's endpoint for B = %v, want 127.0.0.1:%d", p.Endpoint, portB)
	}
	if got := wgAllowedStrings(p.AllowedIPs); len(got) != 1 || got[0] != "10.77.0.2/32" {
		t.Errorf("A's allowed IPs for B = %v", got)
	}
	if p.PresharedKey != psk {
		t.Errorf("preshared key not read back")
	}
	dA, err := a.Device()
	if err != nil {
		t.Fatal(err)
	}
	if dA.ListenPort != portA || dA.PublicKey != pubA {
		t.Errorf("A: listen port %d public key %s; want %d %s", dA.ListenPort, dA.PublicKey, portA, pubA)
	}

	// Move B's allowed IPs on A.
	if err := a.Configure(wgtypes.Config{Peers: []wgtypes.PeerConfig{{
		PublicKey: pubB, UpdateOnly: true, ReplaceAllowedIPs: true,
		AllowedIPs: []net.IPNet{wgMustIPNet("10.77.1.0/24"), wgMustIPNet("fd77::/64")},
	}}}); err != nil {
		t.Fatal(err)
	}
	if got := wgAllowedStrings(wgPeerOf(t, a, pubB).AllowedIPs); fmt.Sprint(got) != "[10.77.1.0/24 fd77::/64]" {
		t.Errorf("after ReplaceAllowedIPs, A's allowed IPs for B = %v", got)
	}
	// Remove it.
	if err := a.Configure(wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: pubB, Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	if d, err := a.Device(); err != nil || len(d.Peers) != 0 {
		t.Errorf("after Remove: peers %v, err %v; want none", d.Peers, err)
	}

	for _, w := range []WireGuard{a, b} {
		for range 2 {
			if err := w.Close(); err != nil {
				t.Errorf("%s: Close: %v", w, err)
			}
		}
	}
	wgWaitGoroutines(t, before)

	// No secret in the logs, the device's String, or errors.
	text := logs.String() + fmt.Sprint(a, b)
	for _, k := range []wgtypes.Key{privA, privB, psk} {
		for _, enc := range []string{k.String(), hex.EncodeToString(k[:]), base64.RawStdEncoding.EncodeToString(k[:])[:16]} {
			if strings.Contains(text, enc) {
				t.Fatalf("a secret key appears in logs or String()")
			}
		}
	}
	if !strings.Contains(logs.String(), "wg=wg-a") {
		t.Errorf("no debug logs seen from wg-a:\n%s", logs.String())
	}
}

func TestNetstackWireGuardErrors(t *testing.T) {
	w := wgOpenNetstack(t, "wg-err", netip.MustParseAddr("10.78.0.1"), "-")
	secret := wgMustKey(t)
	err := w.Configure(wgtypes.Config{PrivateKey: &secret, Peers: []wgtypes.PeerConfig{{
		PublicKey: secret.PublicKey(), Endpoint: &net.UDPAddr{Port: 5}}}})
	if err == nil || !errors.Is(err, ErrUAPI) {
		t.Fatalf("Configure with a bad endpoint: err = %v, want ErrUAPI", err)
	}
	if strings.Contains(err.Error(), secret.String()) || strings.Contains(err.Error(), hex.EncodeToString(secret[:])) {
		t.Fatal("error shows the private key")
	}
	if _, err := OpenWireGuard(WireGuardOptions{Name: "wg-x", Backend: BackendNetstack}); err == nil {
		t.Error("netstack without Addrs: want an error")
	}
	if _, err := OpenWireGuard(WireGuardOptions{Name: "wg-x", Backend: "quantum"}); err == nil {
		t.Error("unknown backend: want an error")
	}
	if _, err := OpenWireGuard(WireGuardOptions{Backend: BackendNetstack}); err == nil {
		t.Error("no name: want an error")
	}
}

// TestNetstackWireGuardUAPISocket serves the UAPI on a socket in a temp
// dir and talks to it as `wg` would.
func TestNetstackWireGuardUAPISocket(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	w := wgOpenNetstack(t, "wg-sock", netip.MustParseAddr("10.79.0.1"), dir)
	sock := filepath.Join(dir, "wg-sock.sock")
	if w.UAPISocket() != sock {
		t.Fatalf("UAPISocket = %q, want %q", w.UAPISocket(), sock)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	priv, peer := wgMustKey(t), wgMustKey(t).PublicKey()
	if err := uapiSet(ctx, sock, wgtypes.Config{PrivateKey: &priv, Peers: []wgtypes.PeerConfig{{
		PublicKey: peer, PersistentKeepaliveInterval: wgPtr(0 * time.Second), AllowedIPs: []net.IPNet{wgMustIPNet("10.79.0.2/32")},
	}}}); err != nil {
		t.Fatal(err)
	}
	d, err := uapiGet(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "wg-sock" || d.PublicKey != priv.PublicKey() || len(d.Peers) != 1 || d.Peers[0].PublicKey != peer {
		t.Fatalf("uapiGet = %+v", d)
	}
	// A second device may not take over a live socket.
	if _, err := OpenWireGuard(WireGuardOptions{Name: "wg-sock", Backend: BackendNetstack,
		Addrs: []netip.Addr{netip.MustParseAddr("10.79.0.9")}, UAPIDir: dir}); err == nil {
		t.Fatal("second device on a live socket: want an error")
	}
	// An idle client connection must not hold Close up.
	idle, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := uapiGet(ctx, sock); err == nil {
		t.Fatal("socket still answers after Close")
	}
	wgWaitGoroutines(t, before)
}

func wgFreeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

type wgSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *wgSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *wgSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestOpenWireGuardErrorIsNilInterface(t *testing.T) {
	// A failed open must return a nil interface, not a typed nil pointer
	// (callers check `w != nil` before Close).
	w, err := OpenWireGuard(WireGuardOptions{Name: "x", Backend: BackendNetstack, Addrs: nil, MTU: 1420, UAPIDir: "/nonexistent/dir"})
	if err == nil {
		w.Close()
		t.Skip("netstack opened without addresses and with an unusable UAPI dir; nothing to check")
	}
	if w != nil {
		t.Fatalf("OpenWireGuard returned %#v with error %v; want a nil interface", w, err)
	}
}
