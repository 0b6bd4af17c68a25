package netctl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Kernel is the real [Netlink]: rtnetlink through
// github.com/vishvananda/netlink, and files under /proc/sys for sysctls.
//
// It acts in the network namespace of the calling OS thread, which is the
// process's unless the caller locked its goroutine to a thread and moved
// that thread into another namespace.
type Kernel struct{}

var _ Netlink = Kernel{}

// dumpRetries bounds retries of a netlink dump that the kernel interrupted
// because the table changed under it.
const dumpRetries = 5

func (Kernel) link(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
			return nil, fmt.Errorf("netctl: link %s: %w (check the interface name in site.yaml and `ip link`)", name, ErrNoLink)
		}
		return nil, fmt.Errorf("netctl: link %s: %w", name, err)
	}
	return l, nil
}

// LinkState implements [Netlink].
func (k Kernel) LinkState(name string) (int, bool, error) {
	l, err := k.link(name)
	if err != nil {
		return 0, false, err
	}
	return l.Attrs().MTU, l.Attrs().Flags&net.FlagUp != 0, nil
}

// Carrier reports whether the link can carry traffic now: administratively
// up and operationally up (a cable or peer on the other end). Links whose
// driver reports no operational state (unknown) count by their lower-up
// flag. It is outside [Netlink] because only health tracking needs it; a
// caller that asks often should use a [CarrierReader].
func (k Kernel) Carrier(name string) (bool, error) {
	l, err := k.link(name)
	if err != nil {
		return false, err
	}
	return hasCarrier(l), nil
}

func hasCarrier(l netlink.Link) bool {
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return false
	}
	switch a.OperState {
	case netlink.OperUp:
		return true
	case netlink.OperUnknown:
		return a.RawFlags&unix.IFF_LOWER_UP != 0
	}
	return false
}

// CarrierReader is Kernel.Carrier over one netlink socket kept open, for
// a caller that asks many times a second (a hot-standby unit's WAN
// tracking): one request and one answer per call instead of opening,
// binding and closing a socket each time. It acts in the network
// namespace it was made in. Not safe for concurrent use.
type CarrierReader struct{ h *netlink.Handle }

// NewCarrierReader opens the netlink socket.
func NewCarrierReader() (*CarrierReader, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netctl: opening a netlink socket: %w", err)
	}
	return &CarrierReader{h: h}, nil
}

// Carrier is Kernel.Carrier.
func (c *CarrierReader) Carrier(name string) (bool, error) {
	l, err := c.h.LinkByName(name)
	if err != nil {
		if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
			return false, fmt.Errorf("netctl: link %s: %w", name, ErrNoLink)
		}
		return false, fmt.Errorf("netctl: link %s: %w", name, err)
	}
	return hasCarrier(l), nil
}

// Close closes the socket.
func (c *CarrierReader) Close() { c.h.Close() }

// ForgetNeighbor deletes link's neighbour (ARP) entry for ip, if there is
// one, so that the next packet to ip resolves its address afresh. After a
// link comes back, an entry that failed while it was down otherwise holds
// packets for up to a second (the kernel's retransmit time) before it asks
// again; a hot-standby unit's heartbeats cannot wait that long.
func (c *CarrierReader) ForgetNeighbor(link string, ip netip.Addr) error {
	l, err := c.h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("netctl: link %s: %w", link, err)
	}
	err = c.h.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, IP: ip.AsSlice()})
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netctl: forgetting %s's neighbour entry for %s: %w", link, ip, err)
	}
	return nil
}

// LinkSetMTU implements [Netlink].
func (k Kernel) LinkSetMTU(name string, mtu int) error {
	l, err := k.link(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("netctl: set mtu %d on %s: %w", mtu, name, err)
	}
	return nil
}

// LinkSetUp implements [Netlink].
func (k Kernel) LinkSetUp(name string) error {
	l, err := k.link(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("netctl: set %s up: %w", name, err)
	}
	return nil
}

