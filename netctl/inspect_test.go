package netctl_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/inspecttest"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// TestKernelInspector reads a unit's links, default route and the
// gateway's ARP entry in a namespace, then unplugs the WAN (the peer end
// down) and sees the carrier go.
//
//	unit: wan0 192.0.2.2/24 ── isp: wan0 192.0.2.1/24
//	unit: lan0 ───────────────  office: lan0
func TestKernelInspector(t *testing.T) {
	t.Parallel()
	r := netnstest.New(t)
	unit, isp, office := r.NS("unit"), r.NS("isp"), r.NS("office")
	r.Link(unit, "wan0", isp, "wan0")
	r.Link(unit, "lan0", office, "lan0")
	unit.Addr("wan0", netip.MustParsePrefix("192.0.2.2/24"))
	isp.Addr("wan0", netip.MustParsePrefix("192.0.2.1/24"))
	gw := netip.MustParseAddr("192.0.2.1")
	unit.DefaultRoute(gw)

	in := netctl.KernelInspector{}
	read := func() (wan, lan netctl.LinkInfo, routes []netctl.DefaultRoute, neigh netctl.NeighState) {
		t.Helper()
		err := unit.Do(func() error {
			var err error
			if wan, err = in.Link("wan0"); err != nil {
				return err
			}
			if lan, err = in.Link("lan0"); err != nil {
				return err
			}
			if routes, err = in.DefaultRoutes(); err != nil {
				return err
			}
			neigh, err = in.Neighbor("wan0", gw)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return
	}

	wan, lan, routes, neigh := read()
	if !wan.AdminUp || !wan.Carrier || wan.OperState != "up" || len(wan.MAC) != 6 || wan.MTU != 1500 {
		t.Errorf("wan0 = %+v, want up with carrier", wan)
	}
	if !lan.Carrier {
		t.Errorf("lan0 = %+v, want carrier", lan)
	}
	want := []netctl.DefaultRoute{{Interface: "wan0", Gateway: gw}}
	if len(routes) != 1 || routes[0] != want[0] {
		t.Errorf("default routes %+v, want %+v", routes, want)
	}
	if neigh != netctl.NeighAbsent {
		t.Logf("gateway's neighbour entry before any traffic: %s", neigh)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := unit.Ping(ctx, gw); err != nil {
		t.Fatal(err)
	}
	if _, _, _, neigh = read(); !neigh.Answered() {
		t.Errorf("gateway's neighbour entry after a ping: %s, want answered", neigh)
	}

	// Unplug: the ISP's end goes down; the unit's end stays administratively up.
	isp.SetLink("wan0", false)
	if wan, _, _, _ = read(); wan.Carrier || !wan.AdminUp || wan.OperState == "up" {
		t.Errorf("wan0 unplugged = %+v, want admin up, no carrier, not oper up", wan)
	}
	isp.SetLink("wan0", true)
	if wan, _, _, _ = read(); !wan.Carrier {
		t.Errorf("wan0 plugged back = %+v, want carrier", wan)
	}

	err := unit.Do(func() error { _, err := in.Link("eth9"); return err })
	if !errors.Is(err, netctl.ErrNoLink) {
		t.Errorf("missing link: %v, want ErrNoLink", err)
	}
}

func TestNeighStateVerdicts(t *testing.T) {
	for s, want := range map[netctl.NeighState][2]bool{
		netctl.NeighReachable:  {true, false},
		netctl.NeighStale:      {true, false},
		netctl.NeighDelay:      {true, false},
		netctl.NeighProbe:      {true, false},
		netctl.NeighPermanent:  {true, false},
		netctl.NeighFailed:     {false, true},
		netctl.NeighIncomplete: {false, true},
		netctl.NeighAbsent:     {false, false},
	} {
		if s.Answered() != want[0] || s.Failed() != want[1] {
			t.Errorf("%s: answered %v failed %v, want %v", s, s.Answered(), s.Failed(), want)
		}
	}
}

func TestInspectFake(t *testing.T) {
	f := inspecttest.New("eth0", "eth1")
	gw := netip.MustParseAddr("192.0.2.1")
	f.Set(func(f *inspecttest.Fake) {
		f.Routes = []netctl.DefaultRoute{
			{Interface: "eth1", Gateway: netip.MustParseAddr("2001:db8::1"), Metric: 1},
			{Interface: "eth1", Gateway: netip.MustParseAddr("10.0.0.1"), Metric: 200},
			{Interface: "eth0", Gateway: gw, Metric: 100},
		}
		f.Neigh[inspecttest.Key("eth0", gw)] = netctl.NeighFailed
	})
	f.Unplug("eth0", true)
	l, err := f.Link("eth0")
	if err != nil || l.Carrier || l.OperState != "lowerlayerdown" {
		t.Errorf("eth0 = %+v, %v", l, err)
	}
	rs, _ := f.DefaultRoutes()
	if rs[0].Gateway != gw || rs[2].Gateway.Is4() {
		t.Errorf("routes not sorted v4 first by metric: %+v", rs)
	}
	if s, _ := f.Neighbor("eth0", gw); s != netctl.NeighFailed {
		t.Errorf("neighbour %s", s)
	}
	if _, err := f.Link("eth7"); !errors.Is(err, netctl.ErrNoLink) {
		t.Errorf("missing link: %v", err)
	}
}
