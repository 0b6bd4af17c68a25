package ha_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/ha"
)

func TestUDPTransport(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, err := ha.ListenUDP(netip.AddrPortFrom(lo, 0), netip.AddrPortFrom(lo, 9)) // peer fixed below
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ha.ListenUDP(netip.AddrPortFrom(lo, 0), a.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-a.Recv():
		if string(p) != "hello" {
			t.Errorf("got %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received over loopback")
	}
	// From another address: dropped and counted.
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	defer other.Close()
	if _, err := other.WriteToUDPAddrPort([]byte("x"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Foreign.Load() == 0 && time.Now().Before(deadline) {
		select {
		case p := <-b.Recv():
			t.Fatalf("foreign packet delivered: %q", p)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if b.Foreign.Load() != 1 {
		t.Errorf("foreign %d", b.Foreign.Load())
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
	if _, ok := <-b.Recv(); ok {
		t.Error("Recv not closed after Close")
	}
	_ = b.Close() // twice is fine
}

func TestUDPRejectsMixedFamilies(t *testing.T) {
	if _, err := ha.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("[::1]:7")); err == nil {
		t.Error("mixed IPv4/IPv6 accepted")
	}
}
