// Package daemon assembles shisad from the site configuration: it opens the
// journal and the WireGuard device, applies the tunnel link's addresses and
// routes, and runs the jobs (the tunnel supervisor, the local API) under one
// context, tearing everything down in order when the context ends.
//
// Every job reports to the watchdog from its own loop; systemd (or the
// hardware watchdog) is petted only while all of them do. A start becomes
// good once the tunnel has been up and every check fresh for
// watchdog.good_after; the start guard then forgets earlier failed starts
// and keeps the config as the last good one (see package startguard).
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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/startguard"
	"github.com/shisa-gw/shisa/firmware/timesync"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/watchdog"
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
	// Guard counts starts for crash-loop safety; nil disables it.
	Guard *startguard.Guard
	// SafeMode says why this start runs in safe mode; "" when it does not.
	// In safe mode only the tunnel and the API run.
	SafeMode string
	// BaseDir is where the config's relative paths resolve (its own
	// directory, or the original's for the last good copy).
	BaseDir string
	// Notifier replaces sd_notify (tests); nil uses systemd's when
	// NOTIFY_SOCKET is set.
	Notifier watchdog.Notifier
	// UPS, Power and Inhibitor replace the UPS source of ups: and the
	// systemd power controller (tests and the demo pass halsim's).
	UPS       hal.UPS
	Power     hal.Power
	Inhibitor hal.ShutdownInhibitor

	// Box is this box's own name (api.Status.Box).
	Box string
	// Activated: this start follows a spare's activation; the daemon runs
	// the acceptance check once the tunnel is up.
	Activated bool
	// LEDs show the unit's state; zero LEDs show nothing.
	LEDs hal.LEDs
	// Inspector replaces the kernel's view of the ports for the
	// self-check and the acceptance check (the demo's simulated board);
	// nil reads rtnetlink.
	Inspector netctl.Inspector
	// StateDir (spare identity, prepared.json) and TrustedDir (the
	// datacenter's keys) are for `spare prepare` (package spare).
	StateDir, TrustedDir string
	// SiteDir is where the site pack is installed (-config's directory);
	// "" is the config's own directory. In safe mode the config is the
	// last good copy elsewhere, so main passes it.
	SiteDir string
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
	wd      *watchdog.Supervisor
	wdDev   watchdog.Device                // the hardware watchdog, nil when none
	wdRan   bool                           // Run started the watchdog (it closes wdDev)
	tcheck  atomic.Pointer[watchdog.Check] // the tunnel job's, while it runs
	pair    *pairJob                       // nil without a pair section
	acheck  *watchdog.Check                // the API's self-probe
	kick    chan struct{}                  // an event happened: refresh the status line
	inv     inventory.Inventory
	ts      *timesync.Checker
	sc      *selfcheck.Scheduler
	tsCheck *watchdog.Check // the time-sync job's
	scCheck *watchdog.Check // the self-check job's
	scIn    selfcheck.Inputs
	pw      *powerJob     // the power job (power.go)
	pack    *api.PackInfo // the installed pack, read once at start (nil: configured by hand)

	mu        sync.Mutex              // guards the fields below
	lastStuck time.Time               // when a watchdog check last went stale
	healthy   bool                    // this start has become good
	stop      context.CancelCauseFunc // ends Run (set while it runs)
	lastAcc   *api.Acceptance         // the last acceptance check
	preparing sync.Mutex              // one spare prepare at a time (TryLock)
	checking  bool                    // an acceptance check runs

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
		Addrs:   tunnelAddrs(t),
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

	d.kick = make(chan struct{}, 1)
	d.pack = d.packInfo() // only a spare's activation installs a pack, never while the daemon runs
	d.inv = inventory.Read(inventory.Options{
		Interfaces: map[string]string{"wan": site.WAN.Interface, "lan": site.LAN.Interface},
		Version:    opts.Version, ConfigPath: site.Path,
	})
	var dev watchdog.Device
	if wdPath := site.Watchdog.Device; wdPath != "" && !watchdog.UnderSystemd() {
		hw, err := watchdog.OpenDevice(wdPath, site.Watchdog.DeviceTimeout.D())
		if err != nil {
			// Keep the tunnel: a box without its watchdog is better than
			// a box without its tunnel. Say so loudly.
			log.Error("cannot open the hardware watchdog; running without it", "device", wdPath, "err", err)
			d.event("watchdog.unavailable", fmt.Sprintf("hardware watchdog %s cannot be used: %v", wdPath, err), map[string]any{"device": wdPath})
		} else {
			dev, d.wdDev = hw, hw
		}
	}
	d.wd = watchdog.New(watchdog.Options{
		Notifier: opts.Notifier, Device: dev, Logger: log.With("job", "watchdog"),
		OnStuck: d.stuck,
	})
	d.acheck = d.wd.Register("api", 3*apiCheckEvery)

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
		Device:     d.wg, Pinger: d.pinger, Events: journalEvents{d.journal, log, d.kick},
		Logger: log, Alive: d.tunnelAlive, BeforeStep: d.testHooks(),
	})
	if err != nil {
		return err
	}
	if d.pair, err = d.openPair(); err != nil {
		return err
	}
	if err := d.openHealth(); err != nil {
		return err
	}
	return d.openPower()
}

