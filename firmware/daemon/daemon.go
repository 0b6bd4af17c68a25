// Package daemon assembles shisad from the site configuration: it opens the
// journal and the WireGuard device, applies the tunnel link's addresses and
// routes, and runs the jobs (the tunnel supervisor, the local API) under one
// context, tearing everything down in order when the context ends.
//
// It decides nothing itself: each job owns its decisions; the daemon only
// builds them, connects them and owns their goroutines.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
)

// Options configures a Daemon.
type Options struct {
	Site    *config.Site
	Version string
	Logger  *slog.Logger
	// Bind replaces wireguard-go's UDP transport (demo and tests).
	Bind conn.Bind
	// Netlink replaces the kernel seam (tests); nil uses netctl.Kernel.
	Netlink netctl.Netlink
}

// Daemon is one running shisad.
type Daemon struct {
	opts    Options
	site    *config.Site
	log     *slog.Logger
	started time.Time

	journal *journal.Journal
	wg      netctl.WireGuard
	pinger  netctl.Pinger
	sup     *tunnel.Supervisor

	closeOnce sync.Once
	closeErr  error
}

// New opens everything the daemon needs. On error nothing is left open.
func New(opts Options) (*Daemon, error) {
	site := opts.Site
	if site == nil {
		return nil, errors.New("daemon: no site configuration")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{opts: opts, site: site, log: log, started: time.Now()}
	if err := d.open(); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// open opens the journal, the device and the jobs; Close releases whatever
// it opened when it fails halfway.
func (d *Daemon) open() error {
	site, log := d.site, d.log
	opts := d.opts
	var err error

	key, err := site.PrivateKey()
	if err != nil {
		return err
	}
	d.journal, err = journal.Open(site.Journal.Dir, journal.Options{MaxBytes: site.Journal.MaxBytes, Logger: log.With("job", "journal")})
	if err != nil {
		return fmt.Errorf("daemon: opening the journal: %w", err)
	}

	t := site.Tunnel
	d.wg, err = netctl.OpenWireGuard(netctl.WireGuardOptions{
		Name:    t.Interface,
		Backend: netctl.Backend(t.Backend),
		MTU:     t.MTU,
		Addrs:   []netip.Addr{t.Address.Addr()},
		Logger:  log.With("job", "wireguard"),
		Bind:    opts.Bind,
	})
	if err != nil {
		return fmt.Errorf("daemon: opening the WireGuard device %s: %w", t.Interface, err)
	}

	if ns, ok := d.wg.(*netctl.NetstackWireGuard); ok {
		d.pinger = netctl.NewNetstackPinger(ns.Net())
	} else {
		if err := d.applyNetwork(); err != nil {
			return err
		}
		p, err := netctl.NewICMPPinger()
		if err != nil {
			return fmt.Errorf("daemon: opening the probe socket: %w", err)
		}
		d.pinger = p
	}

	var eps []tunnel.Endpoint
	for _, e := range t.Endpoints {
		eps = append(eps, tunnel.Endpoint{Name: e.Name, Endpoint: e.Endpoint, Key: e.Key(), Probe: e.Probe})
	}
	p := site.Probe
	d.sup, err = tunnel.New(tunnel.Options{
		PrivateKey: key, ListenPort: t.ListenPort,
		Source: t.Address.Addr(), Endpoints: eps, Routes: t.Routes,
		Keepalive: t.PersistentKeepalive.D(),
		Interval:  p.Interval.D(), Timeout: p.Timeout.D(), Misses: p.Misses, Rise: p.Rise,
		HandshakeTimeout: p.HandshakeTimeout.D(), HoldDown: p.HoldDown.D(),
		NoFailback: t.Failback != nil && !*t.Failback,
		Device:     d.wg, Pinger: d.pinger, Events: journalEvents{d.journal, log},
		Logger: log,
	})
	return err
}

// applyNetwork gives the tunnel link its MTU, address and routes (the
// cloud's subnets and every endpoint's probe address), and turns on IP
// forwarding: the box routes the office LAN into the tunnel without NAT.
func (d *Daemon) applyNetwork() error {
	t := d.site.Tunnel
	routes := append([]netip.Prefix(nil), t.Routes...)
	seen := map[netip.Addr]bool{}
	for _, e := range t.Endpoints {
		if !seen[e.Probe] && !t.Address.Contains(e.Probe) {
			seen[e.Probe] = true
			routes = append(routes, netip.PrefixFrom(e.Probe, e.Probe.BitLen()))
		}
	}
	nl := d.opts.Netlink
	if nl == nil {
		nl = netctl.Kernel{}
	}
	changes, err := netctl.Apply(nl, netctl.State{
		Links: []netctl.LinkState{{
			Name: t.Interface, MTU: t.MTU, Up: true,
			Addrs: []netip.Prefix{t.Address}, Routes: routes,
		}},
		Forwarding: true,
	})
	for _, c := range changes {
		d.log.Info("network change", "job", "netctl", "change", c.String())
	}
	if err != nil {
		return fmt.Errorf("daemon: configuring %s: %w", t.Interface, err)
	}
	return nil
}

// Run runs the jobs until ctx ends or one fails, then closes everything.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	ln, err := api.ListenUnix(d.site.API.Socket)
	if err != nil {
		return err
	}
	d.event("daemon.start", fmt.Sprintf("shisad %s started (%s backend)", d.opts.Version, d.wg.Backend()), map[string]any{
		"version": d.opts.Version, "backend": string(d.wg.Backend()), "config": d.site.Path,
	})

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel(err)
			}
		})
	}
	run("tunnel", d.sup.Run)
	run("api", func(ctx context.Context) error {
		return api.Serve(ctx, ln, api.Handler(d, d.log.With("job", "api")))
	})
	<-ctx.Done()
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	cause := context.Cause(ctx)
	reason := "stopped"
	if len(all) > 0 {
		reason = errors.Join(all...).Error()
	} else if cause != nil && !errors.Is(cause, context.Canceled) {
		reason = cause.Error()
	}
	d.event("daemon.stop", "shisad stopping: "+reason, map[string]any{"uptime_s": time.Since(d.started).Seconds()})
	return errors.Join(all...)
}

