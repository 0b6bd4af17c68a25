package netctl

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrVIPPrimary is wrapped by AddVIP when a virtual IP shorter than /32
// would become the primary address of its subnet on the link, because no
// other address of that subnet (the unit's own LAN address) is there yet.
var ErrVIPPrimary = errors.New("netctl: virtual IP would be the primary address of its subnet")

// SysctlPromoteSecondaries returns the sysctl key (under /proc/sys) that
// makes the kernel promote a secondary IPv4 address of link when its
// primary is removed, instead of removing the secondaries with it.
func SysctlPromoteSecondaries(link string) string {
	return "net/ipv4/conf/" + link + "/promote_secondaries"
}

// AddVIP makes the virtual IP p present on link through nl, adding it
// after whatever addresses the link has. It returns changed false, and
// makes no change, when p is already there exactly. The same address
// present with another prefix length is replaced: removed as DelVIP would,
// then p is added.
//
// A virtual IP (VIP) is the LAN address that office hosts use as their
// route to the cloud, which moves between the two units of a hot-standby
// pair: the active unit holds it, the standby does not. Unlike [Apply],
// which owns every address of the links it is given, AddVIP and [DelVIP]
// touch only the virtual address and leave the unit's own LAN address,
// and anything else on the link, alone.
//
// Give p as a /32 (192.168.1.1/32, keepalived's default for a
// virtual_ipaddress with no length), even when office hosts reach it
// through a /24. The kernel then makes it the primary address of a subnet
// of its own, with no prefix route, so:
//
//   - it is never a secondary of the unit's own LAN address nor the
//     primary the own address is a secondary of: deleting the VIP can
//     never take the own address with it, whatever
//     net.ipv4.conf.<link>.promote_secondaries says, and deleting the own
//     address never takes the VIP with it;
//   - the LAN route keeps the own address as its preferred source, so
//     heartbeats and anything else the unit sends on the LAN come from its
//     own address, never from the VIP;
//   - ARP works as for any local address: the holder answers for it.
//
// The LAN prefix length (192.168.1.1/24) also works, but then the kernel
// ties the VIP to the own address: the first address of a subnet is its
// primary, later ones are its secondaries, and removing a primary with
// promote_secondaries off removes its secondaries too. So AddVIP adds a p
// shorter than /32 only as a secondary, after the unit's own address of
// the same subnet and length; when there is none it changes nothing and
// returns an error wrapping [ErrVIPPrimary] (add the own address first).
//
// Only IPv4 is supported: announcing an IPv6 address would take
// unsolicited neighbour advertisements, which [GARP] does not send.
func AddVIP(nl Netlink, link string, p netip.Prefix) (changed bool, err error) {
	if err := checkVIP(p); err != nil {
		return false, err
	}
	have, err := nl.AddrList(link)
	if err != nil {
		return false, fmt.Errorf("netctl: add virtual IP %s to %s: %w", p, link, err)
	}
	var others []netip.Prefix // the address at other lengths
	present := false
	for _, a := range have {
		switch {
		case a == p:
			present = true
		case a.Addr() == p.Addr():
			others = append(others, a)
		}
	}
	if present && len(others) == 0 {
		return false, nil
	}
	if p.Bits() < 32 && !present && !hasSubnetPeer(have, p) {
		return false, fmt.Errorf("netctl: add virtual IP %s to %s: %w: no own address in %s on the link (add the unit's LAN address first, or use %s/32)",
			p, link, ErrVIPPrimary, p.Masked(), p.Addr())
	}
	changed, err = delAddrs(nl, link, have, others)
	if err != nil {
		return changed, fmt.Errorf("netctl: add virtual IP %s to %s: replace %v: %w", p, link, others, err)
	}
	if present {
		return changed, nil
	}
	if err := nl.AddrAdd(link, p); err != nil {
		return changed, fmt.Errorf("netctl: add virtual IP %s to %s: %w", p, link, err)
	}
	return true, nil
}

// DelVIP removes the virtual IP p.Addr() from link through nl, at any
// prefix length (p's length is ignored: a VIP left with another length by
// an older configuration or a crashed run must not keep answering ARP on
// a standby). It returns changed false, and makes no change, when the
// address is not on the link.
//
// DelVIP never removes any other address. Removing a VIP that is the
// primary of other addresses of its subnet (possible only when it is
// shorter than /32) would remove them too unless the kernel promotes one:
// DelVIP first turns the link's promote_secondaries sysctl on (see
// [SysctlPromoteSecondaries]), and removes nothing if it cannot.
func DelVIP(nl Netlink, link string, p netip.Prefix) (changed bool, err error) {
	if err := checkVIP(p); err != nil {
		return false, err
	}
	have, err := nl.AddrList(link)
	if err != nil {
		return false, fmt.Errorf("netctl: remove virtual IP %s from %s: %w", p.Addr(), link, err)
	}
	var del []netip.Prefix
	for _, a := range have {
		if a.Addr() == p.Addr() {
			del = append(del, a)
		}
	}
	changed, err = delAddrs(nl, link, have, del)
	if err != nil {
		return changed, fmt.Errorf("netctl: remove virtual IP %s from %s: %w", p.Addr(), link, err)
	}
	return changed, nil
}

func checkVIP(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("netctl: invalid virtual IP %s", p)
	case !p.Addr().Is4():
		return fmt.Errorf("netctl: virtual IP %s: only IPv4 virtual addresses are supported (no unsolicited neighbour advertisements)", p)
	case p.Addr() == p.Masked().Addr() && p.Bits() < 31:
		return fmt.Errorf("netctl: virtual IP %s is a network address, not a host address", p)
	}
	return nil
}

// hasSubnetPeer reports whether have holds an address other than p's in
// p's subnet with p's prefix length: the address p would be a secondary
// of.
func hasSubnetPeer(have []netip.Prefix, p netip.Prefix) bool {
	for _, a := range have {
		if a.Addr() != p.Addr() && sameSubnet(a, p) {
			return true
		}
	}
	return false
}

// sameSubnet reports whether a and b are in one subnet as the kernel
// groups primary and secondary IPv4 addresses: same prefix length, same
// network.
func sameSubnet(a, b netip.Prefix) bool {
	return a.Addr().Is4() && b.Addr().Is4() && a.Bits() == b.Bits() && a.Masked() == b.Masked()
}

// isPrimaryOfOthers reports whether a is the primary of other addresses
// in have, a link's addresses in the kernel's order: the kernel lists a
// subnet's primary before its secondaries.
func isPrimaryOfOthers(have []netip.Prefix, a netip.Prefix) bool {
	var group []netip.Prefix
	for _, o := range have {
		if sameSubnet(o, a) {
			group = append(group, o)
		}
	}
	return len(group) > 1 && group[0] == a
}

// delAddrs removes del, all addresses of one IP, from link, whose
// addresses are have; it turns promote_secondaries on first when one of
// them is the primary of other addresses.
func delAddrs(nl Netlink, link string, have, del []netip.Prefix) (changed bool, err error) {
	for _, a := range del {
		if isPrimaryOfOthers(have, a) {
			if err := promoteSecondaries(nl, link); err != nil {
				return changed, fmt.Errorf("%s is the primary address of others on the link, and they would go with it: %w", a, err)
			}
		}
		if err := nl.AddrDel(link, a); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

func promoteSecondaries(nl Netlink, link string) error {
	key := SysctlPromoteSecondaries(link)
	v, err := nl.Sysctl(key)
	if err != nil {
		return err
	}
	if v == "1" {
		return nil
	}
	return nl.SetSysctl(key, "1")
}
