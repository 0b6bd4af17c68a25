package ha

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Actions is what the daemon does on the election's behalf (netctl does
// the work). Each call is idempotent: it makes the data plane match the
// role whatever it was before, and a failed call rolls itself back. Calls
// come one at a time from one goroutine of their own, never from the
// heartbeat loop, so a slow call does not delay heartbeats; ctx ends when
// Run returns.
type Actions interface {
	// BecomeActive adds the LAN virtual IP, sends gratuitous ARP, brings
	// the tunnel up (adds the datacenter peer) and enables forwarding.
	BecomeActive(ctx context.Context, cause string) error
	// BecomeStandby disables forwarding, takes the tunnel down (removes
	// the datacenter peer, keeps the device) and removes the virtual IP.
	BecomeStandby(ctx context.Context, cause string) error
	// Announce sends gratuitous ARP for the virtual IP again (after a
	// split brain, the winner's).
	Announce(ctx context.Context) error
}

// EventLog receives the election's events (the daemon writes them to the
// journal). Events are delivered in order from a goroutine of their own,
// so a slow journal write never delays a heartbeat.
type EventLog interface {
	Event(kind, msg string, fields map[string]any)
}

// Transport carries heartbeats between the two units.
type Transport interface {
	// Send sends one packet to the peer; it must not keep b.
	Send(b []byte) error
	// Recv delivers packets from the peer; closed when the transport is.
	Recv() <-chan []byte
}

// Reject is why a packet was refused.
type Reject int

const (
	RejectMalformed Reject = iota // not a heartbeat, or out of range
	RejectForged                  // bad MAC: forged, corrupt, or another secret
	RejectReplayed                // old sequence or boot id
	RejectSelf                    // carries this unit's own id
	RejectStranger                // a third unit while the peer is alive
	numRejects
)

func (r Reject) String() string {
	return [...]string{"malformed", "forged", "replayed", "self", "stranger"}[r]
}

// Options configures a Node.
type Options struct {
	Config
	// Secret is the pair secret (at least MinSecret bytes), the same on
	// both units.
	Secret    []byte
	Transport Transport
	Actions   Actions
	Events    EventLog // nil for none
	Logger    *slog.Logger
	// RejectEvery limits ha.rejected events to one per period (default
	// 10 s); the counts are always in Status.
	RejectEvery time.Duration
	// BootID for this run; 0 draws a random one (tests set it).
	BootID uint64
	// Alive is called after every tick (the watchdog check); nil for none.
	Alive func()
	// BeforeStep is called at the start of every round; tests use it to
	// freeze the loop. Nil in production.
	BeforeStep func()
}

// ErrNotRunning: the node's Run has not started or has returned.
var ErrNotRunning = errors.New("ha: the election is not running")

// Node runs the election for one unit: the heartbeat loop over a
// Transport around a Machine, with the Actions applied off the loop.
type Node struct {
	opts  Options
	key   []byte
	boot  uint64
	log   *slog.Logger
	guard *ReplayGuard // Run's goroutine only
	wake  chan struct{}

	rejected [numRejects]atomic.Uint64
	sent     atomic.Uint64
	received atomic.Uint64 // accepted heartbeats
	sendErrs atomic.Uint64

	mu      sync.Mutex // guards the fields below
	m       *Machine   // nil until Run
	health  Health
	running bool
	started time.Time
	seq     uint64
	lastAd  Heartbeat // last advert sent
	rejLast time.Time // last ha.rejected event
	rejPend [numRejects]uint64
	rejWhy  string
	sendLog time.Time // last logged send error

	ap *applier
	ev *eventer
}

// New checks the options and returns a Node; Run starts it.
func New(opts Options) (*Node, error) {
	opts.Config = opts.Config.withDefaults()
	if err := opts.Config.validate(); err != nil {
		return nil, err
	}
	if len(opts.Secret) < MinSecret {
		return nil, fmt.Errorf("ha: pair secret is %d bytes; at least %d are needed (make one with `head -c 32 /dev/urandom`)", len(opts.Secret), MinSecret)
	}
	if opts.Transport == nil || opts.Actions == nil {
		return nil, errors.New("ha: Transport and Actions are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RejectEvery <= 0 {
		opts.RejectEvery = 10 * time.Second
	}
	boot := opts.BootID
	for boot == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("ha: drawing a boot id: %w", err)
		}
		boot = binary.BigEndian.Uint64(b[:])
	}
	n := &Node{
		opts: opts, key: append([]byte(nil), opts.Secret...), boot: boot,
		log: opts.Logger.With("job", "ha"), guard: NewReplayGuard(opts.Config.Dead()),
		wake: make(chan struct{}, 1), health: HealthOK,
	}
	n.ev = &eventer{log: n.log, sink: opts.Events, wake: make(chan struct{}, 1)}
	n.ap = &applier{actions: opts.Actions, events: n.ev, wake: make(chan struct{}, 1)}
	return n, nil
}

