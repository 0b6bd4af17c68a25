package netctl

import (
	"errors"
	"net/netip"
)

// Netlink is the seam over the kernel's link, address, route and sysctl
// calls. The real implementation is [Kernel]; netlinktest.Fake records the
// resulting state for tests. [Apply] is the only caller that decides
// anything; implementations only do what they are told.
type Netlink interface {
	// LinkState returns the link's MTU and whether it is administratively up.
	// It returns an error wrapping ErrNoLink when the link does not exist.
	LinkState(name string) (mtu int, up bool, err error)
	LinkSetMTU(name string, mtu int) error
	LinkSetUp(name string) error
	LinkSetDown(name string) error
	// AddrList returns the link's addresses (global scope, both families).
	AddrList(name string) ([]netip.Prefix, error)
	AddrAdd(name string, p netip.Prefix) error
	AddrDel(name string, p netip.Prefix) error
	// RouteList returns the destinations routed through the link in the
	// main table by shisa (protocol RouteProtocol).
	RouteList(name string) ([]netip.Prefix, error)
	// RouteAdd adds a scope-link route to dst through the link in the main
	// table, with protocol RouteProtocol.
	RouteAdd(name string, dst netip.Prefix) error
	// RouteDel removes the route to dst through the link, only if its
	// protocol is RouteProtocol.
	RouteDel(name string, dst netip.Prefix) error
	// Sysctl reads and writes /proc/sys/<key> ("net/ipv4/ip_forward").
	// Sysctl returns the value without its trailing newline.
	Sysctl(key string) (string, error)
	SetSysctl(key, value string) error
}

// RouteProtocol marks the routes shisa installs (rtnetlink protocol number),
// so that RouteList sees only ours and Apply never removes a route that
// someone else made. 0x5a ('Z') is unassigned in /etc/iproute2/rt_protos.
const RouteProtocol = 0x5a

// ErrNoLink is wrapped by [Netlink] methods when the named link does not
// exist.
var ErrNoLink = errors.New("netctl: no such link")

// Sysctl keys that [Apply] manages, as paths under /proc/sys.
const (
	SysctlIPv4Forward = "net/ipv4/ip_forward"
	SysctlIPv6Forward = "net/ipv6/conf/all/forwarding"
)
