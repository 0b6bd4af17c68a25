package netctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/vishvananda/netlink"
)

// GARP is the seam over gratuitous ARP: it tells the hosts of a LAN that
// an IPv4 address now lives at this unit's MAC address, so that they
// update their neighbour (ARP) tables at once instead of sending to the
// old holder until their entries expire. netlink cannot send ARP;
// [KernelGARP] is the real implementation and garptest.Fake records
// announcements for tests.
//
// IPv6 (unsolicited neighbour advertisements) is out of scope: only IPv4
// addresses are announced.
type GARP interface {
	// Announce sends count gratuitous ARP packets for ip on link, gap
	// apart (the first at once, none after the last), and returns when
	// the last has been sent, or when ctx ends (with ctx's error). A
	// count or gap of zero or less means DefaultGARPCount or
	// DefaultGARPGap. ip must be on the link already.
	Announce(ctx context.Context, link string, ip netip.Addr, count int, gap time.Duration) error
}

// The default gratuitous ARP burst: 5 packets 100 ms apart, over 400 ms.
//
// The first packet does the work on a healthy LAN; the others cover its
// loss. keepalived sends garp_master_repeat (5) packets back to back
// (garp_interval 0) on becoming master and the same again
// garp_master_delay (5 s) later. Spacing them keeps one transient (a full
// switch queue, a host briefly busy) from eating the whole burst, and
// 100 ms keeps the burst inside the half-second failover budget, so the
// repeats are over before anyone measures. For keepalived's second burst,
// call Announce again a few seconds later (once the tunnel is up).
const (
	DefaultGARPCount = 5
	DefaultGARPGap   = 100 * time.Millisecond
)

// ErrNotOnLink is wrapped by KernelGARP.Announce when asked to announce an
// address the link does not hold: announcing it would send the LAN's
// traffic for it to a unit that drops it.
var ErrNotOnLink = errors.New("netctl: address is not on the link")

// KernelGARP is the real [GARP]: it writes ARP frames on a raw packet
// socket (AF_PACKET) through github.com/mdlayher/arp.
//
// It sends the request form, as keepalived does by default and RFC 5227
// calls an ARP announcement: an ARP request broadcast to ff:ff:ff:ff:ff:ff
// with sender and target IP both the announced address, sender MAC the
// link's, target MAC zero. Linux treats a request whose sender and target
// IP are equal as gratuitous and updates an existing entry even within
// its locktime (net.ipv4.neigh.*.locktime, 1 s), whereas a reply counts
// as gratuitous only if its target MAC equals its sender MAC. A host with
// arp_accept off (Linux's default) updates only entries it already has,
// which is what matters: a host that never talked to the VIP resolves it
// when it first needs it, and the holder answers.
//
// Like [Kernel], it acts in the network namespace of the calling OS
// thread: the link is looked up and the socket opened there (the socket
// stays in that namespace for the whole burst). It is safe for concurrent
// use.
type KernelGARP struct{}

var _ GARP = KernelGARP{}

// Announce implements [GARP].
func (KernelGARP) Announce(ctx context.Context, link string, ip netip.Addr, count int, gap time.Duration) error {
	count, gap = garpDefaults(count, gap)
	if !ip.Unmap().Is4() {
		return fmt.Errorf("netctl: announce %s on %s: only IPv4 addresses can be announced (no unsolicited neighbour advertisements)", ip, link)
	}
	ip = ip.Unmap()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("netctl: announce %s on %s: %w", ip, link, err)
	}
	c, hw, err := dialARP(link, ip)
	if err != nil {
		return fmt.Errorf("netctl: announce %s on %s: %w", ip, link, err)
	}
	defer c.Close() // only sent on: nothing to flush
	pkt, err := arp.NewPacket(arp.OperationRequest, hw, ip, make(net.HardwareAddr, len(hw)), ip)
	if err != nil {
		return fmt.Errorf("netctl: announce %s on %s: %w", ip, link, err)
	}
	var timer *time.Timer
	for i := range count {
		if i > 0 {
			if timer == nil {
				timer = time.NewTimer(gap)
				defer timer.Stop()
			} else {
				timer.Reset(gap)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("netctl: announce %s on %s: %d of %d sent: %w", ip, link, i, count, ctx.Err())
			case <-timer.C:
			}
		}
		if err := c.WriteTo(pkt, ethernet.Broadcast); err != nil {
			return fmt.Errorf("netctl: announce %s on %s: send gratuitous ARP %d of %d: %w (is the link up?)", ip, link, i+1, count, err)
		}
	}
	return nil
}

func garpDefaults(count int, gap time.Duration) (int, time.Duration) {
	if count <= 0 {
		count = DefaultGARPCount
	}
	if gap <= 0 {
		gap = DefaultGARPGap
	}
	return count, gap
}

// dialARP opens an ARP client on link after checking that link is an
// Ethernet link holding ip, and returns it with the link's MAC address.
func dialARP(link string, ip netip.Addr) (*arp.Client, net.HardwareAddr, error) {
	l, err := netlink.LinkByName(link)
	if err != nil {
		if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
			return nil, nil, fmt.Errorf("link %s: %w (check the LAN interface name in the configuration)", link, ErrNoLink)
		}
		return nil, nil, fmt.Errorf("link %s: %w", link, err)
	}
	a := l.Attrs()
	if len(a.HardwareAddr) != 6 {
		return nil, nil, fmt.Errorf("link %s has no Ethernet address (type %s): gratuitous ARP needs an Ethernet link", link, l.Type())
	}
	ifi := &net.Interface{
		Index:        a.Index,
		MTU:          a.MTU,
		Name:         a.Name,
		HardwareAddr: slices.Clone(a.HardwareAddr),
		Flags:        a.Flags,
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, nil, fmt.Errorf("list addresses of %s: %w", link, err)
	}
	if !slices.ContainsFunc(addrs, func(na net.Addr) bool {
		p, err := netip.ParsePrefix(na.String())
		return err == nil && p.Addr().Unmap() == ip
	}) {
		return nil, nil, fmt.Errorf("%w (add the virtual IP before announcing it)", ErrNotOnLink)
	}
	// arp.Dial binds the socket to ARP frames of this link; they queue
	// unread until Close, a short while later.
	c, err := arp.Dial(ifi)
	if err != nil {
		return nil, nil, fmt.Errorf("open ARP socket on %s: %w (are we root, or have CAP_NET_RAW?)", link, err)
	}
	return c, ifi.HardwareAddr, nil
}