// applyNetwork gives the tunnel link its MTU, address and routes (the
// cloud's subnets and every endpoint's probe address), and turns on IP
// forwarding: the box routes the office LAN into the tunnel without NAT.
func (d *Daemon) applyNetwork() error {
	t := d.site.Tunnel
	addrs := []netip.Prefix{t.Address}
	if m := t.ManagementAddress; m.IsValid() && m != t.Address.Addr() {
		addrs = append(addrs, netip.PrefixFrom(m, m.BitLen()))
	}
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
			Addrs: addrs, Routes: routes,
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

// tunnelAddrs are the addresses the tunnel owns: its own and, when it is
// another one, the management address.
func tunnelAddrs(t config.Tunnel) []netip.Addr {
	a := []netip.Addr{t.Address.Addr()}
	if m := t.ManagementAddress; m.IsValid() && m != t.Address.Addr() {
		a = append(a, m)
	}
	return a
}

// reconcileEvery is how often the tunnel link's addresses and routes are
// applied again: someone may have set the link down and up (the kernel
// drops its routes) or deleted a route. Applying an unchanged state
// changes nothing.
const reconcileEvery = 30 * time.Second

// reconcile applies the tunnel link's desired state now and then.
func (d *Daemon) reconcile(ctx context.Context) error {
	if _, ok := d.wg.(*netctl.NetstackWireGuard); ok {
		return nil // no kernel link
	}
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := d.applyNetwork(); err != nil {
			d.log.Warn("re-applying the tunnel link failed", "job", "netctl", "err", err)
		}
	}
}

// Run runs the jobs until ctx ends or one fails, then closes everything.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	d.mu.Lock()
	d.stop = cancel
	d.mu.Unlock()

	ln, err := api.ListenUnix(d.site.API.Socket)
	if err != nil {
		return err
	}
	d.event("daemon.start", fmt.Sprintf("shisad %s started (%s backend)", d.opts.Version, d.wg.Backend()), map[string]any{
		"version": d.opts.Version, "backend": string(d.wg.Backend()), "config": d.site.Path,
	})
	if d.opts.SafeMode != "" {
		d.event("daemon.safe_mode", "SAFE MODE: "+d.opts.SafeMode+"; running the tunnel only, with "+d.site.Path, map[string]any{
			"reason": d.opts.SafeMode, "config": d.site.Path,
		})
	}

	// The watchdog runs longest: it starts first and stops last, after
	// every job has stopped, so a hang on the way out still resets the box.
	wdCtx, wdCancel := context.WithCancel(context.Background())
	wdDone := make(chan error, 1)
	d.wdRan = true
	go func() { wdDone <- d.wd.Run(wdCtx) }()

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel(err)
			}
		})
	}
	// The tunnel job: the supervisor alone, or, in a hot-standby pair,
	// the election that runs it while this unit is active. The shutdown
	// sequence ends it (power.go).
	name := "tunnel"
	if d.pair != nil {
		name = "ha"
	}
	run(name, d.runTunnelJob)
	run("power", d.runPower)
	run("api", func(ctx context.Context) error {
		return api.Serve(ctx, ln, api.Handler(d, d.log.With("job", "api")))
	})
	run("api-check", d.checkAPI)
	run("mgmt", d.serveManagement)
	run("reconcile", d.reconcile)
	run("timesync", func(ctx context.Context) error {
		defer d.tsCheck.Unregister()
		return d.ts.Run(ctx)
	})
	run("selfcheck", func(ctx context.Context) error {
		defer d.scCheck.Unregister()
		return d.sc.Run(ctx)
	})
	run("health", d.watchHealth)
	run("activated", d.runActivated)
	run("leds", d.runLEDs)
	d.wd.Ready(d.statusLine())

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
	if len(all) == 0 && d.opts.Guard != nil {
		// A clean stop (systemctl restart while configuring) is not a
		// failed start.
		if err := d.opts.Guard.Clean(); err != nil {
			d.log.Warn("recording the clean stop", "err", err)
		}
	}
	// Release the device before the watchdog stops: a hang while tearing
	// down must still reset the box.
	all = append(all, d.Close())
	wdCancel()
	if err := <-wdDone; err != nil {
		all = append(all, err)
	}
	err = errors.Join(all...)
	if err == nil && errors.Is(cause, ErrBecameSpare) {
		return ErrBecameSpare
	}
	return err
}