// BootID is this run's boot id.
func (n *Node) BootID() uint64 { return n.boot }

// SetHealth reports this unit's health checks; safe from any goroutine.
func (n *Node) SetHealth(h Health) {
	n.mu.Lock()
	n.health = h & HealthOK
	var outs []Output
	if n.m != nil && n.running {
		outs = n.m.SetHealth(time.Now(), n.health)
	}
	n.mu.Unlock()
	n.dispatch(outs)
	n.poke()
}

// Handover starts (on) or clears a manual handover; see
// Machine.Handover. Safe from any goroutine.
func (n *Node) Handover(on bool) error {
	n.mu.Lock()
	if n.m == nil || !n.running {
		n.mu.Unlock()
		return ErrNotRunning
	}
	outs, err := n.m.Handover(time.Now(), on)
	n.mu.Unlock()
	n.dispatch(outs)
	n.poke()
	return err
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Status is a snapshot of the node for `shisactl status`.
type Status struct {
	MachineStatus
	BootID     uint64            `json:"boot_id"`
	Applied    string            `json:"applied"` // role the data plane holds
	LastError  string            `json:"last_error,omitempty"`
	Sent       uint64            `json:"sent"`
	Received   uint64            `json:"received"`
	SendErrors uint64            `json:"send_errors"`
	Rejected   map[string]uint64 `json:"rejected"`
}

// Status returns a snapshot; safe from any goroutine.
func (n *Node) Status() Status {
	st := Status{BootID: n.boot, Sent: n.sent.Load(), Received: n.received.Load(),
		SendErrors: n.sendErrs.Load(), Rejected: n.Rejected()}
	n.mu.Lock()
	if n.m != nil {
		st.MachineStatus = n.m.Status(time.Now())
	}
	n.mu.Unlock()
	st.Applied, st.LastError = n.ap.status()
	return st
}

// Rejected returns the count of refused packets by reason.
func (n *Node) Rejected() map[string]uint64 {
	r := make(map[string]uint64, numRejects)
	for i := range numRejects {
		r[i.String()] = n.rejected[i].Load()
	}
	return r
}

// Run runs the election until ctx ends. Before it returns, it tells the
// peer it is leaving (so the peer takes over at once rather than after
// the dead time) and, if this unit held the active role, steps down.
// Run may be called once.
func (n *Node) Run(ctx context.Context) (err error) {
	now := time.Now()
	n.mu.Lock()
	if n.running || n.m != nil {
		n.mu.Unlock()
		return errors.New("ha: Run called twice")
	}
	m, err := NewMachine(n.opts.Config, now)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	m.health = n.health
	n.m, n.running, n.started = m, true, now
	n.mu.Unlock()

	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { n.ap.run(actx) })
	wg.Go(func() { n.ev.run(actx) })
	defer func() {
		cancel()
		wg.Wait()
		err = errors.Join(err, n.leave(ctx))
		n.ev.flush()
	}()

	n.log.Info("election starting", "unit", n.opts.UnitID, "priority", n.opts.Priority,
		"interval", n.opts.Interval, "dead", n.opts.Config.Dead(), "preempt", n.opts.Preempt, "boot", fmt.Sprintf("%016x", n.boot))
	tick := time.NewTicker(n.opts.Interval)
	defer tick.Stop()
	recv := n.opts.Transport.Recv()
	n.send(now, false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case b, ok := <-recv:
			if !ok {
				return errors.New("ha: the heartbeat transport closed")
			}
			n.before()
			now := time.Now()
			n.receive(now, b)
			if !n.drain(recv, now) {
				return errors.New("ha: the heartbeat transport closed")
			}
			n.sendIfChanged(now)
		case <-tick.C:
			n.before()
			now := time.Now()
			// Packets that waited while this loop was late count first,
			// so a late tick does not see a silence that was not there.
			if !n.drain(recv, now) {
				return errors.New("ha: the heartbeat transport closed")
			}
			n.mu.Lock()
			outs := n.m.Tick(now)
			n.mu.Unlock()
			n.dispatch(outs)
			n.flushRejects(now, false)
			n.send(now, false)
			if n.opts.Alive != nil {
				n.opts.Alive()
			}
		case <-n.wake:
			n.before()
			n.sendIfChanged(time.Now())
		}
	}
}

func (n *Node) before() {
	if n.opts.BeforeStep != nil {
		n.opts.BeforeStep()
	}
}

// drain handles the packets already queued; false if recv closed.
func (n *Node) drain(recv <-chan []byte, now time.Time) bool {
	for {
		select {
		case b, ok := <-recv:
			if !ok {
				return false
			}
			n.receive(now, b)
		default:
			return true
		}
	}
}

