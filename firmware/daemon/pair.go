package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/watchdog"
)

// pairJob is the daemon's side of a hot-standby pair: it runs the election
// (package ha decides) and does what the election asks (netctl acts): the
// LAN virtual IP, gratuitous ARP and the tunnel supervisor, which runs only
// while this unit is active. It also tells the election how healthy this
// unit is (WAN and LAN carrier, WireGuard device, datacenter probes).
//
// Both units keep their WireGuard device, with the site's key and tunnel
// address, at all times; only the active one holds the datacenter peer, so
// the datacenter's WireGuard accepts the new active by roaming the moment
// its first handshake arrives. IP forwarding stays on on both: a standby
// has neither the virtual IP nor a datacenter peer, so it forwards nothing.
type pairJob struct {
	d     *Daemon
	log   *slog.Logger
	node  *ha.Node
	udp   *ha.UDP
	nl    netctl.Netlink
	garp  netctl.GARP
	link  string       // lan.interface
	vip   netip.Prefix // the virtual IP as a /32
	check *watchdog.Check
	// cr reads the WAN link's carrier; track's goroutine only.
	cr    *netctl.CarrierReader
	fatal chan error // the tunnel supervisor failed: the daemon exits

	// Owned by track's goroutine: the WireGuard device is read once a
	// second, not at every tracking round (each read is a full dump).
	devOK bool
	devAt time.Time
	lanUp bool // the LAN link's carrier at the last round

	mu         sync.Mutex // guards the fields below
	supCancel  context.CancelFunc
	supDone    chan struct{}
	annCancel  context.CancelFunc
	annDone    chan struct{}
	dcUntil    time.Time // while active: the datacenter counts as reached until then
	dcFailedAt time.Time // when the datacenter last failed while active
}

// Tracking: how long a new active's tunnel may take to come up before its
// datacenter check fails; how long an active's tunnel may be down (a
// datacenter failover, a fresh handshake after a split brain) before the
// check fails; and how long a unit that lost the datacenter while active
// reports it lost after stepping down (so that with the datacenter
// unreachable from both units, they do not take the role from each other
// every grace period: both sick, neither takes over).
const (
	tunnelGrace = 10 * time.Second
	dcLossAfter = 5 * time.Second
	dcCooldown  = 10 * time.Minute
	// secondBurstAfter: like keepalived's garp_master_delay, announce the
	// virtual IP once more a little after taking over, for hosts and
	// switches that missed the first burst.
	secondBurstAfter = 2 * time.Second
)

// openPair builds the pair job from site.Pair; nil when there is none.
func (d *Daemon) openPair() (*pairJob, error) {
	p := d.site.Pair
	if !p.Enabled() {
		return nil, nil
	}
	if _, ok := d.wg.(*netctl.NetstackWireGuard); ok {
		return nil, errors.New("daemon: a hot-standby pair needs a kernel network (tunnel.backend kernel or tun), not netstack")
	}
	secret, err := p.Secret()
	if err != nil {
		return nil, err
	}
	nl := d.opts.Netlink
	if nl == nil {
		nl = netctl.Kernel{}
	}
	j := &pairJob{
		d: d, log: d.log.With("job", "ha"), nl: nl, garp: netctl.KernelGARP{},
		link: d.site.LAN.Interface, vip: netip.PrefixFrom(p.VirtualIP.Addr(), 32),
		fatal: make(chan error, 1),
	}
	// A unit that crashed while active may still hold the virtual IP:
	// drop it until the election says otherwise.
	if changed, err := netctl.DelVIP(nl, j.link, j.vip); err != nil {
		return nil, fmt.Errorf("daemon: removing a stale virtual IP %s from %s: %w", j.vip, j.link, err)
	} else if changed {
		d.event(ha.KindVIPRemoved, fmt.Sprintf("removed the virtual IP %s left on %s by an earlier run", j.vip.Addr(), j.link), map[string]any{"vip": j.vip.Addr().String()})
	}
	if j.cr, err = netctl.NewCarrierReader(); err != nil {
		return nil, err
	}
	j.udp, err = ha.ListenUDP(netip.AddrPortFrom(p.Address, uint16(p.Port)), netip.AddrPortFrom(p.Peer(), uint16(p.Port)))
	if err != nil {
		j.cr.Close()
		return nil, err
	}
	interval := p.Interval.D()
	j.check = d.wd.Register("ha", max(100*interval, 2*time.Second))
	preemptDelay := p.PreemptDelay.D()
	if preemptDelay == 0 {
		preemptDelay = -1 // ha: negative means at once
	}
	j.node, err = ha.New(ha.Options{
		Config: ha.Config{
			UnitID: d.site.Unit, Priority: uint8(p.Priority),
			Interval: interval, DeadMultiplier: p.DeadMultiplier,
			Preempt: p.Preempt != nil && *p.Preempt, PreemptDelay: preemptDelay,
		},
		Secret: secret, Transport: j.udp, Actions: j, Events: journalEvents{d.journal, d.log, d.kick},
		Logger: d.log, Alive: j.check.Report, BeforeStep: d.testHooks(),
	})
	if err != nil {
		j.cr.Close()
		return nil, errors.Join(err, j.udp.Close())
	}
	return j, nil
}

