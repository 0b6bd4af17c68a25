// Package netlinktest provides a fake [netctl.Netlink] for tests: an
// in-memory model of links, addresses, routes and sysctls that records
// every call and prints its state as sorted text, so tests compare the
// resulting state rather than the order of calls.
package netlinktest

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/shisa-gw/shisa/netctl"
)

// Link is one fake link.
type Link struct {
	MTU    int
	Up     bool
	Addrs  []netip.Prefix
	Routes []Route
}

// Route is one fake route through a link in the main table.
type Route struct {
	Dst      netip.Prefix
	Protocol int // netctl.RouteProtocol for shisa's routes
}

// Fake is an in-memory [netctl.Netlink]. Set up its exported fields before
// use, or lock mu (through the methods) when reading them concurrently.
// Like the kernel, it refuses to add an address or route that exists
// (EEXIST, also for a route to the same destination through another link
// or of another protocol) and to remove one that does not (EADDRNOTAVAIL,
// ESRCH); a route removal only matches routes of netctl.RouteProtocol.
type Fake struct {
	mu sync.Mutex
	// Links maps link names to links; a missing name is ErrNoLink.
	Links map[string]*Link
	// Sysctls maps keys under /proc/sys ("net/ipv4/ip_forward") to values;
	// a missing key is a "no such file" error.
	Sysctls map[string]string
	// Calls records every call, formatted like "RouteAdd wg0 10.20.0.0/16".
	Calls []string
	// FailOn makes calls fail: a key is either a whole call as recorded in
	// Calls or a method name ("RouteAdd") to fail every such call.
	FailOn map[string]error
}

var _ netctl.Netlink = (*Fake)(nil)

// New returns a Fake with the given links and IPv4 and IPv6 forwarding off.
func New(links map[string]*Link) *Fake {
	if links == nil {
		links = map[string]*Link{}
	}
	return &Fake{
		Links: links,
		Sysctls: map[string]string{
			netctl.SysctlIPv4Forward: "0",
			netctl.SysctlIPv6Forward: "0",
		},
	}
}

// callLocked records a call and returns the injected failure, if any.
func (f *Fake) callLocked(method string, args ...any) error {
	c := method
	for _, a := range args {
		c += " " + fmt.Sprint(a)
	}
	f.Calls = append(f.Calls, c)
	if err, ok := f.FailOn[c]; ok {
		return err
	}
	if err, ok := f.FailOn[method]; ok {
		return err
	}
	return nil
}

func (f *Fake) linkLocked(name string) (*Link, error) {
	l, ok := f.Links[name]
	if !ok || l == nil {
		return nil, fmt.Errorf("link %q: %w", name, netctl.ErrNoLink)
	}
	return l, nil
}

// do records the call, applies FailOn and finds the link.
func (f *Fake) do(method, name string, args ...any) (*Link, error) {
	if err := f.callLocked(method, append([]any{name}, args...)...); err != nil {
		return nil, err
	}
	return f.linkLocked(name)
}

// LinkState implements netctl.Netlink.
func (f *Fake) LinkState(name string) (int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("LinkState", name)
	if err != nil {
		return 0, false, err
	}
	return l.MTU, l.Up, nil
}

// LinkSetMTU implements netctl.Netlink.
func (f *Fake) LinkSetMTU(name string, mtu int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("LinkSetMTU", name, mtu)
	if err != nil {
		return err
	}
	if mtu < 68 {
		return syscall.EINVAL
	}
	l.MTU = mtu
	return nil
}

// LinkSetUp implements netctl.Netlink.
func (f *Fake) LinkSetUp(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("LinkSetUp", name)
	if err != nil {
		return err
	}
	l.Up = true
	return nil
}

// LinkSetDown implements netctl.Netlink. Like the kernel, it drops the
// link's routes.
func (f *Fake) LinkSetDown(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("LinkSetDown", name)
	if err != nil {
		return err
	}
	l.Up = false
	l.Routes = nil
	return nil
}

// AddrList implements netctl.Netlink.
func (f *Fake) AddrList(name string) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("AddrList", name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(l.Addrs), nil
}

// AddrAdd implements netctl.Netlink.
func (f *Fake) AddrAdd(name string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("AddrAdd", name, p)
	if err != nil {
		return err
	}
	if slices.Contains(l.Addrs, p) {
		return syscall.EEXIST
	}
	l.Addrs = append(l.Addrs, p)
	return nil
}