func (n *Node) receive(now time.Time, b []byte) {
	hb, err := Decode(n.key, b)
	switch {
	case errors.Is(err, ErrForged):
		n.reject(now, RejectForged, err)
		return
	case err != nil:
		n.reject(now, RejectMalformed, err)
		return
	case hb.UnitID == n.opts.UnitID:
		n.reject(now, RejectSelf, fmt.Errorf("heartbeat carries this unit's id %q: a looped packet, or both units configured with the same id", hb.UnitID))
		return
	}
	n.mu.Lock()
	if id, alive := n.m.PeerID(now); alive && id != hb.UnitID {
		n.mu.Unlock()
		n.reject(now, RejectStranger, fmt.Errorf("heartbeat from %q while peer %q is alive: a third unit shares the pair secret", hb.UnitID, id))
		return
	}
	restarted, err := n.guard.Check(now, &hb)
	if err != nil {
		n.mu.Unlock()
		n.reject(now, RejectReplayed, err)
		return
	}
	outs := n.m.Heartbeat(now, hb)
	n.mu.Unlock()
	n.received.Add(1)
	if restarted {
		n.log.Info("peer restarted", "peer", hb.UnitID, "boot", fmt.Sprintf("%016x", hb.BootID))
	}
	n.dispatch(outs)
}

func (n *Node) reject(now time.Time, r Reject, err error) {
	n.rejected[r].Add(1)
	n.mu.Lock()
	n.rejPend[r]++
	n.rejWhy = err.Error()
	n.mu.Unlock()
	n.flushRejects(now, false)
}

// flushRejects emits one ha.rejected event for the rejections since the
// last one, at most every RejectEvery (or at once with force).
func (n *Node) flushRejects(now time.Time, force bool) {
	n.mu.Lock()
	var total uint64
	for _, c := range n.rejPend {
		total += c
	}
	if total == 0 || !force && !n.rejLast.IsZero() && now.Sub(n.rejLast) < n.opts.RejectEvery {
		n.mu.Unlock()
		return
	}
	f := map[string]any{"last": n.rejWhy}
	msg := fmt.Sprintf("rejected %d heartbeat packet(s)", total)
	sep := " ("
	for i := range numRejects {
		if c := n.rejPend[i]; c > 0 {
			f[i.String()] = c
			msg += fmt.Sprintf("%s%s %d", sep, i, c)
			sep = ", "
		}
	}
	msg += "); last: " + n.rejWhy
	n.rejPend = [numRejects]uint64{}
	n.rejLast = now
	n.mu.Unlock()
	n.ev.push(Output{Kind: KindRejected, Msg: msg, Fields: f})
}

func (n *Node) dispatch(outs []Output) {
	for _, o := range outs {
		if o.Action != NoAction {
			n.ap.request(o)
		}
		if o.Kind != "" {
			n.ev.push(o)
		}
	}
}

// sendIfChanged sends a heartbeat at once when the advert changed (a new
// role, priority, health or handover), so the peer learns within a
// network delay rather than an interval.
func (n *Node) sendIfChanged(now time.Time) {
	n.send(now, true)
}

func (n *Node) send(now time.Time, onlyIfChanged bool) {
	n.mu.Lock()
	ad := n.m.Advert()
	if onlyIfChanged && ad == n.lastAd {
		n.mu.Unlock()
		return
	}
	n.lastAd = ad
	n.seq++
	ad.BootID, ad.Seq, ad.SentAt = n.boot, n.seq, now.Sub(n.started)
	n.mu.Unlock()
	n.sendHeartbeat(now, &ad)
}

func (n *Node) sendHeartbeat(now time.Time, hb *Heartbeat) {
	var buf [maxPacket]byte
	b, err := Encode(buf[:0], n.key, hb)
	if err == nil {
		err = n.opts.Transport.Send(b)
	}
	if err != nil {
		n.sendErrs.Add(1)
		n.mu.Lock()
		logIt := n.sendLog.IsZero() || now.Sub(n.sendLog) >= 10*time.Second
		if logIt {
			n.sendLog = now
		}
		n.mu.Unlock()
		if logIt {
			n.log.Warn("sending a heartbeat failed (check the LAN link and the peer address)", "err", err, "errors", n.sendErrs.Load())
		}
		return
	}
	n.sent.Add(1)
}

