package netctl_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shisa-gw/shisa/netctl"
)

var (
	loop4 = netip.MustParseAddr("127.0.0.1")
	loop6 = netip.MustParseAddr("::1")
)

// pingGroupAllows reports whether net.ipv4.ping_group_range lets this
// process open unprivileged ICMP sockets.
func pingGroupAllows(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	gid := os.Getegid()
	return err1 == nil && err2 == nil && lo <= gid && gid <= hi
}

func newICMPPinger(t *testing.T) *netctl.ICMPPinger {
	t.Helper()
	p, err := netctl.NewICMPPinger()
	if err != nil {
		t.Fatalf("NewICMPPinger: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func pingOK(t *testing.T, p netctl.Pinger, src, dst netip.Addr) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	rtt, err := p.Ping(ctx, src, dst)
	if err != nil {
		t.Fatalf("Ping(%s -> %s): %v", src, dst, err)
	}
	if rtt <= 0 || rtt > 5*time.Second {
		t.Errorf("Ping(%s -> %s) rtt = %v, out of range", src, dst, rtt)
	}
	return rtt
}

// TestICMPPingLoopback pings 127.0.0.1 in the test's own namespace: as
// root through whichever socket is allowed, as another user only when
// ping_group_range allows unprivileged ICMP sockets.
func TestICMPPingLoopback(t *testing.T) {
	if os.Geteuid() != 0 && !pingGroupAllows(t) {
		t.Skipf("needs root or an unprivileged ICMP socket: gid %d is outside net.ipv4.ping_group_range", os.Getegid())
	}
	p := newICMPPinger(t)
	rtt := pingOK(t, p, loop4, loop4)
	t.Logf("127.0.0.1: %v", rtt)
}

// pingConcurrently sends n pings at once through p, from src to dst. The
// socket for src must already be open: goroutines other than the test's
// run outside the test's network namespace.
func pingConcurrently(t *testing.T, p netctl.Pinger, src, dst netip.Addr, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := p.Ping(ctx, src, dst)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Ping(%s -> %s): %v", src, dst, err)
		}
	}
}

// TestICMPPingModes runs the pinger in a fresh namespace twice: with
// ping_group_range allowing datagram ICMP sockets, and forbidding them (the
// default in a new namespace) so that it falls back to raw sockets.
func TestICMPPingModes(t *testing.T) {
	enterNewNetns(t)
	k := netctl.Kernel{}
	// A tunnel-like link whose traffic goes nowhere: a TUN device that no
	// process has open drops what is routed to it.
	tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tun-void"}, Mode: netlink.TUNTAP_MODE_TUN}
	if err := netlink.LinkAdd(tun); err != nil {
		t.Fatalf("add TUN link: %v", err)
	}
	tunAddr := netip.MustParseAddr("10.9.0.2")
	blackhole := netip.MustParseAddr("192.0.2.1") // TEST-NET-1
	if _, err := netctl.Apply(k, netctl.State{Links: []netctl.LinkState{{
		Name: "tun-void", Up: true,
		Addrs:  []netip.Prefix{netip.PrefixFrom(tunAddr, 24)},
		Routes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}}}); err != nil {
		t.Fatalf("set up tun-void: %v", err)
	}

	for _, mode := range []struct {
		name   string
		groups string
		raw    bool
	}{
		{"datagram", "0 2147483647", false},
		{"raw", "1 0", true},
	} {
		// No t.Run: subtests run on other goroutines, outside the namespace.
		t.Logf("mode %s", mode.name)
		if err := k.SetSysctl("net/ipv4/ping_group_range", mode.groups); err != nil {
			t.Fatalf("set ping_group_range: %v", err)
		}
		p, err := netctl.NewICMPPinger()
		if err != nil {
			t.Fatalf("NewICMPPinger: %v", err)
		}

		for _, a := range []netip.Addr{loop4, loop6} {
			pingOK(t, p, a, a)
			if raw, ok := netctl.ICMPSocketIsRaw(p, a); !ok || raw != mode.raw {
				t.Errorf("%s: socket on %s: raw=%v open=%v, want raw=%v", mode.name, a, raw, ok, mode.raw)
			}
			pingConcurrently(t, p, a, a, 64)
		}
		// From the tunnel address to our own address: the source is bound.
		pingOK(t, p, tunAddr, tunAddr)

		// No reply: the deadline ends the wait.
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err = p.Ping(ctx, tunAddr, blackhole)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no reply") {
			t.Errorf("%s: Ping to a black hole = %v, want a no-reply deadline error", mode.name, err)
		}

		// A source that is not ours says so.
		_, err = p.Ping(t.Context(), netip.MustParseAddr("10.77.0.1"), loop4)
		if err == nil || !strings.Contains(err.Error(), "address of this machine") {
			t.Errorf("%s: Ping from a foreign source = %v, want a hint about the address", mode.name, err)
		}

		// Close fails a ping in flight and waits for the readers.
		inflight := make(chan error, 1)
		go func() {
			_, err := p.Ping(context.Background(), tunAddr, blackhole)
			inflight <- err
		}()
		waitInFlight(t, p, tunAddr)
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-inflight; !errors.Is(err, netctl.ErrPingerClosed) {
			t.Errorf("%s: Ping in flight at Close = %v, want ErrPingerClosed", mode.name, err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := p.Ping(t.Context(), loop4, loop4); !errors.Is(err, netctl.ErrPingerClosed) {
			t.Errorf("Ping after Close = %v, want ErrPingerClosed", err)
		}
	}
}

// waitInFlight returns once a ping from src is waiting for its reply.
func waitInFlight(t *testing.T, p *netctl.ICMPPinger, src netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for netctl.ICMPInFlight(p, src) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no ping from %s in flight after 5s", src)
		}
		runtime.Gosched()
	}
}

// TestICMPPingerNoLeak checks that Close stops every goroutine the pinger
// started.
func TestICMPPingerNoLeak(t *testing.T) {
	if os.Geteuid() != 0 && !pingGroupAllows(t) {
		t.Skipf("needs root or an unprivileged ICMP socket: gid %d is outside net.ipv4.ping_group_range", os.Getegid())
	}
	before := runtime.NumGoroutine()
	p, err := netctl.NewICMPPinger()
	if err != nil {
		t.Fatal(err)
	}
	pingOK(t, p, loop4, loop4)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitGoroutines(before); err != nil {
		t.Error(err)
	}
}

// waitGoroutines waits (yielding, up to a second) for the number of
// goroutines to fall back to n: a goroutine that has signalled its
// WaitGroup may still be finishing.
func waitGoroutines(n int) error {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if runtime.NumGoroutine() <= n {
			return nil
		}
		runtime.Gosched()
	}
	buf := make([]byte, 1<<16)
	return fmt.Errorf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
}
