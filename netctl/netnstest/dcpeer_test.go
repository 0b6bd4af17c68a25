package netnstest_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/netctl/netnstest"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// TestDCPeerTunnel runs dcpeer as the datacenter in "dc" and a second
// dcpeer as the site in "site" (with the datacenter as its endpoint), a
// veth between them as the WAN, and pushes 4 MiB through the tunnel to
// the sink, checks the echo and the ping, and checks that the teardown
// leaves nothing behind.
func TestDCPeerTunnel(t *testing.T) {
	t.Parallel()
	var prefix string
	var pids []int
	t.Cleanup(func() { assertGone(t, prefix, pids) }) // runs after the rig's teardown
	r := netnstest.New(t)
	prefix = r.Prefix()

	dcKey, siteKey := mustKey(t), mustKey(t)
	dc, site := r.NS("dc"), r.NS("site")
	r.Link(site, "wan0", dc, "wan0")
	site.Addr("wan0", pfx("192.0.2.2/24"))
	dc.Addr("wan0", pfx("192.0.2.1/24"))

	dcp := r.StartDCPeer(dc, netnstest.DCPeerOptions{
		Interface:  "wg-dc",
		PrivateKey: dcKey,
		ListenPort: 51820,
		Addrs:      []netip.Prefix{pfx("10.99.0.1/24"), pfx("10.20.0.10/32")},
		Peers: []netnstest.DCPeerPeer{{
			PublicKey:  siteKey.PublicKey(),
			AllowedIPs: []netip.Prefix{pfx("10.99.1.0/24"), pfx("192.168.10.0/24")},
		}},
		TCPSink: ":9000",
		TCPEcho: ":9001",
	})
	sitep := r.StartDCPeer(site, netnstest.DCPeerOptions{
		Interface:  "wg-site",
		PrivateKey: siteKey,
		ListenPort: 51821,
		Addrs:      []netip.Prefix{pfx("10.99.1.2/24")},
		Peers: []netnstest.DCPeerPeer{{
			PublicKey:  dcKey.PublicKey(),
			AllowedIPs: []netip.Prefix{pfx("10.99.0.0/24"), pfx("10.20.0.0/24")},
			Endpoint:   netip.MustParseAddrPort("192.0.2.1:51820"),
			Keepalive:  time.Second,
		}},
	})
	pids = append(pids, dcp.Pid, sitep.Pid)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := site.Ping(ctx, ip("10.20.0.10")); err != nil {
		t.Fatalf("ping through the tunnel: %v", err)
	}

	conn, err := site.DialTCP(ctx, "10.20.0.10:9000")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sum, err := netnstest.Sink(ctx, conn, 4<<20)
	if err != nil {
		t.Fatalf("4 MiB through the tunnel: %v", err)
	}
	t.Logf("4 MiB through the tunnel in %v, sha256 %s", time.Since(start).Round(time.Millisecond), sum)

	ec, err := site.DialTCP(ctx, "10.20.0.10:9001")
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	for range 3 {
		if err := netnstest.Echo(ctx, ec); err != nil {
			t.Fatal(err)
		}
	}

	// The datacenter logs where the site is: the roaming endpoint.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(dcp.Output(), "endpoint=192.0.2.2:51821") {
		select {
		case <-ctx.Done():
			t.Fatalf("dcpeer never logged the site's endpoint:\n%s", dcp.Output())
		case <-tick.C:
		}
	}
}

func mustKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
