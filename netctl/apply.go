package netctl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// LinkState is the desired state of one link that shisa manages (the tunnel
// link). The link itself must already exist; Apply does not create links.
type LinkState struct {
	Name string
	// MTU is the link's MTU; 0 leaves it alone.
	MTU int
	// Up brings the link up; false takes it down. The kernel drops a
	// link's routes when it goes down, so a link that is not Up must have
	// no Routes.
	Up bool
	// Addrs are exactly the global addresses on the link, with their
	// prefix length (10.9.0.2/24); others are removed.
	Addrs []netip.Prefix
	// Routes are exactly the destinations routed through the link among
	// routes with protocol RouteProtocol. Stale routes of ours are removed;
	// routes made by anyone else are never touched. Each must be a masked
	// prefix (10.20.0.0/16, not 10.20.0.1/16).
	Routes []netip.Prefix
}

// State is the whole desired network state that Apply makes true.
type State struct {
	Links []LinkState
	// Forwarding turns on net.ipv4.ip_forward, and
	// net.ipv6.conf.all.forwarding when any IPv6 address or route appears
	// in Links. False leaves forwarding alone: Apply never turns it off.
	Forwarding bool
}

// Change is one change Apply made.
type Change struct {
	Op   string // "add", "del" or "set"
	Link string // empty for sysctls
	What string // "route 10.20.0.0/16", "addr 10.9.0.2/24", "mtu 1420", "up", "sysctl net.ipv4.ip_forward=1"
}

// String formats the change like an ip(8) command line:
// "add route 10.20.0.0/16 dev wg-shisa".
func (c Change) String() string {
	if c.Link == "" {
		return c.Op + " " + c.What
	}
	return c.Op + " " + c.What + " dev " + c.Link
}

// Apply makes the system match want through nl and returns the changes it
// made; an empty slice means the system already matched.
//
// Per link, in order: MTU, up (or down), then addresses (stale ones removed
// before new ones are added, so that removing an old primary address cannot
// take a new secondary with it), then routes (new ones added before stale
// ones are removed, so traffic always has a way). Forwarding is turned on
// last, once the routes into the tunnel exist, so that the LAN is never
// forwarded anywhere else meanwhile.
//
// Apply is best effort: when a step fails it still does the steps that do
// not depend on it, and returns the errors of all failed steps joined, each
// naming the link and the item. A link that cannot be read (missing: the
// error wraps ErrNoLink) is skipped entirely. A State that is invalid is
// rejected before anything is touched.
func Apply(nl Netlink, want State) ([]Change, error) {
	if err := want.Validate(); err != nil {
		return []Change{}, err
	}
	a := applier{nl: nl, changes: []Change{}}
	for _, l := range want.Links {
		a.link(l)
	}
	if want.Forwarding {
		a.forward(SysctlIPv4Forward, "net.ipv4.ip_forward")
		if want.hasIPv6() {
			a.forward(SysctlIPv6Forward, "net.ipv6.conf.all.forwarding")
		}
	}
	return a.changes, errors.Join(a.errs...)
}

// Validate reports whether s can be applied: link names given and unique,
// valid prefixes, masked route prefixes, and no routes on a link that is
// to be down.
func (s State) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, l := range s.Links {
		if l.Name == "" {
			errs = append(errs, errors.New("netctl: desired state has a link with no name"))
			continue
		}
		if seen[l.Name] {
			errs = append(errs, fmt.Errorf("netctl: link %s appears twice in the desired state", l.Name))
		}
		seen[l.Name] = true
		if l.MTU < 0 {
			errs = append(errs, fmt.Errorf("netctl: link %s: negative MTU %d", l.Name, l.MTU))
		}
		for _, p := range l.Addrs {
			if !p.IsValid() {
				errs = append(errs, fmt.Errorf("netctl: link %s: invalid address %s", l.Name, p))
			}
		}
		for _, p := range l.Routes {
			switch {
			case !p.IsValid():
				errs = append(errs, fmt.Errorf("netctl: link %s: invalid route %s", l.Name, p))
			case p != p.Masked():
				errs = append(errs, fmt.Errorf("netctl: link %s: route %s has host bits set (did you mean %s?)", l.Name, p, p.Masked()))
			}
		}
		if !l.Up && len(l.Routes) > 0 {
			errs = append(errs, fmt.Errorf("netctl: link %s: %d routes wanted on a link that is to be down (the kernel drops routes of a down link)", l.Name, len(l.Routes)))
		}
	}
	return errors.Join(errs...)
}