// AddrDel implements netctl.Netlink.
func (f *Fake) AddrDel(name string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("AddrDel", name, p)
	if err != nil {
		return err
	}
	i := slices.Index(l.Addrs, p)
	if i < 0 {
		return syscall.EADDRNOTAVAIL
	}
	l.Addrs = slices.Delete(l.Addrs, i, i+1)
	return nil
}

// RouteList implements netctl.Netlink: only routes of netctl.RouteProtocol.
func (f *Fake) RouteList(name string) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("RouteList", name)
	if err != nil {
		return nil, err
	}
	var ps []netip.Prefix
	for _, r := range l.Routes {
		if r.Protocol == netctl.RouteProtocol {
			ps = append(ps, r.Dst)
		}
	}
	return ps, nil
}

// RouteAdd implements netctl.Netlink.
func (f *Fake) RouteAdd(name string, dst netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("RouteAdd", name, dst)
	if err != nil {
		return err
	}
	if !l.Up {
		return syscall.ENETDOWN
	}
	if dst != dst.Masked() {
		return syscall.EINVAL
	}
	// The main table holds one route per destination, whatever its link.
	for _, other := range f.Links {
		for _, r := range other.Routes {
			if r.Dst == dst {
				return syscall.EEXIST
			}
		}
	}
	l.Routes = append(l.Routes, Route{Dst: dst, Protocol: netctl.RouteProtocol})
	return nil
}

// RouteDel implements netctl.Netlink.
func (f *Fake) RouteDel(name string, dst netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.do("RouteDel", name, dst)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(l.Routes, func(r Route) bool {
		return r.Dst == dst && r.Protocol == netctl.RouteProtocol
	})
	if i < 0 {
		return syscall.ESRCH
	}
	l.Routes = slices.Delete(l.Routes, i, i+1)
	return nil
}

// Sysctl implements netctl.Netlink.
func (f *Fake) Sysctl(key string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.callLocked("Sysctl", key); err != nil {
		return "", err
	}
	v, ok := f.Sysctls[key]
	if !ok {
		return "", fmt.Errorf("/proc/sys/%s: %w", key, syscall.ENOENT)
	}
	return v, nil
}

// SetSysctl implements netctl.Netlink.
func (f *Fake) SetSysctl(key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.callLocked("SetSysctl", key, value); err != nil {
		return err
	}
	if _, ok := f.Sysctls[key]; !ok {
		return fmt.Errorf("/proc/sys/%s: %w", key, syscall.ENOENT)
	}
	f.Sysctls[key] = value
	return nil
}

// CallLog returns a copy of the calls made so far.
func (f *Fake) CallLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Calls)
}

// MutatingCalls returns the calls made so far that change state (all but
// LinkState, AddrList, RouteList and Sysctl).
func (f *Fake) MutatingCalls() []string {
	var m []string
	for _, c := range f.CallLog() {
		method, _, _ := strings.Cut(c, " ")
		switch method {
		case "LinkState", "AddrList", "RouteList", "Sysctl":
		default:
			m = append(m, c)
		}
	}
	return m
}

// String prints the fake's state, one fact a line, sorted:
//
//	addr 10.9.0.2/24 dev wg0
//	link wg0 mtu 1420 up
//	route 10.20.0.0/16 dev wg0 proto shisa
//	route 10.30.0.0/16 dev wg0 proto 4
//	sysctl net/ipv4/ip_forward=1
func (f *Fake) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for name, l := range f.Links {
		if l == nil {
			continue
		}
		state := "down"
		if l.Up {
			state = "up"
		}
		lines = append(lines, fmt.Sprintf("link %s mtu %d %s", name, l.MTU, state))
		for _, a := range l.Addrs {
			lines = append(lines, fmt.Sprintf("addr %s dev %s", a, name))
		}
		for _, r := range l.Routes {
			proto := fmt.Sprint(r.Protocol)
			if r.Protocol == netctl.RouteProtocol {
				proto = "shisa"
			}
			lines = append(lines, fmt.Sprintf("route %s dev %s proto %s", r.Dst, name, proto))
		}
	}
	for k, v := range f.Sysctls {
		lines = append(lines, fmt.Sprintf("sysctl %s=%s", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// ErrInjected is a convenient error for FailOn.
var ErrInjected = errors.New("netlinktest: injected failure")