// run runs the election and the health tracking until ctx ends; it fails
// when the tunnel supervisor does.
func (j *pairJob) run(ctx context.Context) error {
	defer j.check.Unregister()
	defer j.udp.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer j.cr.Close()
		j.track(ctx)
	})
	done := make(chan error, 1)
	go func() { done <- j.node.Run(ctx) }()
	var err error
	select {
	case err = <-done:
	case err = <-j.fatal:
		cancel()
		err = errors.Join(err, <-done)
	}
	cancel()
	wg.Wait()
	// Run has stepped down (BecomeStandby) if this unit was active; make
	// sure nothing it started outlives it.
	j.stopTunnel()
	return err
}

// track reports this unit's health to the election every few intervals.
func (j *pairJob) track(ctx context.Context) {
	every := max(5*j.d.site.Pair.Interval.D(), 20*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	var last ha.Health = 0xff
	for {
		h := j.health(time.Now())
		if h != last {
			if last != 0xff {
				// Journaled: "the LAN link went down at 10:32:02" is what
				// the technician looks for after a switch.
				j.d.event(ha.KindHealth, fmt.Sprintf("this unit's health: %s (was %s): %s", h, last, h.Broken()),
					map[string]any{"health": h.String(), "was": last.String()})
			}
			last = h
		}
		j.node.SetHealth(h)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// health is this unit's health now: WAN and LAN carrier, a readable
// WireGuard device, and the datacenter (while active: the tunnel up through its
// probes within the last dcLossAfter, or within tunnelGrace of taking
// over; on a standby, which cannot probe through a tunnel it does not
// hold: not lost while active within dcCooldown).
func (j *pairJob) health(now time.Time) ha.Health {
	var h ha.Health
	if up, err := j.cr.Carrier(j.d.site.WAN.Interface); err == nil && up {
		h |= ha.HealthWAN
	}
	lanUp, err := j.cr.Carrier(j.link)
	lanUp = lanUp && err == nil
	if lanUp {
		h |= ha.HealthLAN
		if !j.lanUp {
			// The cable is back: the ARP entry for the peer failed while
			// it was out and would hold the heartbeats for up to a
			// second; resolve it afresh with the next one.
			if err := j.cr.ForgetNeighbor(j.link, j.d.site.Pair.Peer()); err != nil {
				j.log.Warn("cannot reset the peer's ARP entry", "err", err)
			}
		}
	}
	j.lanUp = lanUp
	if now.Sub(j.devAt) >= time.Second {
		_, err := j.d.wg.Device()
		j.devOK, j.devAt = err == nil, now
	}
	if j.devOK {
		h |= ha.HealthTunnel
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.supCancel != nil {
		if j.d.sup.Status().State == tunnel.Up {
			if until := now.Add(dcLossAfter); until.After(j.dcUntil) {
				j.dcUntil = until
			}
		}
		if now.Before(j.dcUntil) {
			h |= ha.HealthDC
		} else {
			j.dcFailedAt = now
		}
	} else if j.dcFailedAt.IsZero() || now.Sub(j.dcFailedAt) > dcCooldown {
		h |= ha.HealthDC
	}
	return h
}

// BecomeActive implements ha.Actions: the tunnel first (its handshake is
// the slowest part), then the virtual IP, then gratuitous ARP, twice.
func (j *pairJob) BecomeActive(ctx context.Context, cause string) error {
	j.startTunnel(ctx)
	if _, err := netctl.AddVIP(j.nl, j.link, j.vip); err != nil {
		j.stopTunnel()
		return fmt.Errorf("adding the virtual IP %s on %s: %w", j.vip.Addr(), j.link, err)
	}
	j.announce(ctx, true)
	j.log.Info("active", "cause", cause, "vip", j.vip.Addr().String())
	return nil
}

// BecomeStandby implements ha.Actions: stop announcing, take the tunnel
// down (the supervisor removes the datacenter peer), drop the virtual IP.
func (j *pairJob) BecomeStandby(ctx context.Context, cause string) error {
	j.stopAnnounce()
	j.stopTunnel()
	if _, err := netctl.DelVIP(j.nl, j.link, j.vip); err != nil {
		return fmt.Errorf("removing the virtual IP %s from %s: %w", j.vip.Addr(), j.link, err)
	}
	j.log.Info("standby", "cause", cause)
	return nil
}

// Announce implements ha.Actions, after a split brain that this unit won:
// one more gratuitous ARP burst for the office hosts, and a fresh
// WireGuard handshake so that the datacenter's session and endpoint for
// the site are this unit's (see tunnel.Supervisor.Rekey).
func (j *pairJob) Announce(ctx context.Context) error {
	j.d.sup.Rekey()
	j.announce(ctx, false)
	return nil
}

// announce sends a gratuitous ARP burst from a goroutine of its own (the
// election's actions never wait for it), and with second a later one.
func (j *pairJob) announce(ctx context.Context, second bool) {
	j.stopAnnounce()
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	j.mu.Lock()
	j.annCancel, j.annDone = cancel, done
	j.mu.Unlock()
	go func() {
		defer close(done)
		j.burst(actx)
		if !second {
			return
		}
		select {
		case <-actx.Done():
			return
		case <-time.After(secondBurstAfter):
		}
		j.burst(actx)
	}()
}

func (j *pairJob) burst(ctx context.Context) {
	err := j.garp.Announce(ctx, j.link, j.vip.Addr(), netctl.DefaultGARPCount, netctl.DefaultGARPGap)
	if err != nil && ctx.Err() == nil {
		j.log.Warn("gratuitous ARP failed", "vip", j.vip.Addr().String(), "link", j.link, "err", err)
	}
}

func (j *pairJob) stopAnnounce() {
	j.mu.Lock()
	cancel, done := j.annCancel, j.annDone
	j.annCancel, j.annDone = nil, nil
	j.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// startTunnel runs the tunnel supervisor until stopTunnel; a no-op while
// it runs. A supervisor that fails on its own (the device is gone) ends
// the daemon, as it does without a pair.
func (j *pairJob) startTunnel(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.supCancel != nil {
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	j.supCancel, j.supDone, j.dcUntil = cancel, done, time.Now().Add(tunnelGrace)
	go func() {
		defer close(done)
		if err := j.d.runTunnel(sctx); err != nil && sctx.Err() == nil {
			select {
			case j.fatal <- err:
			default:
			}
		}
	}()
}

// stopTunnel stops the supervisor and waits until it has removed the
// datacenter peer.
func (j *pairJob) stopTunnel() {
	j.mu.Lock()
	cancel, done := j.supCancel, j.supDone
	j.supCancel, j.supDone = nil, nil
	j.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// holdsTunnel reports whether the tunnel supervisor runs (this unit is
// active).
func (j *pairJob) holdsTunnel() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.supCancel != nil
}

// withoutTunnel reports whether this unit is a hot-standby unit not
// holding the tunnel now: checks through the tunnel (NTP) are left out.
func (d *Daemon) withoutTunnel() bool { return d.pair != nil && !d.pair.holdsTunnel() }

// status is the election's snapshot, for the API.
func (j *pairJob) status() *ha.Status {
	st := j.node.Status()
	return &st
}

// standbyReady reports whether this unit has been a healthy standby, its
// peer heard, for goodAfter: a good start for a unit with no tunnel.
func (j *pairJob) standbyReady(now time.Time, goodAfter time.Duration) bool {
	st := j.node.Status()
	return st.Role == ha.Standby && now.Sub(st.Since) >= goodAfter &&
		st.Health.Eligible() && st.Peer != nil && st.Peer.Alive
}

// Handover moves the active role to the peer (on) or clears a handover.
func (d *Daemon) Handover(on bool) error {
	if d.pair == nil {
		return errors.New("this box has no pair section: there is no peer to hand over to")
	}
	return d.pair.node.Handover(on)
}
