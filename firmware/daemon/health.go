package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/timesync"
	"github.com/shisa-gw/shisa/netctl"
)

// What the APIs need of the daemon, checked at compile time.
var (
	_ api.LocalBackend      = (*Daemon)(nil)
	_ api.ManagementBackend = (*Daemon)(nil)
)

// openHealth builds the time-sync checker and the daily self-check.
func (d *Daemon) openHealth() error {
	site, log := d.site, d.log
	ev := journalEvents{d.journal, log, d.kick}
	var dial timesync.DialFunc
	var reach func(ctx context.Context, hostport string) error
	if ns, ok := d.wg.(*netctl.NetstackWireGuard); ok {
		dial = ns.Net().DialContext
	} else {
		// The endpoints' public addresses are pinged over the WAN only when
		// no endpoint answers, to tell a datacenter that is gone from keys
		// that do not match.
		reach = selfcheck.PingReach(d.pinger)
	}
	d.tsCheck = d.wd.Register("timesync", 3*time.Minute)
	var err error
	d.ts, err = timesync.New(timesync.Options{
		Servers: site.TimeSync.Servers, MaxOffset: site.TimeSync.MaxOffset.D(), Interval: site.TimeSync.Interval.D(),
		Dial: dial, Events: ev, Logger: log.With("job", "timesync"), Alive: d.tsCheck.Report,
	})
	if err != nil {
		return err
	}
	d.scIn = selfcheck.Inputs{
		WAN: site.WAN.Interface, LAN: site.LAN.Interface, Net: netctl.KernelInspector{},
		Tunnel: d.sup.Status, ProbeMisses: site.Probe.Misses, Reach: reach, TimeSync: d.ts.Last,
		StateDir: site.Journal.Dir, MinFreeBytes: site.SelfCheck.MinFreeBytes, MaxTemperature: site.SelfCheck.MaxTemperature,
	}
	d.scCheck = d.wd.Register("selfcheck", 3*time.Minute)
	d.sc, err = selfcheck.NewScheduler(selfcheck.SchedulerOptions{
		At: site.SelfCheck.At, Location: d.location(), Inputs: d.scIn,
		Events: ev, Logger: log.With("job", "selfcheck"), Alive: d.scCheck.Report,
	})
	return err
}

// Diagnose implements api.Diagnoser: the path from the LAN to the
// datacenter, walked now, with the first broken segment named.
func (d *Daemon) Diagnose() (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return selfcheck.Diagnose(ctx, d.scIn), nil
}

// Report implements api.Reporter: the monthly operation report from the
// journal, rendered whole before anything is sent.
func (d *Daemon) Report(month, format, lang string) (string, []byte, error) {
	rep, err := report.Build(month, d.journal.Range, report.Options{
		Site: d.site.Site, Unit: d.site.Unit, Location: d.location(), Now: time.Now(),
	})
	if err != nil {
		return "", nil, err
	}
	var b bytes.Buffer
	ct := "application/json"
	switch format {
	case api.ReportCSV:
		ct = "text/csv; charset=utf-8"
		err = rep.CSV(&b)
	case api.ReportHTML:
		ct = "text/html; charset=utf-8"
		err = rep.HTML(&b, lang)
	default:
		err = rep.JSON(&b)
	}
	if err != nil {
		return "", nil, fmt.Errorf("daemon: rendering the %s report: %w", month, err)
	}
	return ct, b.Bytes(), nil
}

// location is the site's time zone (validated by config; JST if it cannot
// be loaded, which config rules out).
func (d *Daemon) location() *time.Location {
	if loc, err := time.LoadLocation(d.site.TimeZone); err == nil {
		return loc
	}
	return report.JST
}

// Inventory implements api.ManagementBackend; it is read once at start.
func (d *Daemon) Inventory() inventory.Inventory { return d.inv }

// Metrics implements api.ManagementBackend: the daemon has no samples of
// its own beyond what the status carries.
func (d *Daemon) Metrics(io.Writer) {}

// serveManagement runs the management API on the management address inside
// the tunnel (and health.also_listen), and nowhere else. Without a token
// file it does not run at all.
func (d *Daemon) serveManagement(ctx context.Context) error {
	h := d.site.Health
	if h.TokenFile == "" {
		d.log.Warn("no health.token_file: the management API is off", "job", "mgmt")
		<-ctx.Done()
		return nil
	}
	token, err := api.ReadTokenFile(h.TokenFile)
	if err != nil {
		return err
	}
	mgmt := net.JoinHostPort(d.site.Tunnel.ManagementAddress.String(), strconv.Itoa(h.Port))
	addrs := append([]string{mgmt}, h.AlsoListen...)
	var listen func(network, addr string) (net.Listener, error)
	if ns, ok := d.wg.(*netctl.NetstackWireGuard); ok {
		// Rootless: the management address lives in the userspace stack.
		listen = func(network, addr string) (net.Listener, error) {
			if addr != mgmt {
				return net.Listen(network, addr)
			}
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, err
			}
			return ns.Net().ListenTCPAddrPort(ap)
		}
	}
	d.log.Info("management API listening", "job", "mgmt", "addrs", addrs)
	err = api.ServeManagement(ctx, addrs, listen, api.ManagementHandler(d, token, d.log.With("job", "mgmt")))
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
