package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/acceptance"
	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/netctl"
)

// Acceptance implements api.Accepter: it runs the acceptance check
// (動作確認) now and journals the whole report (acceptance.result), which is
// how the datacenter receives it.
func (d *Daemon) Acceptance(ctx context.Context) (api.Acceptance, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	d.mu.Lock()
	d.checking = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.checking = false
		d.mu.Unlock()
	}()
	self := d.scIn
	if len(d.site.TimeSync.Servers) > 0 && d.ts != nil && (d.pair == nil || d.pair.status().Role == ha.Active) {
		// A fresh clock check: the unit has just come up, and the last
		// periodic check may be from before the tunnel was.
		fresh := d.ts.Check(ctx)
		self.TimeSync = func() *api.TimeSync { return fresh }
	}
	in := acceptance.Inputs{
		Self:     self,
		Services: d.site.Probe.Targets,
		Dial:     d.tunnelDial(),
		Firmware: d.inv.Firmware,
	}
	if _, ok := d.wg.(*netctl.NetstackWireGuard); !ok {
		nl := d.opts.Netlink
		if nl == nil {
			nl = netctl.Kernel{}
		}
		in.AddrList = nl.AddrList
		lan := acceptance.AddrCheck{Role: "lan", Link: d.site.LAN.Interface}
		if d.pair != nil {
			lan.Want = []netip.Addr{d.site.Pair.Address}
		}
		in.Addresses = []acceptance.AddrCheck{
			{Role: "wan", Link: d.site.WAN.Interface}, lan,
			{Role: "tunnel", Link: d.wg.Name(), Want: tunnelAddrs(d.site.Tunnel)},
		}
	}
	if j := d.pair; j != nil {
		in.Pair = j.status
		in.VIP = j.vip.Addr().String()
		in.VIPHeld = func() (bool, error) {
			have, err := j.nl.AddrList(j.link)
			return slices.ContainsFunc(have, func(p netip.Prefix) bool { return p.Addr() == j.vip.Addr() }), err
		}
	}
	r := acceptance.Run(ctx, in)
	d.mu.Lock()
	d.lastAcc = &r
	d.mu.Unlock()
	failed := acceptance.Failed(r)
	msg := fmt.Sprintf("acceptance check passed: %d items in %.1f s", len(r.Items), r.TookS)
	if !r.OK {
		msg = fmt.Sprintf("acceptance check FAILED: %s", strings.Join(failed, ", "))
	}
	d.event(report.KindAcceptanceResult, msg, map[string]any{
		"ok": r.OK, "failed": failed, "items": r.Items, "took_s": r.TookS,
	})
	return r, nil
}

// lastAcceptance is the last acceptance check since this start.
func (d *Daemon) lastAcceptance() *api.Acceptance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastAcc
}