// Close releases the device, the probe socket and the journal; it may be
// called more than once.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if c, ok := d.pinger.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
		if d.wg != nil {
			errs = append(errs, d.wg.Close())
		}
		if d.journal != nil {
			errs = append(errs, d.journal.Close())
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// Net is the userspace network of a netstack tunnel (nil for the other
// backends): the demo dials the cloud through it.
func (d *Daemon) Net() *netstack.Net {
	if ns, ok := d.wg.(*netctl.NetstackWireGuard); ok {
		return ns.Net()
	}
	return nil
}

// Tunnel returns the tunnel supervisor's current status.
func (d *Daemon) Tunnel() tunnel.Status { return d.sup.Status() }

// Journal is the daemon's event journal.
func (d *Daemon) Journal() *journal.Journal { return d.journal }

// Status implements api.Backend.
func (d *Daemon) Status() api.Status {
	recent, err := d.journal.Last(10)
	if err != nil {
		d.log.Warn("reading recent events", "err", err)
	}
	return api.Status{
		Site: d.site.Site, Unit: d.site.Unit, Version: d.opts.Version,
		Role:      "active",
		StartedAt: d.started, Uptime: time.Since(d.started).Seconds(),
		Backend: string(d.wg.Backend()), Interface: d.wg.Name(),
		Tunnel: d.sup.Status(), Runtime: api.ReadRuntime(), Events: recent,
	}
}

// Events implements api.Backend.
func (d *Daemon) Events(since uint64, limit int) ([]journal.Record, uint64, error) {
	return d.journal.Since(since, limit)
}

func (d *Daemon) event(kind, msg string, fields map[string]any) {
	journalEvents{d.journal, d.log}.Event(kind, msg, fields)
}

// journalEvents writes events to the journal; a failed write is logged, not
// fatal (the box keeps its tunnel even when its flash is failing).
type journalEvents struct {
	j   *journal.Journal
	log *slog.Logger
}

func (e journalEvents) Event(kind, msg string, fields map[string]any) {
	if _, err := e.j.Append(kind, msg, fields); err != nil {
		e.log.Error("writing to the journal failed", "kind", kind, "err", err)
	}
}
