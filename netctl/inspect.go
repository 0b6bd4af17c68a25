package netctl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Inspector reads facts about the network for health checks and fault
// isolation, and never changes anything. [KernelInspector] is the real
// one; inspecttest.Fake is a fake whose state tests set.
type Inspector interface {
	// Link returns the state of the named link; the error wraps ErrNoLink
	// when it does not exist.
	Link(name string) (LinkInfo, error)
	// DefaultRoutes returns the default routes of the main table, both
	// families, lowest metric first (one per next hop of a multipath
	// route). None is not an error.
	DefaultRoutes() ([]DefaultRoute, error)
	// Neighbor returns the state of addr's entry in link name's neighbour
	// (ARP/NDP) table: whether the host answered address resolution.
	Neighbor(name string, addr netip.Addr) (NeighState, error)
}

// LinkInfo is one link's state.
type LinkInfo struct {
	Name string
	// AdminUp: the link is set up (ip link set up).
	AdminUp bool
	// Carrier: the driver sees a cable and a peer (IFF_LOWER_UP); false
	// for an unplugged cable, a peer switched off or a veth whose other
	// end is down.
	Carrier bool
	// OperState is RFC 2863's operational state as the kernel reports it:
	// "up", "down", "lowerlayerdown", "dormant", "unknown" (virtual links
	// that do not report one), …
	OperState string
	MAC       net.HardwareAddr
	MTU       int
}

// DefaultRoute is one default route's next hop.
type DefaultRoute struct {
	// Interface is the outgoing link's name.
	Interface string
	// Gateway is the next hop; invalid for a route straight out of the
	// link (point-to-point, PPPoE).
	Gateway netip.Addr
	Metric  int
}

// NeighState is a neighbour entry's state, as `ip neigh` prints it in
// lower case ("reachable", "stale", "failed", …), or NeighAbsent.
type NeighState string

// Neighbour states that matter to a health check.
const (
	NeighAbsent     NeighState = "absent" // no entry: never asked, or flushed
	NeighReachable  NeighState = "reachable"
	NeighStale      NeighState = "stale"
	NeighDelay      NeighState = "delay"
	NeighProbe      NeighState = "probe"
	NeighIncomplete NeighState = "incomplete"
	NeighFailed     NeighState = "failed"
	NeighPermanent  NeighState = "permanent"
	NeighNoARP      NeighState = "noarp"
)

// Answered reports whether the neighbour has answered address resolution
// (recently or at some time before: stale entries did, and are kept until
// they are used again); Failed whether resolution was tried and nobody
// answered.
func (s NeighState) Answered() bool {
	switch s {
	case NeighReachable, NeighStale, NeighDelay, NeighProbe, NeighPermanent, NeighNoARP:
		return true
	}
	return false
}

// Failed reports whether address resolution was tried and got no answer.
func (s NeighState) Failed() bool { return s == NeighFailed || s == NeighIncomplete }

// KernelInspector is the real [Inspector], reading rtnetlink in the
// network namespace of the calling thread (see [Kernel]).
type KernelInspector struct{}

var _ Inspector = KernelInspector{}

// Link implements [Inspector].
func (KernelInspector) Link(name string) (LinkInfo, error) {
	l, err := Kernel{}.link(name)
	if err != nil {
		return LinkInfo{}, err
	}
	a := l.Attrs()
	return LinkInfo{
		Name:      a.Name,
		AdminUp:   a.Flags&net.FlagUp != 0,
		Carrier:   a.RawFlags&unix.IFF_LOWER_UP != 0,
		OperState: operState(a.OperState),
		MAC:       slices.Clone(a.HardwareAddr),
		MTU:       a.MTU,
	}, nil
}

func operState(s netlink.LinkOperState) string {
	switch s {
	case netlink.OperUp:
		return "up"
	case netlink.OperDown:
		return "down"
	case netlink.OperLowerLayerDown:
		return "lowerlayerdown"
	case netlink.OperDormant:
		return "dormant"
	case netlink.OperNotPresent:
		return "notpresent"
	case netlink.OperTesting:
		return "testing"
	}
	return "unknown"
}

// DefaultRoutes implements [Inspector].
func (KernelInspector) DefaultRoutes() ([]DefaultRoute, error) {
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN}
	var routes []netlink.Route
	var err error
	for range dumpRetries {
		routes, err = netlink.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("netctl: list routes: %w", err)
	}
	names := map[int]string{}
	name := func(index int) string {
		if n, ok := names[index]; ok {
			return n
		}
		n := fmt.Sprintf("if%d", index)
		if l, err := netlink.LinkByIndex(index); err == nil {
			n = l.Attrs().Name
		}
		names[index] = n
		return n
	}
	var out []DefaultRoute
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if r.Type != unix.RTN_UNICAST {
			continue // blackhole, unreachable, prohibit
		}
		if len(r.MultiPath) == 0 {
			out = append(out, DefaultRoute{Interface: name(r.LinkIndex), Gateway: inspectAddr(r.Gw), Metric: r.Priority})
			continue
		}
		for _, nh := range r.MultiPath {
			out = append(out, DefaultRoute{Interface: name(nh.LinkIndex), Gateway: inspectAddr(nh.Gw), Metric: r.Priority})
		}
	}
	SortDefaultRoutes(out)
	return out, nil
}

// SortDefaultRoutes orders routes as the kernel prefers them within a
// family: IPv4 first, then lowest metric; stable otherwise.
func SortDefaultRoutes(rs []DefaultRoute) {
	slices.SortStableFunc(rs, func(a, b DefaultRoute) int {
		if a4, b4 := !a.Gateway.Is6(), !b.Gateway.Is6(); a4 != b4 {
			if a4 {
				return -1
			}
			return 1
		}
		return a.Metric - b.Metric
	})
}

func inspectAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Neighbor implements [Inspector].
func (KernelInspector) Neighbor(name string, addr netip.Addr) (NeighState, error) {
	l, err := Kernel{}.link(name)
	if err != nil {
		return "", err
	}
	family := netlink.FAMILY_V4
	if addr.Is6() && !addr.Is4In6() {
		family = netlink.FAMILY_V6
	}
	var ns []netlink.Neigh
	for range dumpRetries {
		ns, err = netlink.NeighList(l.Attrs().Index, family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("netctl: list neighbours of %s: %w", name, err)
	}
	for _, n := range ns {
		if inspectAddr(n.IP) == addr.Unmap() {
			return neighState(n.State), nil
		}
	}
	return NeighAbsent, nil
}

func neighState(s int) NeighState {
	// The kernel sets one state bit at a time.
	switch {
	case s&netlink.NUD_PERMANENT != 0:
		return NeighPermanent
	case s&netlink.NUD_NOARP != 0:
		return NeighNoARP
	case s&netlink.NUD_REACHABLE != 0:
		return NeighReachable
	case s&netlink.NUD_STALE != 0:
		return NeighStale
	case s&netlink.NUD_DELAY != 0:
		return NeighDelay
	case s&netlink.NUD_PROBE != 0:
		return NeighProbe
	case s&netlink.NUD_FAILED != 0:
		return NeighFailed
	case s&netlink.NUD_INCOMPLETE != 0:
		return NeighIncomplete
	}
	return NeighAbsent
}
