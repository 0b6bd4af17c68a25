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
	"github.com/shisa-gw/shisa/firmware/report"
)

// Acceptance implements api.Accepter: it runs the acceptance check
// (動作確認) now and journals the whole report (acceptance.result), which is
// how the datacenter receives it.
func (d *Daemon) Acceptance(ctx context.Context) (api.Acceptance, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	in := acceptance.Inputs{
		Self:     d.scIn,
		Services: d.site.Probe.Targets,
		Dial:     d.tunnelDial(),
		Firmware: d.inv.Firmware,
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
