package netctl_test

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shisa-gw/shisa/netctl"
)

// requireRoot skips tests that need root and create network namespaces.
func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: creates network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: run 'sudo make test' (creates network namespaces)")
	}
}

// enterNewNetns moves the test goroutine's OS thread into a fresh, empty
// network namespace with lo up, for the rest of the test. The thread stays
// locked and is never switched back: when the test's goroutine ends, Go
// discards the thread and the namespace dies with it, whether the test
// passed, failed or panicked. Everything that must happen in the namespace
// has to run on the test goroutine (no t.Run, no t.Parallel); sockets
// opened there keep the namespace whoever reads them, and processes
// started there (exec.Command) inherit it.
func enterNewNetns(t *testing.T) {
	t.Helper()
	requireRoot(t)
	runtime.LockOSThread() // never unlocked: see above
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("create network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatalf("find lo in new namespace: %v", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatalf("set lo up: %v", err)
	}
}

// ipCmd runs ip(8) in the test's namespace and returns its output.
func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestKernelApply(t *testing.T) {
	enterNewNetns(t)
	const name = "wg-shisa"
	// A persistent TUN device, as wireguard-go would create (this kernel
	// has neither the wireguard nor the dummy module).
	tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TUN}
	if err := netlink.LinkAdd(tun); err != nil {
		t.Fatalf("add TUN link: %v", err)
	}
	k := netctl.Kernel{}

	if _, _, err := k.LinkState("nope0"); !errors.Is(err, netctl.ErrNoLink) {
		t.Errorf("LinkState(nope0) = %v, want ErrNoLink", err)
	}

	want := netctl.State{
		Forwarding: true,
		Links: []netctl.LinkState{{
			Name:   name,
			MTU:    1420,
			Up:     true,
			Addrs:  []netip.Prefix{pfx("10.9.0.2/24"), pfx("fd00:9::2/64")},
			Routes: []netip.Prefix{pfx("10.20.0.0/16"), pfx("10.30.0.0/16"), pfx("fd00:20::/48")},
		}},
	}
	changes, err := netctl.Apply(k, want)
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	if len(changes) != 9 { // mtu, up, 2 addrs, 3 routes, 2 sysctls
		t.Errorf("first Apply made %d changes, want 9: %v", len(changes), changes)
	}

	// A route someone else made through our link, and one of ours that is
	// no longer wanted.
	ipCmd(t, "route", "add", "10.50.0.0/16", "dev", name, "proto", "static")

	again, err := netctl.Apply(k, want)
	if err != nil || len(again) != 0 {
		t.Errorf("second Apply = %v, %v; want no changes", again, err)
	}

	routes := ipCmd(t, "route", "show", "dev", name)
	for _, r := range []string{"10.20.0.0/16 proto 90 scope link", "10.30.0.0/16 proto 90 scope link", "10.50.0.0/16 proto static scope link"} {
		if !strings.Contains(routes, r) {
			t.Errorf("ip route show dev %s lacks %q:\n%s", name, r, routes)
		}
	}
	if r6 := ipCmd(t, "-6", "route", "show", "dev", name); !strings.Contains(r6, "fd00:20::/48 proto 90") {
		t.Errorf("ip -6 route show dev %s lacks fd00:20::/48:\n%s", name, r6)
	}
	if link := ipCmd(t, "link", "show", name); !strings.Contains(link, "mtu 1420") || !strings.Contains(link, ",UP") {
		t.Errorf("ip link show %s: want mtu 1420 and UP:\n%s", name, link)
	}
	for _, key := range []string{netctl.SysctlIPv4Forward, netctl.SysctlIPv6Forward} {
		if v, err := k.Sysctl(key); err != nil || v != "1" {
			t.Errorf("Sysctl(%s) = %q, %v; want 1", key, v, err)
		}
	}

	// Shrink the desired state: stale address and route go, the foreign
	// route stays.
	want.Links[0].Addrs = want.Links[0].Addrs[:1]
	want.Links[0].Routes = want.Links[0].Routes[:1]
	changes, err = netctl.Apply(k, want)
	if err != nil {
		t.Fatalf("shrinking Apply: %v", err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	wantChanges := []string{
		"del addr fd00:9::2/64 dev wg-shisa",
		"del route 10.30.0.0/16 dev wg-shisa",
		"del route fd00:20::/48 dev wg-shisa",
	}
	if !slices.Equal(got, wantChanges) {
		t.Errorf("shrinking Apply changes:\n got %q\nwant %q", got, wantChanges)
	}
	routes = ipCmd(t, "route", "show", "dev", name)
	if strings.Contains(routes, "10.30.0.0/16") || !strings.Contains(routes, "10.50.0.0/16 proto static") {
		t.Errorf("after shrinking, ip route show dev %s:\n%s", name, routes)
	}
	if addrs, err := k.AddrList(name); err != nil || !slices.Equal(addrs, []netip.Prefix{pfx("10.9.0.2/24")}) {
		t.Errorf("AddrList = %v, %v; want [10.9.0.2/24]", addrs, err)
	}
}

func TestKernelErrors(t *testing.T) {
	enterNewNetns(t)
	k := netctl.Kernel{}
	_, err := netctl.Apply(k, netctl.State{Links: []netctl.LinkState{{Name: "wg-missing", Up: true}}})
	if !errors.Is(err, netctl.ErrNoLink) || !strings.Contains(err.Error(), "wg-missing") {
		t.Errorf("Apply on a missing link: %v, want ErrNoLink naming the link", err)
	}
	if _, err := k.Sysctl("../../etc/passwd"); err == nil {
		t.Errorf("Sysctl with a key leaving /proc/sys succeeded")
	}
}

// Carrier follows the far end of a veth pair: the near end stays
// administratively up but loses its carrier when the far end goes down,
// which is what a pulled WAN cable looks like.
func TestKernelCarrier(t *testing.T) {
	enterNewNetns(t)
	ipCmd(t, "link", "add", "wan0", "type", "veth", "peer", "name", "far0")
	k := netctl.Kernel{}
	cr, err := netctl.NewCarrierReader()
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	check := func(what string, want bool) {
		t.Helper()
		for _, f := range []func(string) (bool, error){k.Carrier, cr.Carrier} {
			if up, err := f("wan0"); err != nil || up != want {
				t.Fatalf("%s: Carrier = %v, %v; want %v, nil", what, up, err, want)
			}
		}
	}
	check("wan0 down", false)
	up, err := k.Carrier("wan0")
	if err != nil || up {
		t.Fatalf("wan0 down: Carrier = %v, %v; want false, nil", up, err)
	}
	ipCmd(t, "link", "set", "wan0", "up")
	ipCmd(t, "link", "set", "far0", "up")
	if up, err := k.Carrier("wan0"); err != nil || !up {
		t.Fatalf("both ends up: Carrier = %v, %v; want true, nil", up, err)
	}
	ipCmd(t, "link", "set", "far0", "down")
	if up, err := k.Carrier("wan0"); err != nil || up {
		t.Fatalf("far end down: Carrier = %v, %v; want false, nil", up, err)
	}
	check("far end down", false)
	ipCmd(t, "link", "set", "far0", "up")
	check("far end up again", true)
	if _, err := k.Carrier("nothing0"); !errors.Is(err, netctl.ErrNoLink) {
		t.Fatalf("missing link: err = %v; want ErrNoLink", err)
	}
	if _, err := cr.Carrier("nothing0"); !errors.Is(err, netctl.ErrNoLink) {
		t.Fatalf("missing link (reader): err = %v; want ErrNoLink", err)
	}
}

func TestForgetNeighbor(t *testing.T) {
	enterNewNetns(t)
	ipCmd(t, "link", "add", "lan0", "type", "veth", "peer", "name", "far0")
	ipCmd(t, "link", "set", "lan0", "up")
	ipCmd(t, "addr", "add", "192.168.10.2/24", "dev", "lan0")
	ipCmd(t, "neigh", "replace", "192.168.10.3", "lladdr", "02:00:00:00:00:03", "dev", "lan0", "nud", "stale")
	cr, err := netctl.NewCarrierReader()
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	if out := ipCmd(t, "neigh", "show", "dev", "lan0"); !strings.Contains(out, "192.168.10.3") {
		t.Fatalf("setup: no entry: %q", out)
	}
	if err := cr.ForgetNeighbor("lan0", netip.MustParseAddr("192.168.10.3")); err != nil {
		t.Fatal(err)
	}
	if out := ipCmd(t, "neigh", "show", "dev", "lan0"); strings.Contains(out, "192.168.10.3") {
		t.Errorf("entry left: %q", out)
	}
	if err := cr.ForgetNeighbor("lan0", netip.MustParseAddr("192.168.10.3")); err != nil {
		t.Errorf("forgetting an absent entry: %v", err)
	}
	if err := cr.ForgetNeighbor("nothing0", netip.MustParseAddr("192.168.10.3")); err == nil {
		t.Error("a missing link: no error")
	}
}
