package netctl_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/vishvananda/netlink"

	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// TestVIPFailoverNetns is the takeover on real kernels: two units and an
// office host on one bridged LAN. Unit A takes the virtual IP and
// announces it; the office host's ARP entry for the VIP moves to A's MAC.
// Then A gives it up and B takes it: the entry moves to B's MAC as soon
// as B's announcement is sent, without waiting for it to expire, and A
// keeps its own LAN address.
func TestVIPFailoverNetns(t *testing.T) {
	r := netnstest.New(t)
	lan, a, b, office := r.NS("lan"), r.NS("unita"), r.NS("unitb"), r.NS("office")
	r.Link(a, "lan0", lan, "pa")
	r.Link(b, "lan0", lan, "pb")
	r.Link(office, "lan0", lan, "po")
	r.Bridge(lan, "br0", "pa", "pb", "po")
	ownA := pfx("192.168.77.2/24")
	a.Addr("lan0", ownA)
	b.Addr("lan0", pfx("192.168.77.3/24"))
	office.Addr("lan0", pfx("192.168.77.10/24"))
	vip := pfx("192.168.77.1/32")
	macA, macB := linkMAC(t, a, "lan0"), linkMAC(t, b, "lan0")

	// The office host has talked to its gateway before, at the MAC of a
	// unit that has since died. (With arp_accept off, Linux's default, a
	// gratuitous ARP updates an entry but does not create one.)
	dead := net.HardwareAddr{0x02, 0, 0, 0xde, 0xad, 0x01}
	seedNeigh(t, office, "lan0", vip.Addr(), dead)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	capture := captureGARP(t, office, "lan0", vip.Addr())

	takeOver := func(u *netnstest.NS) {
		t.Helper()
		err := u.Do(func() error {
			for i, want := range []bool{true, false} {
				changed, err := netctl.AddVIP(netctl.Kernel{}, "lan0", vip)
				if err != nil {
					return err
				}
				if changed != want {
					t.Errorf("%s: AddVIP #%d changed = %v, want %v", u, i+1, changed, want)
				}
			}
			return netctl.KernelGARP{}.Announce(ctx, "lan0", vip.Addr(), 3, 50*time.Millisecond)
		})
		if err != nil {
			t.Fatalf("%s: take over: %v", u, err)
		}
	}
	checkNeigh := func(step string, want net.HardwareAddr) {
		t.Helper()
		got, state := neighOf(t, office, "lan0", vip.Addr())
		if !slices.Equal(got, want) {
			t.Errorf("%s: office's ARP entry for %s is at %s (%s), want %s", step, vip.Addr(), got, state, want)
		}
		if !state.Answered() {
			t.Errorf("%s: office's ARP entry for %s is %s, want a usable one", step, vip.Addr(), state)
		}
	}

	takeOver(a)
	checkNeigh("after A's announcement", macA) // right away: no polling
	if got := capture.wait(t, 3); !garpsFrom(got, macA, vip.Addr(), 3, 50*time.Millisecond) {
		t.Errorf("office saw from A:\n%s", formatGARPs(got))
	}
	pingCtx, pingCancel := context.WithTimeout(ctx, 5*time.Second)
	if err := office.Ping(pingCtx, vip.Addr()); err != nil {
		t.Errorf("office pings the VIP held by A: %v", err)
	}
	pingCancel()

	// A steps down: it removes the VIP, never its own address.
	err := a.Do(func() error {
		k := netctl.Kernel{}
		for i, want := range []bool{true, false} {
			changed, err := netctl.DelVIP(k, "lan0", vip)
			if err != nil {
				return err
			}
			if changed != want {
				t.Errorf("DelVIP #%d changed = %v, want %v", i+1, changed, want)
			}
		}
		have, err := k.AddrList("lan0")
		if err != nil {
			return err
		}
		if !slices.Equal(have, []netip.Prefix{ownA}) {
			t.Errorf("A's addresses after DelVIP: %v, want [%s]", have, ownA)
		}
		// A unit that does not hold the address refuses to announce it.
		err = netctl.KernelGARP{}.Announce(ctx, "lan0", vip.Addr(), 1, 0)
		if !errors.Is(err, netctl.ErrNotOnLink) {
			t.Errorf("A announces the VIP it gave up: %v, want ErrNotOnLink", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("A steps down: %v", err)
	}

	// B takes over within a second of A's announcement, which Linux's
	// ARP locktime would hold against anything but a gratuitous ARP.
	takeOver(b)
	checkNeigh("after B's announcement", macB) // right away: no expiry
	if got := capture.wait(t, 6)[3:]; !garpsFrom(got, macB, vip.Addr(), 3, 50*time.Millisecond) {
		t.Errorf("office saw from B:\n%s", formatGARPs(got))
	}
	pingCtx, pingCancel = context.WithTimeout(ctx, 5*time.Second)
	if err := office.Ping(pingCtx, vip.Addr()); err != nil {
		t.Errorf("office pings the VIP held by B: %v", err)
	}
	pingCancel()
	checkNeigh("after the office's ping", macB)

	// Announce stops at ctx's end, mid-burst.
	err = b.Do(func() error {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := netctl.KernelGARP{}.Announce(short, "lan0", vip.Addr(), 100, time.Second)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Announce with a 100 ms context: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Announce with a 100 ms context took %s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVIPPrefixLengthNetns checks, on a real kernel, that a VIP with the
// LAN's prefix length never takes the unit's own address with it: as a
// secondary added after it, and as a leftover primary added before it
// with promote_secondaries off.
func TestVIPPrefixLengthNetns(t *testing.T) {
	r := netnstest.New(t)
	u, peer := r.NS("unit"), r.NS("peer")
	r.Link(u, "lan0", peer, "lan0")
	own, vip := pfx("192.168.77.2/24"), pfx("192.168.77.1/24")
	h := u.Handle()
	l, err := h.LinkByName("lan0")
	if err != nil {
		t.Fatal(err)
	}
	addr := func(p netip.Prefix) *netlink.Addr {
		return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	}
	addrs := func() []netip.Prefix {
		t.Helper()
		var have []netip.Prefix
		if err := u.Do(func() (err error) { have, err = netctl.Kernel{}.AddrList("lan0"); return err }); err != nil {
			t.Fatal(err)
		}
		return have
	}
	setPromote := func(v string) {
		t.Helper()
		err := u.Do(func() error {
			return os.WriteFile("/proc/sys/"+netctl.SysctlPromoteSecondaries("lan0"), []byte(v+"\n"), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setPromote("0")

	// Control: the hazard is real on this kernel.
	for _, p := range []netip.Prefix{vip, own} {
		if err := h.AddrAdd(l, addr(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.AddrDel(l, addr(vip)); err != nil {
		t.Fatal(err)
	}
	if have := addrs(); len(have) != 0 {
		t.Fatalf("control: removing the primary with promotion off left %v; the kernel no longer removes secondaries and this test proves nothing", have)
	}

	// The own address first, the VIP as its secondary.
	if err := h.AddrAdd(l, addr(own)); err != nil {
		t.Fatal(err)
	}
	err = u.Do(func() error {
		if _, err := netctl.AddVIP(netctl.Kernel{}, "lan0", vip); err != nil {
			return err
		}
		_, err := netctl.DelVIP(netctl.Kernel{}, "lan0", vip)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if have := addrs(); !slices.Equal(have, []netip.Prefix{own}) {
		t.Errorf("after a secondary VIP came and went: %v, want [%s]", have, own)
	}

	// A leftover VIP as the primary, the own address its secondary.
	if err := h.AddrDel(l, addr(own)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []netip.Prefix{vip, own} {
		if err := h.AddrAdd(l, addr(p)); err != nil {
			t.Fatal(err)
		}
	}
	if have := addrs(); !slices.Equal(have, []netip.Prefix{vip, own}) {
		t.Fatalf("set-up: addresses %v, want [%s %s]", have, vip, own)
	}
	err = u.Do(func() error {
		_, err := netctl.DelVIP(netctl.Kernel{}, "lan0", vip)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if have := addrs(); !slices.Equal(have, []netip.Prefix{own}) {
		t.Errorf("after DelVIP of a primary VIP: %v, want [%s]", have, own)
	}

	// And AddVIP refuses to make a VIP with the LAN length a primary.
	if err := h.AddrDel(l, addr(own)); err != nil {
		t.Fatal(err)
	}
	err = u.Do(func() error {
		_, err := netctl.AddVIP(netctl.Kernel{}, "lan0", vip)
		return err
	})
	if !errors.Is(err, netctl.ErrVIPPrimary) {
		t.Errorf("AddVIP %s with no own address: %v, want ErrVIPPrimary", vip, err)
	}
}

func linkMAC(t *testing.T, ns *netnstest.NS, name string) net.HardwareAddr {
	t.Helper()
	l, err := ns.Handle().LinkByName(name)
	if err != nil {
		t.Fatalf("%s: %v", ns, err)
	}
	return l.Attrs().HardwareAddr
}

func seedNeigh(t *testing.T, ns *netnstest.NS, link string, addr netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	l, err := ns.Handle().LinkByName(link)
	if err == nil {
		err = ns.Handle().NeighSet(&netlink.Neigh{
			LinkIndex:    l.Attrs().Index,
			Family:       netlink.FAMILY_V4,
			State:        netlink.NUD_STALE,
			IP:           addr.AsSlice(),
			HardwareAddr: mac,
		})
	}
	if err != nil {
		t.Fatalf("%s: seed ARP entry %s at %s: %v", ns, addr, mac, err)
	}
}

// neighOf returns the MAC address and state of addr's entry in ns's
// neighbour table.
func neighOf(t *testing.T, ns *netnstest.NS, link string, addr netip.Addr) (net.HardwareAddr, netctl.NeighState) {
	t.Helper()
	var state netctl.NeighState
	if err := ns.Do(func() (err error) { state, err = netctl.KernelInspector{}.Neighbor(link, addr); return err }); err != nil {
		t.Fatalf("%s: %v", ns, err)
	}
	l, err := ns.Handle().LinkByName(link)
	if err != nil {
		t.Fatalf("%s: %v", ns, err)
	}
	ns4, err := ns.Handle().NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("%s: list neighbours: %v", ns, err)
	}
	for _, n := range ns4 {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == addr {
			return n.HardwareAddr, state
		}
	}
	return nil, state
}

// garpSeen is one gratuitous ARP as a LAN host received it.
type garpSeen struct {
	at  time.Time
	pkt *arp.Packet
	dst net.HardwareAddr
}

// garpCapture collects the gratuitous ARPs for one address that a host
// receives.
type garpCapture struct {
	mu   sync.Mutex
	seen []garpSeen
	more chan struct{} // signalled (coalesced) on each packet
}

// captureGARP starts collecting the gratuitous ARPs for addr received on
// ns's link until the test ends.
func captureGARP(t *testing.T, ns *netnstest.NS, link string, addr netip.Addr) *garpCapture {
	t.Helper()
	var c *arp.Client
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(link)
		if err == nil {
			c, err = arp.Dial(ifi)
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s: open ARP capture on %s: %v", ns, link, err)
	}
	g := &garpCapture{more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, f, err := c.Read()
			if err != nil {
				return // closed
			}
			if p.Operation != arp.OperationRequest || p.SenderIP != addr || p.TargetIP != addr {
				continue
			}
			g.mu.Lock()
			g.seen = append(g.seen, garpSeen{time.Now(), p, f.Destination})
			g.mu.Unlock()
			select {
			case g.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return g
}

// wait returns the first n packets seen, failing the test if they do not
// come within 5 s.
func (g *garpCapture) wait(t *testing.T, n int) []garpSeen {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		g.mu.Lock()
		seen := slices.Clone(g.seen)
		g.mu.Unlock()
		if len(seen) >= n {
			return seen[:n]
		}
		select {
		case <-g.more:
		case <-deadline.C:
			t.Fatalf("saw %d gratuitous ARPs, want %d:\n%s", len(seen), n, formatGARPs(seen))
		}
	}
}

// garpsFrom reports whether seen are count ARP announcements of addr at
// mac, broadcast, with zero target MAC, spaced at least 80% of gap.
func garpsFrom(seen []garpSeen, mac net.HardwareAddr, addr netip.Addr, count int, gap time.Duration) bool {
	if len(seen) != count {
		return false
	}
	for i, s := range seen {
		p := s.pkt
		if !slices.Equal(p.SenderHardwareAddr, mac) || p.SenderIP != addr || p.TargetIP != addr ||
			!slices.Equal(p.TargetHardwareAddr, make(net.HardwareAddr, 6)) ||
			!slices.Equal(s.dst, ethernet.Broadcast) {
			return false
		}
		if i > 0 && s.at.Sub(seen[i-1].at) < gap*8/10 {
			return false
		}
	}
	return true
}

func formatGARPs(seen []garpSeen) string {
	var s string
	for _, g := range seen {
		s += g.at.Format("15:04:05.000") + " " + g.dst.String() + " " + g.pkt.Operation.String() +
			" " + g.pkt.SenderHardwareAddr.String() + " " + g.pkt.SenderIP.String() +
			" -> " + g.pkt.TargetHardwareAddr.String() + " " + g.pkt.TargetIP.String() + "\n"
	}
	return s
}