// runTunnel runs the tunnel supervisor with its watchdog check, which
// exists only while the supervisor runs (a standby unit's does not).
func (d *Daemon) runTunnel(ctx context.Context) error {
	c := d.wd.Register("tunnel", max(10*d.site.Probe.Interval.D(), 5*time.Second))
	d.tcheck.Store(c)
	defer c.Unregister()
	return d.sup.Run(ctx)
}

// tunnelAlive is the supervisor's Alive hook.
func (d *Daemon) tunnelAlive() {
	if c := d.tcheck.Load(); c != nil {
		c.Report()
	}
}

// apiCheckEvery is how often the daemon asks its own local API for its
// status: the API's watchdog check is a real request over the socket.
const apiCheckEvery = 10 * time.Second

func (d *Daemon) checkAPI(ctx context.Context) error {
	defer d.acheck.Unregister()
	c := api.NewClient(d.site.API.Socket)
	t := time.NewTicker(apiCheckEvery)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, apiCheckEvery/2)
		_, err := c.Status(rctx)
		cancel()
		if err == nil {
			d.acheck.Report()
		} else if ctx.Err() == nil {
			d.log.Warn("the local API does not answer its own daemon", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// watchHealth keeps systemd's STATUS line current and decides when this
// start has become good.
func (d *Daemon) watchHealth(ctx context.Context) error {
	goodAfter := d.site.Watchdog.GoodAfter.D()
	every := min(max(goodAfter/4, time.Second), 15*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		if line := d.statusLine(); line != last {
			d.wd.Status(line)
			last = line
		}
		d.maybeGood(goodAfter)
		select {
		case <-ctx.Done():
			return nil
		case <-d.kick:
		case <-t.C:
		}
	}
}

// maybeGood marks the start good once the tunnel has been up and no
// watchdog check has been stale for goodAfter.
func (d *Daemon) maybeGood(goodAfter time.Duration) {
	d.mu.Lock()
	done, stuck := d.healthy, d.lastStuck
	d.mu.Unlock()
	if done {
		return
	}
	st := d.sup.Status()
	now := time.Now()
	served := st.State == tunnel.Up && now.Sub(st.Since) >= goodAfter
	if d.pair != nil && d.pair.standbyReady(now, goodAfter) {
		served = true // a healthy standby has no tunnel to wait for
	}
	if !served || len(d.wd.Stale()) > 0 ||
		(!stuck.IsZero() && now.Sub(stuck) < goodAfter) || now.Sub(d.started) < goodAfter {
		return
	}
	d.mu.Lock()
	d.healthy = true
	d.mu.Unlock()
	cfg := ""
	if d.opts.Guard != nil {
		cfg = d.site.Path
		base := d.opts.BaseDir
		if base == "" {
			base = filepath.Dir(cfg)
		}
		if err := d.opts.Guard.Good(cfg, base); err != nil {
			d.log.Error("recording the healthy start", "err", err)
		}
	}
	d.event("daemon.healthy", fmt.Sprintf("this start is healthy (tunnel up and every job alive for %s); %s kept as the last good config", goodAfter, d.site.Path), map[string]any{
		"config": cfg, "safe_mode": d.opts.SafeMode != "",
	})
}

// stuck is the watchdog's OnStuck: journal the stuck job before the box is
// allowed to reset.
func (d *Daemon) stuck(name string, silent time.Duration) {
	d.mu.Lock()
	d.lastStuck = time.Now()
	d.mu.Unlock()
	d.event("watchdog.stuck", fmt.Sprintf("job %s has not reported for %s; the watchdog is no longer petted", name, silent.Round(time.Millisecond)), map[string]any{
		"job": name, "silent_ms": silent.Milliseconds(),
	})
}

// statusLine is systemd's STATUS=: role, tunnel, mode.
func (d *Daemon) statusLine() string {
	st := d.sup.Status()
	role := "active"
	if d.pair != nil {
		ps := d.pair.node.Status()
		role = ps.Role.String()
		if ps.Peer != nil && ps.Peer.Alive {
			role += fmt.Sprintf(" (peer %s %s)", ps.Peer.UnitID, ps.Peer.Role)
		} else {
			role += " (peer silent)"
		}
	}
	line := fmt.Sprintf("%s; tunnel %s via %s", role, st.State, st.Active)
	if st.State != tunnel.Up && st.Reason != "" {
		line += " (" + st.Reason + ")"
	}
	if d.opts.SafeMode != "" {
		line = "SAFE MODE; " + line
	}
	line = d.powerLine() + line
	if stale := d.wd.Stale(); len(stale) > 0 {
		line += "; stuck: " + strings.Join(stale, ",")
	}
	return line
}

// Close releases the device, the probe socket and the journal; it may be
// called more than once.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.pair != nil {
			errs = append(errs, d.pair.udp.Close())
		}
		if c, ok := d.pinger.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
		if d.wg != nil {
			errs = append(errs, d.wg.Close())
		}
		errs = append(errs, d.closePower())
		if d.journal != nil {
			errs = append(errs, d.journal.Close())
		}
		if d.wdDev != nil && !d.wdRan {
			// A start that failed before the watchdog ran must not leave
			// the hardware armed with nobody to pet it.
			errs = append(errs, d.wdDev.Close())
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
	role := "active"
	var pair *ha.Status
	if d.pair != nil {
		pair = d.pair.status()
		role = pair.Role.String()
	}
	return api.Status{
		Site: d.site.Site, Unit: d.site.Unit, Version: d.opts.Version,
		Role: role, Pair: pair,
		StartedAt: d.started, Uptime: time.Since(d.started).Seconds(),
		Backend: string(d.wg.Backend()), Interface: d.wg.Name(),
		SafeMode: d.opts.SafeMode, Stuck: d.wd.Stale(),
		Tunnel: d.sup.Status(), Runtime: api.ReadRuntime(), Events: recent,
		TimeSync: d.ts.Last(), SelfCheck: d.sc.Last(),
		UPS: d.pw.upsStatus(), NextOutage: d.pw.nextOutage(time.Now()), Power: d.pw.state(),
		Box: d.opts.Box, Pack: d.pack, Acceptance: d.lastAcceptance(),
	}
}

// Events implements api.Backend.
func (d *Daemon) Events(since uint64, limit int) ([]journal.Record, uint64, error) {
	return d.journal.Since(since, limit)
}

func (d *Daemon) event(kind, msg string, fields map[string]any) {
	journalEvents{d.journal, d.log, d.kick}.Event(kind, msg, fields)
}

// journalEvents writes events to the journal; a failed write is logged, not
// fatal (the box keeps its tunnel even when its flash is failing). Each
// event also wakes the status-line updater (coalesced, never blocking).
type journalEvents struct {
	j    *journal.Journal
	log  *slog.Logger
	kick chan struct{}
}

func (e journalEvents) Event(kind, msg string, fields map[string]any) {
	if _, err := e.j.Append(kind, msg, fields); err != nil {
		e.log.Error("writing to the journal failed", "kind", kind, "err", err)
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
}