// leave runs when Run ends: a few heartbeats that say "standby, handing
// over" so the peer takes over at once, then the step-down.
func (n *Node) leave(ctx context.Context) error {
	now := time.Now()
	n.mu.Lock()
	ad := n.m.Advert()
	wasActive := n.m.State() == Active
	n.running = false
	ad.Role, ad.Yield, ad.BootID = Standby, true, n.boot
	n.mu.Unlock()
	for range 3 {
		n.mu.Lock()
		n.seq++
		ad.Seq, ad.SentAt = n.seq, now.Sub(n.started)
		n.mu.Unlock()
		n.sendHeartbeat(now, &ad)
	}
	n.flushRejects(now, true)
	applied, _ := n.ap.status()
	if !wasActive && applied != Active.String() {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n.ev.push(Output{Kind: KindStandby, Msg: "standby: the election is stopping; releasing the active role"})
	if err := n.opts.Actions.BecomeStandby(sctx, "the election is stopping"); err != nil {
		return fmt.Errorf("ha: stepping down on exit: %w", err)
	}
	return nil
}

// applier applies the wanted role to the data plane, off the heartbeat
// loop: desired state, so a burst of flips costs at most one call each
// way, and a failed call is retried with backoff while it is still
// wanted.
type applier struct {
	actions Actions
	events  *eventer
	wake    chan struct{}

	mu        sync.Mutex
	want      Action // DoBecomeActive, DoBecomeStandby or NoAction
	cause     string
	announces uint64 // requested
	applied   Action
	lastErr   string
}

func (a *applier) request(o Output) {
	a.mu.Lock()
	switch o.Action {
	case DoBecomeActive, DoBecomeStandby:
		a.want, a.cause = o.Action, o.Msg
	case DoAnnounce:
		a.announces++
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *applier) status() (applied, lastErr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch a.applied {
	case DoBecomeActive:
		applied = Active.String()
	case DoBecomeStandby:
		applied = Standby.String()
	default:
		applied = "none"
	}
	return applied, a.lastErr
}

func (a *applier) run(ctx context.Context) {
	var (
		announced uint64
		retry     *time.Timer
		retryC    <-chan time.Time
		backoff   = 100 * time.Millisecond
	)
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-retryC:
			retryC = nil
		}
		a.mu.Lock()
		want, cause, ann, applied := a.want, a.cause, a.announces, a.applied
		a.mu.Unlock()
		if want != NoAction && want != applied {
			var err error
			if want == DoBecomeActive {
				err = a.actions.BecomeActive(ctx, cause)
			} else {
				err = a.actions.BecomeStandby(ctx, cause)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				a.fail(fmt.Sprintf("%s failed (retrying in %v): %v", want, backoff, err), want)
				if retry == nil {
					retry = time.NewTimer(backoff)
				} else {
					retry.Reset(backoff)
				}
				retryC = retry.C
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			a.mu.Lock()
			a.applied, a.lastErr = want, ""
			a.mu.Unlock()
			applied = want
			if want == DoBecomeActive {
				announced = ann // becoming active announces
			}
		}
		if applied == DoBecomeActive && ann > announced {
			announced = ann
			if err := a.actions.Announce(ctx); err != nil && ctx.Err() == nil {
				a.fail(fmt.Sprintf("announce failed: %v", err), DoAnnounce)
			}
		}
	}
}

func (a *applier) fail(msg string, act Action) {
	a.mu.Lock()
	a.lastErr = msg
	a.mu.Unlock()
	a.events.push(Output{Kind: KindActionFail, Msg: msg, Fields: map[string]any{"action": act.String()}})
}

// eventer delivers events in order from its own goroutine; a slow
// journal never stalls heartbeats. It keeps at most maxQueued events;
// beyond that the oldest are dropped and counted.
type eventer struct {
	log  *slog.Logger
	sink EventLog
	wake chan struct{}

	mu      sync.Mutex
	q       []Output
	dropped int
}

const maxQueued = 256

func (e *eventer) push(o Output) {
	lvl := slog.LevelInfo
	switch o.Kind {
	case KindRejected, KindActionFail, KindSplitBrain, KindFrozen:
		lvl = slog.LevelWarn
	}
	e.log.Log(context.Background(), lvl, o.Msg, "event", o.Kind)
	if e.sink == nil {
		return
	}
	e.mu.Lock()
	if len(e.q) == maxQueued {
		e.q = e.q[1:]
		e.dropped++
	}
	e.q = append(e.q, o)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			e.flush()
		}
	}
}

func (e *eventer) flush() {
	if e.sink == nil {
		return
	}
	for {
		e.mu.Lock()
		q, dropped := e.q, e.dropped
		e.q, e.dropped = nil, 0
		e.mu.Unlock()
		if len(q) == 0 {
			return
		}
		if dropped > 0 {
			e.sink.Event(KindEventsDropped, fmt.Sprintf("%d election event(s) dropped: the journal was too slow", dropped), map[string]any{"dropped": dropped})
		}
		for _, o := range q {
			e.sink.Event(o.Kind, o.Msg, o.Fields)
		}
	}
}
