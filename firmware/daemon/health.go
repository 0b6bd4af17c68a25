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
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
	var reach func(ctx context.Context, hostport string) error
	if _, ok := d.wg.(*netctl.NetstackWireGuard); !ok {
		// The endpoints' public addresses are pinged over the WAN only when
		// no endpoint answers, to tell a datacenter that is gone from keys
		// that do not match.
		reach = selfcheck.PingReach(d.pinger)
	}
	d.tsCheck = d.wd.Register("timesync", 3*time.Minute)
	var err error
	d.ts, err = timesync.New(timesync.Options{
		Servers: site.TimeSync.Servers, MaxOffset: site.TimeSync.MaxOffset.D(), Interval: site.TimeSync.Interval.D(),
		Dial: d.tunnelDial(), Events: ev, Logger: log.With("job", "timesync"), Alive: d.tsCheck.Report,
		Skip: d.withoutTunnel,
	})
	if err != nil {
		return err
	}
	d.scIn = selfcheck.Inputs{
		WAN: site.WAN.Interface, LAN: site.LAN.Interface, Net: d.inspector(),
		Tunnel: d.sup.Status, ProbeMisses: site.Probe.Misses, Reach: reach, TimeSync: d.ts.Last,
		StateDir: site.Journal.Dir, MinFreeBytes: site.SelfCheck.MinFreeBytes, MaxTemperature: site.SelfCheck.MaxTemperature,
		UPS: func() *api.UPSStatus { return d.pw.upsStatus() }, // the power job (power.go) opens after this
	}
	d.scCheck = d.wd.Register("selfcheck", 3*time.Minute)
	d.sc, err = selfcheck.NewScheduler(selfcheck.SchedulerOptions{
		At: site.SelfCheck.At, Location: d.site.Location(), Inputs: d.scIn,
		Events: ev, Logger: log.With("job", "selfcheck"), Alive: d.scCheck.Report,
	})
	return err
}

// Diagnose implements api.Diagnoser: the path from the LAN to the
// datacenter, walked now, with the first broken segment named.
func (d *Daemon) Diagnose(ctx context.Context) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return selfcheck.Diagnose(ctx, d.scIn), nil
}

// Report implements api.Reporter: the monthly operation report from the
// journal, rendered whole before anything is sent.
func (d *Daemon) Report(month, format, lang string) (string, []byte, error) {
	rep, err := report.Build(month, d.journal.Range, report.Options{
		Site: d.site.Site, Unit: d.site.Unit, Location: d.site.Location(), Now: time.Now(),
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
	default:
		err = rep.JSON(&b)
	}
	if err != nil {
		return "", nil, fmt.Errorf("daemon: rendering the %s report: %w", month, err)
	}
	return ct, b.Bytes(), nil
}

// Inventory implements api.ManagementBackend; it is read once at start.
func (d *Daemon) Inventory() inventory.Inventory { return d.inv }

// Metrics implements api.ManagementBackend: the daemon has no samples of
// its own beyond what the status carries.
func (d *Daemon) Metrics(io.Writer) {}

// serveManagement keeps the management API up: a failure to serve (an
// address not there yet, a token file gone bad) is journaled and retried
// with back-off, never allowed to take the tunnel down with it.
func (d *Daemon) serveManagement(ctx context.Context) error {
	backoff := 5 * time.Second
	last := ""
	for {
		err := d.serveManagementOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("stopped serving")
		}
		if msg := err.Error(); msg != last {
			last = msg
			d.event("mgmt.unavailable", "the management API is unavailable; retrying: "+msg, map[string]any{"error": msg})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// serveManagementOnce runs the management API on the management address
// inside the tunnel (and health.also_listen), and nowhere else. Without a
// token file it does not run at all.
func (d *Daemon) serveManagementOnce(ctx context.Context) error {
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
	// The management address is bound to the WireGuard link itself
	// (SO_BINDTODEVICE): Linux would otherwise accept connections to it
	// from the LAN or the WAN, since it owns the address on every port.
	listen := func(network, addr string) (net.Listener, error) {
		if addr != mgmt {
			return net.Listen(network, addr)
		}
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), d.wg.Name()) })
			return errors.Join(err, serr)
		}}
		return lc.Listen(context.Background(), network, addr)
	}
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
	return api.ServeManagement(ctx, addrs, listen, api.ManagementHandler(d, token, d.log.With("job", "mgmt")))
}

// tunnelDial dials the cloud through the tunnel, for the time-sync job
// and the acceptance check: the userspace network for netstack, the
// kernel's routes (which send the cloud's subnets into the WireGuard link)
// otherwise.
func (d *Daemon) tunnelDial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if ns, ok := d.wg.(*netctl.NetstackWireGuard); ok {
		return ns.Net().DialContext
	}
	return (&net.Dialer{}).DialContext
}

// inspector is the view of the ports the checks read.
func (d *Daemon) inspector() netctl.Inspector {
	if d.opts.Inspector != nil {
		return d.opts.Inspector
	}
	return netctl.KernelInspector{}
}