// LinkSetDown implements [Netlink].
func (k Kernel) LinkSetDown(name string) error {
	l, err := k.link(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetDown(l); err != nil {
		return fmt.Errorf("netctl: set %s down: %w", name, err)
	}
	return nil
}

// AddrList implements [Netlink]: global-scope addresses of both families.
func (k Kernel) AddrList(name string) ([]netip.Prefix, error) {
	l, err := k.link(name)
	if err != nil {
		return nil, err
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("netctl: list addresses of %s: %w", name, err)
	}
	var ps []netip.Prefix
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_UNIVERSE || a.IPNet == nil {
			continue
		}
		p, ok := prefixFromIPNet(a.IPNet, false)
		if !ok {
			continue
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// AddrAdd implements [Netlink].
func (k Kernel) AddrAdd(name string, p netip.Prefix) error {
	l, err := k.link(name)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipNet(p, false)}
	if p.Addr().Is6() {
		// A tunnel has no neighbours to detect duplicates with; without
		// this the address stays "tentative" for a second or more.
		a.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("netctl: add address %s to %s: %w", p, name, err)
	}
	return nil
}

// AddrDel implements [Netlink].
func (k Kernel) AddrDel(name string, p netip.Prefix) error {
	l, err := k.link(name)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(l, &netlink.Addr{IPNet: ipNet(p, false)}); err != nil {
		return fmt.Errorf("netctl: remove address %s from %s: %w", p, name, err)
	}
	return nil
}

// RouteList implements [Netlink]: routes through the link in the main table
// with protocol RouteProtocol.
func (k Kernel) RouteList(name string) ([]netip.Prefix, error) {
	l, err := k.link(name)
	if err != nil {
		return nil, err
	}
	filter := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Table:     unix.RT_TABLE_MAIN,
		Protocol:  RouteProtocol,
	}
	mask := netlink.RT_FILTER_OIF | netlink.RT_FILTER_TABLE | netlink.RT_FILTER_PROTOCOL
	var routes []netlink.Route
	for range dumpRetries {
		routes, err = netlink.RouteListFiltered(netlink.FAMILY_ALL, filter, mask)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("netctl: list routes through %s: %w", name, err)
	}
	var ps []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			// A default route through the link: 0.0.0.0/0 or ::/0.
			if r.Family == unix.AF_INET6 {
				ps = append(ps, netip.PrefixFrom(netip.IPv6Unspecified(), 0))
			} else {
				ps = append(ps, netip.PrefixFrom(netip.IPv4Unspecified(), 0))
			}
			continue
		}
		if p, ok := prefixFromIPNet(r.Dst, true); ok {
			ps = append(ps, p)
		}
	}
	return ps, nil
}

func (k Kernel) route(name string, dst netip.Prefix) (*netlink.Route, error) {
	l, err := k.link(name)
	if err != nil {
		return nil, err
	}
	return &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       ipNet(dst, true),
		Scope:     netlink.SCOPE_LINK,
		Table:     unix.RT_TABLE_MAIN,
		Protocol:  RouteProtocol,
	}, nil
}

// RouteAdd implements [Netlink].
func (k Kernel) RouteAdd(name string, dst netip.Prefix) error {
	r, err := k.route(name, dst)
	if err != nil {
		return err
	}
	if err := netlink.RouteAdd(r); err != nil {
		hint := ""
		if errors.Is(err, unix.EEXIST) {
			hint = " (another route to the same destination exists: see 'ip route show " + dst.String() + "')"
		}
		return fmt.Errorf("netctl: add route %s dev %s: %w%s", dst, name, err, hint)
	}
	return nil
}

// RouteDel implements [Netlink]. The kernel matches the protocol too, so a
// route to dst that someone else made is never removed.
func (k Kernel) RouteDel(name string, dst netip.Prefix) error {
	r, err := k.route(name, dst)
	if err != nil {
		return err
	}
	if err := netlink.RouteDel(r); err != nil {
		return fmt.Errorf("netctl: remove route %s dev %s: %w", dst, name, err)
	}
	return nil
}

// sysctlPath returns the file under /proc/sys for key ("net/ipv4/ip_forward"
// or "net.ipv4.ip_forward"), refusing keys that would leave /proc/sys.
func sysctlPath(key string) (string, error) {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	clean := path.Clean("/" + key)
	if clean != "/"+key || key == "" {
		return "", fmt.Errorf("netctl: bad sysctl key %q", key)
	}
	return "/proc/sys" + clean, nil
}

// Sysctl implements [Netlink].
func (Kernel) Sysctl(key string) (string, error) {
	p, err := sysctlPath(key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("netctl: read sysctl: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SetSysctl implements [Netlink].
func (Kernel) SetSysctl(key, value string) error {
	p, err := sysctlPath(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("netctl: set sysctl: %w (is /proc/sys mounted read-write and are we root?)", err)
	}
	_, werr := f.WriteString(value + "\n")
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("netctl: set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// ipNet converts p to a *net.IPNet; masked clears host bits (for routes).
func ipNet(p netip.Prefix, masked bool) *net.IPNet {
	if masked {
		p = p.Masked()
	}
	a := p.Addr()
	bits := 32
	if a.Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}

// prefixFromIPNet converts n; IPv4 addresses come out as IPv4, not mapped.
func prefixFromIPNet(n *net.IPNet, masked bool) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	if bits == 128 && a.Is4() {
		ones -= 96
	}
	p := netip.PrefixFrom(a, ones)
	if masked {
		p = p.Masked()
	}
	return p, p.IsValid()
}