func (s State) hasIPv6() bool {
	for _, l := range s.Links {
		for _, p := range slices.Concat(l.Addrs, l.Routes) {
			if p.Addr().Is6() && !p.Addr().Is4In6() {
				return true
			}
		}
	}
	return false
}

// applier carries one Apply's results.
type applier struct {
	nl      Netlink
	changes []Change
	errs    []error
}

// do runs one change and records its outcome.
func (a *applier) do(c Change, f func() error) {
	if err := f(); err != nil {
		a.errs = append(a.errs, fmt.Errorf("netctl: %s: %w", c, err))
		return
	}
	a.changes = append(a.changes, c)
}

func (a *applier) fail(link, what string, err error) {
	a.errs = append(a.errs, fmt.Errorf("netctl: link %s: %s: %w", link, what, err))
}

func (a *applier) link(l LinkState) {
	mtu, up, err := a.nl.LinkState(l.Name)
	if err != nil {
		// Nothing else can be done on a link we cannot see.
		a.fail(l.Name, "read link", err)
		return
	}
	if l.MTU != 0 && l.MTU != mtu {
		a.do(Change{"set", l.Name, fmt.Sprintf("mtu %d", l.MTU)}, func() error { return a.nl.LinkSetMTU(l.Name, l.MTU) })
	}
	switch {
	case l.Up && !up:
		a.do(Change{"set", l.Name, "up"}, func() error { return a.nl.LinkSetUp(l.Name) })
	case !l.Up && up:
		a.do(Change{"set", l.Name, "down"}, func() error { return a.nl.LinkSetDown(l.Name) })
	}

	if have, err := a.nl.AddrList(l.Name); err != nil {
		a.fail(l.Name, "list addresses", err)
	} else {
		add, del := diffPrefixes(have, l.Addrs)
		for _, p := range del {
			a.do(Change{"del", l.Name, "addr " + p.String()}, func() error { return a.nl.AddrDel(l.Name, p) })
		}
		for _, p := range add {
			a.do(Change{"add", l.Name, "addr " + p.String()}, func() error { return a.nl.AddrAdd(l.Name, p) })
		}
	}

	if have, err := a.nl.RouteList(l.Name); err != nil {
		a.fail(l.Name, "list routes", err)
	} else {
		add, del := diffPrefixes(have, l.Routes)
		for _, p := range add {
			a.do(Change{"add", l.Name, "route " + p.String()}, func() error { return a.nl.RouteAdd(l.Name, p) })
		}
		for _, p := range del {
			a.do(Change{"del", l.Name, "route " + p.String()}, func() error { return a.nl.RouteDel(l.Name, p) })
		}
	}
}

func (a *applier) forward(key, name string) {
	v, err := a.nl.Sysctl(key)
	if err != nil {
		a.errs = append(a.errs, fmt.Errorf("netctl: read sysctl %s: %w", name, err))
		return
	}
	if strings.TrimSpace(v) == "1" {
		return
	}
	a.do(Change{Op: "set", What: "sysctl " + name + "=1"}, func() error { return a.nl.SetSysctl(key, "1") })
}

// diffPrefixes returns the prefixes in want missing from have (add) and
// those in have not in want (del), each sorted and without duplicates.
// Prefixes are compared exactly: 10.9.0.2/24 and 10.9.0.2/16 differ.
func diffPrefixes(have, want []netip.Prefix) (add, del []netip.Prefix) {
	h := setOf(have)
	w := setOf(want)
	for p := range w {
		if !h[p] {
			add = append(add, p)
		}
	}
	for p := range h {
		if !w[p] {
			del = append(del, p)
		}
	}
	sortPrefixes(add)
	sortPrefixes(del)
	return add, del
}

func setOf(ps []netip.Prefix) map[netip.Prefix]bool {
	m := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		m[p] = true
	}
	return m
}

// sortPrefixes sorts ps by address, then by prefix length: IPv4 before IPv6.
func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, comparePrefix)
}

// comparePrefix orders prefixes by address, then by prefix length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
