// Package netctl does the box's networking: the WireGuard device (in-kernel
// through netlink and wgctrl, wireguard-go on a TUN device, or wireguard-go
// on a userspace netstack for rootless runs), links, addresses, routes, MTU
// and IP forwarding, and ICMP probes.
//
// netctl never decides; it is told a whole desired state and makes the
// system match it, idempotently: applying the same state twice changes
// nothing the second time and says so. The kernel calls sit behind the
// small [Netlink] seam, so the add/remove logic is tested without root
// against the recording fake in package netlinktest.
package netctl
