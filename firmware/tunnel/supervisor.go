package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Device is what the supervisor needs of the WireGuard device; every
// netctl.WireGuard backend satisfies it.
type Device interface {
	Configure(cfg wgtypes.Config) error
	Device() (*wgtypes.Device, error)
}

// Pinger sends one ICMP echo through the tunnel (netctl.Pinger).
type Pinger interface {
	Ping(ctx context.Context, src, dst netip.Addr) (time.Duration, error)
}

// EventLog receives the supervisor's events (the daemon writes them to the
// journal). Event must not block for long; it is called from the
// supervisor's loop.
type EventLog interface {
	Event(kind, msg string, fields map[string]any)
}

// Endpoint is one datacenter endpoint, in order of preference.
type Endpoint struct {
	Name     string
	Endpoint string // host:port
	Key      wgtypes.Key
	Probe    netip.Addr
}

// Options configures a Supervisor. Zero durations and counts take the
// defaults documented in the config package.
type Options struct {
	PrivateKey wgtypes.Key
	ListenPort int
	// Source is the unit's tunnel address, the source of probes.
	Source    netip.Addr
	Endpoints []Endpoint
	// Routes are the cloud's subnets, carried by the active endpoint.
	Routes    []netip.Prefix
	Keepalive time.Duration

	Interval         time.Duration
	Timeout          time.Duration
	Misses           int
	Rise             int
	HandshakeTimeout time.Duration
	HoldDown         time.Duration
	NoFailback       bool

	Device Device
	Pinger Pinger
	Events EventLog
	Logger *slog.Logger
	// Resolve turns an endpoint's host:port into an address; nil uses the
	// system resolver with a short timeout.
	Resolve func(ctx context.Context, hostport string) (netip.AddrPort, error)
	// Alive is called at the end of every round of the loop (the
	// watchdog check of this job); nil for none.
	Alive func()
	// BeforeStep is called at the start of every round; test builds use
	// it to freeze the job. Nil in production.
	BeforeStep func()
}

// Health is an endpoint's liveness verdict.
type Health int

const (
	Unknown Health = iota
	Alive
	Dead
)

func (h Health) String() string {
	switch h {
	case Alive:
		return "alive"
	case Dead:
		return "dead"
	}
	return "unknown"
}

// State is the tunnel's state.
type State int

const (
	Connecting State = iota
	Up
	Down
	Stopped
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	case Stopped:
		return "stopped"
	}
	return "connecting"
}

// MarshalText makes State print as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalText makes Health print as its name in JSON.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a State's name.
func (s *State) UnmarshalText(b []byte) error {
	for _, v := range []State{Connecting, Up, Down, Stopped} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("tunnel: unknown state %q", b)
}

// UnmarshalText reads a Health's name.
func (h *Health) UnmarshalText(b []byte) error {
	for _, v := range []Health{Unknown, Alive, Dead} {
		if v.String() == string(b) {
			*h = v
			return nil
		}
	}
	return fmt.Errorf("tunnel: unknown health %q", b)
}

// EndpointStatus is one endpoint as the supervisor sees it.
type EndpointStatus struct {
	Name          string    `json:"name"`
	Endpoint      string    `json:"endpoint"`
	Health        Health    `json:"health"`
	Active        bool      `json:"active"`
	Misses        int       `json:"misses"`
	RTT           float64   `json:"rtt_ms"`
	AliveSince    time.Time `json:"alive_since,omitzero"`
	LastHandshake time.Time `json:"last_handshake,omitzero"`
	RxBytes       int64     `json:"rx_bytes"`
	TxBytes       int64     `json:"tx_bytes"`
}

// Status is a snapshot of the supervisor.
type Status struct {
	State     State            `json:"state"`
	Since     time.Time        `json:"since"`
	Active    string           `json:"active"`
	Layout    string           `json:"layout"`
	Reason    string           `json:"reason"`
	Failovers int              `json:"failovers"`
	Endpoints []EndpointStatus `json:"endpoints"`
}

// Supervisor keeps the tunnel up. Create it with New and run it with Run.
type Supervisor struct {
	opts   Options
	shared bool
	log    *slog.Logger

	// Owned by the Run goroutine; copied into snap under mu.
	eps        []*endpoint
	active     int // index into eps
	state      State
	stateSince time.Time
	reason     string
	failovers  int
	applied    bool // the device holds our configuration
	// shared-key layout: failback trials.
	trialFrom int // endpoint to return to if a trial fails; -1 when no trial
	backoff   int // hold-down multiplier after failed trials
	switched  time.Time
	round     int   // probe rounds so far
	devErrs   int   // rounds in a row in which the device could not be read
	devErr    error // the last such error
	// shared layout, every front door dead: retry one at a time, quietly.
	sharedFails int           // front doors tried in a row without an answer
	retryAt     time.Time     // when to try the next one
	retryGap    time.Duration // doubles up to maxRetryGap

	pending   []pendingEvent       // this round's events, journaled after its switch
	logged    map[string]time.Time // logEvery's last warning per key
	resolved  chan resolution      // answers of background DNS lookups
	resolving sync.WaitGroup       // the lookups in flight

	rekey atomic.Bool // Rekey was called: configure the peers afresh

	mu   sync.Mutex // guards snap
	snap Status
}

type endpoint struct {
	Endpoint
	literal    bool      // Endpoint is an IP:port: never looked up
	lookingUp  bool      // a DNS lookup is in flight
	resolveAt  time.Time // the next lookup is due (names only)
	resolveErr string    // the last lookup's error, logged when it changes
	health     Health
	misses     int
	oks        int
	aliveSince time.Time
	cleanSince time.Time // start of the current run of answered probes; zero after a miss
	lastOK     time.Time
	rtt        time.Duration
	addr       netip.AddrPort // resolved; invalid until resolved
	peer       wgtypes.Peer
}

// pendingEvent is an event of the current round. Events are journaled at
// the end of the round, after any switch, so that a slow flash never
// delays a failover; after runs once the event is journaled.
type pendingEvent struct {
	kind, msg string
	fields    map[string]any
	after     func()
}

// resolution is the answer of one background DNS lookup.
type resolution struct {
	i   int
	ap  netip.AddrPort
	err error
}

const (
	// resolveRetry is the wait after a failed lookup; resolveDead the wait
	// between lookups of a dead endpoint's name (the datacenter may have
	// moved it).
	resolveRetry = 30 * time.Second
	resolveDead  = 2 * time.Minute
	// maxRetryGap bounds the wait between tries of the next front door
	// when every one of them is dead (shared layout).
	maxRetryGap = 5 * time.Minute
)

// New checks opts and returns a supervisor.
func New(opts Options) (*Supervisor, error) {
	if opts.Device == nil || opts.Pinger == nil {
		return nil, errors.New("tunnel: Device and Pinger are required")
	}
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("tunnel: no datacenter endpoints")
	}
	if !opts.Source.IsValid() {
		return nil, errors.New("tunnel: no source address for probes")
	}
	setDefault(&opts.Interval, 500*time.Millisecond)
	setDefault(&opts.Timeout, opts.Interval)
	setDefault(&opts.HandshakeTimeout, 180*time.Second)
	if opts.Misses <= 0 {
		opts.Misses = 3
	}
	if opts.Rise <= 0 {
		opts.Rise = 3
	}
	if opts.Timeout > opts.Interval {
		opts.Timeout = opts.Interval
	}
	if opts.Resolve == nil {
		opts.Resolve = resolveUDP
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{opts: opts, log: log.With("job", "tunnel"), trialFrom: -1, backoff: 1}
	s.shared = true
	for _, e := range opts.Endpoints {
		if e.Key != opts.Endpoints[0].Key {
			s.shared = false
		}
	}
	if !s.shared {
		seen := map[wgtypes.Key]string{}
		for _, e := range opts.Endpoints {
			if other, dup := seen[e.Key]; dup {
				return nil, fmt.Errorf("tunnel: endpoints %s and %s share a key while others differ: use one key for all (shared layout) or one per device", other, e.Name)
			}
			seen[e.Key] = e.Name
		}
	}
	for _, e := range opts.Endpoints {
		ep := &endpoint{Endpoint: e}
		if ap, err := netip.ParseAddrPort(e.Endpoint); err == nil {
			ep.addr, ep.literal = ap, true
		}
		s.eps = append(s.eps, ep)
	}
	s.resolved = make(chan resolution, len(s.eps))
	// Until Run, the tunnel is stopped: a hot-standby unit that starts as
	// the standby never runs it, and must not look as if it were
	// connecting (its status, self-check and acceptance check read this).
	s.state, s.reason, s.stateSince = Stopped, "not started", time.Now()
	s.publish()
	return s, nil
}

// standbyEvery is how many rounds pass between probes of a standby endpoint.
const standbyEvery = 2

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func resolveUDP(ctx context.Context, hostport string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	p, err := net.LookupPort("udp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

// Layout is "shared" when all endpoints share one key, else "distinct".
func (s *Supervisor) Layout() string {
	if s.shared {
		return "shared"
	}
	return "distinct"
}

// Status returns a snapshot; safe to call from any goroutine.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.snap
	st.Endpoints = append([]EndpointStatus(nil), s.snap.Endpoints...)
	return st
}

// Run brings the tunnel up and keeps it up until ctx ends. On return the
// device holds no datacenter peer. Run may be called again after it has
// returned (a hot-standby unit runs it only while it is the active one);
// each run starts from the preferred endpoint with every endpoint's health
// unknown, keeping only resolved addresses and the failover count.
func (s *Supervisor) Run(ctx context.Context) error {
	s.reset()
	s.stateSince = time.Now()
	s.event("tunnel.start", fmt.Sprintf("tunnel starting with %d endpoint(s), %s keys", len(s.eps), s.Layout()), map[string]any{
		"endpoints": s.names(), "layout": s.Layout(),
	})
	s.flush()
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		s.step(ctx)
		if s.devErrs >= deviceGoneRounds {
			// Nothing here can bring a vanished device back; the daemon
			// exits and systemd starts it afresh, which recreates it.
			s.resolving.Wait()
			return errors.Join(fmt.Errorf("tunnel: the WireGuard device has been unreadable for %d rounds: %w", s.devErrs, s.devErr), s.stop())
		}
		select {
		case <-ctx.Done():
			s.resolving.Wait() // the lookups end with ctx
			return s.stop()
		case <-t.C:
		}
	}
}

// reset forgets what an earlier Run learned about the endpoints: after a
// pause their health is stale.
func (s *Supervisor) reset() {
	s.active, s.state, s.reason, s.applied = 0, Connecting, "", false
	s.trialFrom, s.backoff, s.switched, s.round = -1, 1, time.Time{}, 0
	s.devErrs, s.devErr = 0, nil
	s.sharedFails, s.retryAt, s.retryGap = 0, time.Time{}, 0
	s.pending = nil
	s.rekey.Store(false)
	for _, e := range s.eps {
		e.health, e.misses, e.oks = Unknown, 0, 0
		e.aliveSince, e.cleanSince, e.lastOK, e.rtt = time.Time{}, time.Time{}, time.Time{}, 0
		e.peer = wgtypes.Peer{}
	}
}

// Rekey makes the next round write the peers afresh (replacing them), so
// that the next packet to the datacenter starts a new WireGuard handshake
// instead of using the current session. A hot-standby unit that has just
// won a split brain calls it: while both units were active with the same
// site key, each one's handshakes ended the other's sessions at the
// datacenter, and the winner's current session may be one the datacenter
// has already dropped (WireGuard would notice only after REKEY_TIMEOUT).
// Safe from any goroutine; a no-op when Run is not running.
func (s *Supervisor) Rekey() { s.rekey.Store(true) }

// deviceGoneRounds of unreadable device in a row end Run with an error.
const deviceGoneRounds = 20

func (s *Supervisor) names() []string {
	var n []string
	for _, e := range s.eps {
		n = append(n, e.Name)
	}
	return n
}

// stop removes the datacenter peers so no traffic leaves through a
// supervisor that no longer watches it.
func (s *Supervisor) stop() error {
	err := s.opts.Device.Configure(wgtypes.Config{ReplacePeers: true, Peers: []wgtypes.PeerConfig{}})
	s.setState(Stopped, "supervisor stopped")
	s.publish()
	s.flush()
	if err != nil {
		return fmt.Errorf("tunnel: removing peers on stop: %w", err)
	}
	return nil
}

// step is one round: make sure the device is configured, probe, judge,
// choose the active endpoint.
func (s *Supervisor) step(ctx context.Context) {
	if s.opts.BeforeStep != nil {
		s.opts.BeforeStep()
	}
	s.takeResolved()
	s.lookUp(ctx, time.Now())
	if s.rekey.Swap(false) {
		s.applied = false
	}
	if !s.applied {
		if err := s.configure(); err != nil {
			s.logEvery("configure", "configuring the WireGuard device failed; retrying", "err", err)
		}
	}
	s.readStats()
	s.probe(ctx)
	s.choose(time.Now())
	s.publish()
	s.flush()
	if s.opts.Alive != nil {
		s.opts.Alive()
	}
}

// lookUp starts a background DNS lookup for every endpoint given by name
// that has no address yet, or is dead and was last looked up a while ago.
// The loop never waits for DNS.
func (s *Supervisor) lookUp(ctx context.Context, now time.Time) {
	for i, e := range s.eps {
		if e.literal || e.lookingUp || now.Before(e.resolveAt) || (e.addr.IsValid() && e.health != Dead) {
			continue
		}
		e.lookingUp = true
		s.resolving.Go(func() {
			ap, err := s.opts.Resolve(ctx, e.Endpoint.Endpoint)
			s.resolved <- resolution{i, ap, err} // buffered: one lookup per endpoint at most
		})
	}
}

// takeResolved applies the answers of finished lookups.
func (s *Supervisor) takeResolved() {
	for {
		select {
		case r := <-s.resolved:
			e := s.eps[r.i]
			e.lookingUp = false
			if r.err != nil {
				e.resolveAt = time.Now().Add(resolveRetry)
				if msg := r.err.Error(); msg != e.resolveErr {
					e.resolveErr = msg
					s.log.Warn("cannot resolve a datacenter endpoint; retrying every 30s", "endpoint", e.Name, "err", r.err)
				}
				continue
			}
			e.resolveErr = ""
			e.resolveAt = time.Now().Add(resolveDead)
			if r.ap == e.addr {
				continue
			}
			was := e.addr
			e.addr = r.ap
			if was.IsValid() {
				s.event("endpoint.moved", fmt.Sprintf("datacenter endpoint %s now resolves to %s", e.Name, r.ap), map[string]any{
					"endpoint": e.Name, "was": was.String(), "now": r.ap.String(),
				})
			}
			if s.applied && (!s.shared || r.i == s.active) {
				s.setEndpoint(r.i)
			}
		default:
			return
		}
	}
}

// setEndpoint gives endpoint i's peer its (new) address, leaving every
// other peer and session alone.
func (s *Supervisor) setEndpoint(i int) {
	pcs := s.peerConfigs(false)
	pc := pcs[0] // shared layout: the one peer
	for _, c := range pcs {
		if c.PublicKey == s.eps[i].Key {
			pc = c
		}
	}
	if err := s.opts.Device.Configure(wgtypes.Config{Peers: []wgtypes.PeerConfig{pc}}); err != nil {
		s.log.Warn("giving a datacenter endpoint its address failed", "endpoint", s.eps[i].Name, "err", err)
		s.applied = false
	}
}

// configure writes the whole desired peer set, replacing whatever the device
// held (a restart of the daemon finds a clean device this way). It runs once,
// and again only after a failed change; endpoints whose names resolve later
// are added with setEndpoint, never by replacing the peers.
func (s *Supervisor) configure() error {
	cfg := wgtypes.Config{
		PrivateKey:   &s.opts.PrivateKey,
		ReplacePeers: true,
		Peers:        s.peerConfigs(false),
	}
	if s.opts.ListenPort > 0 {
		cfg.ListenPort = &s.opts.ListenPort
	}
	if err := s.opts.Device.Configure(cfg); err != nil {
		return err
	}
	s.applied = true
	return nil
}

// peerConfigs is the desired peer set for the current active endpoint.
// With update set, the configs only update existing peers.
func (s *Supervisor) peerConfigs(update bool) []wgtypes.PeerConfig {
	ka := s.opts.Keepalive
	if s.shared {
		e := s.eps[s.active]
		pc := wgtypes.PeerConfig{
			PublicKey:                   e.Key,
			UpdateOnly:                  update,
			ReplaceAllowedIPs:           true,
			AllowedIPs:                  s.allowed(e, true),
			PersistentKeepaliveInterval: &ka,
		}
		if e.addr.IsValid() {
			pc.Endpoint = net.UDPAddrFromAddrPort(e.addr)
		}
		return []wgtypes.PeerConfig{pc}
	}
	var pcs []wgtypes.PeerConfig
	for i, e := range s.eps {
		pc := wgtypes.PeerConfig{
			PublicKey:                   e.Key,
			UpdateOnly:                  update,
			ReplaceAllowedIPs:           true,
			AllowedIPs:                  s.allowed(e, i == s.active),
			PersistentKeepaliveInterval: &ka,
		}
		if e.addr.IsValid() && !update {
			pc.Endpoint = net.UDPAddrFromAddrPort(e.addr)
		}
		pcs = append(pcs, pc)
	}
	return pcs
}

func (s *Supervisor) allowed(e *endpoint, active bool) []net.IPNet {
	var out []net.IPNet
	add := func(p netip.Prefix) {
		out = append(out, net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	if s.shared {
		seen := map[netip.Addr]bool{}
		for _, o := range s.eps {
			if !seen[o.Probe] {
				seen[o.Probe] = true
				add(netip.PrefixFrom(o.Probe, o.Probe.BitLen()))
			}
		}
	} else {
		add(netip.PrefixFrom(e.Probe, e.Probe.BitLen()))
	}
	if active {
		for _, r := range s.opts.Routes {
			add(r)
		}
	}
	return out
}

func (s *Supervisor) readStats() {
	dev, err := s.opts.Device.Device()
	if err != nil {
		s.devErrs++
		s.devErr = err
		s.logEvery("device", "cannot read the WireGuard device", "err", err)
		return
	}
	s.devErrs = 0
	for _, p := range dev.Peers {
		for i, e := range s.eps {
			if e.Key == p.PublicKey && (!s.shared || i == s.active) {
				e.peer = p
			}
		}
	}
}

// probe pings every observable endpoint at once and updates its health.
func (s *Supervisor) probe(ctx context.Context) {
	type result struct {
		i   int
		rtt time.Duration
		err error
	}
	// The active endpoint is probed every round; standby endpoints (distinct
	// keys) every standbyEvery rounds: their verdicts only choose a failover
	// target, and a wrongly chosen one is probed as the active one at once.
	// This halves the probes of an idle two-endpoint site (CPU and wakeups).
	s.round++
	var targets []int
	for i := range s.eps {
		if i == s.active || (!s.shared && s.round%standbyEvery == 0) {
			targets = append(targets, i)
		}
	}
	results := make(chan result, len(targets))
	pctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	for _, i := range targets {
		go func(i int) {
			rtt, err := s.opts.Pinger.Ping(pctx, s.opts.Source, s.eps[i].Probe)
			results <- result{i, rtt, err}
		}(i)
	}
	for range targets {
		r := <-results
		if ctx.Err() != nil {
			continue
		}
		// Judge at the moment the answer (or the timeout) arrived, so
		// that alive_since and the endpoint.alive record agree and the
		// hold-down is measured from what the journal shows.
		s.judge(s.eps[r.i], r.err == nil, r.rtt, time.Now())
	}
}

func (s *Supervisor) judge(e *endpoint, ok bool, rtt time.Duration, now time.Time) {
	hs := e.peer.LastHandshakeTime
	stale := ok && !hs.IsZero() && now.Sub(hs) > s.opts.HandshakeTimeout
	if ok && !stale {
		e.misses = 0
		e.oks++
		e.rtt = rtt
		e.lastOK = now
		if e.cleanSince.IsZero() {
			e.cleanSince = time.Now()
		}
		// A dead endpoint must answer rise probes in a row to count again;
		// one never judged (at start) counts from its first answer, so
		// the tunnel comes up as soon as the first probe returns.
		if e.health == Unknown || (e.health == Dead && e.oks >= s.opts.Rise) {
			was := e.health
			e.health = Alive
			e.aliveSince = now
			// Stamped again once the event is journaled (at the end of
			// the round), so a hold-down measured from alive_since never
			// ends before one measured from the endpoint.alive record.
			s.eventThen("endpoint.alive", fmt.Sprintf("datacenter endpoint %s answers again", e.Name), map[string]any{
				"endpoint": e.Name, "was": was.String(), "rtt_ms": ms(rtt),
			}, func() {
				if e.health == Alive {
					e.aliveSince = time.Now()
				}
			})
		}
		return
	}
	e.oks = 0
	e.misses++
	// Any miss restarts the hold-down: an endpoint that blips for less
	// than the dead verdict needs is not healthy enough to fail back to.
	e.cleanSince = time.Time{}
	if e.health != Dead && e.misses >= s.opts.Misses {
		was := e.health
		e.health = Dead
		e.aliveSince = time.Time{}
		reason := fmt.Sprintf("%d probes in a row unanswered", e.misses)
		if stale {
			reason = fmt.Sprintf("last handshake %s ago", now.Sub(hs).Round(time.Second))
		}
		f := map[string]any{"endpoint": e.Name, "was": was.String(), "reason": reason}
		if !e.lastOK.IsZero() {
			f["silent_ms"] = ms(now.Sub(e.lastOK))
		}
		s.event("endpoint.dead", fmt.Sprintf("datacenter endpoint %s is dead: %s", e.Name, reason), f)
	}
}

// choose decides which endpoint carries the cloud's routes.
func (s *Supervisor) choose(now time.Time) {
	cur := s.eps[s.active]
	if s.shared {
		s.chooseShared(cur, now)
		return
	}
	switch {
	case cur.health == Dead:
		if next := s.firstAlive(-1); next >= 0 {
			s.switchTo(next, "tunnel.failover", fmt.Sprintf("%s is dead", cur.Name))
			return
		}
		s.setState(Down, fmt.Sprintf("no datacenter endpoint answers (%s dead)", cur.Name))
	case cur.health == Alive:
		if !s.opts.NoFailback {
			if better := s.firstAlive(s.active); better >= 0 && s.clean(s.eps[better], now) >= s.opts.HoldDown {
				s.switchTo(better, "tunnel.failback", fmt.Sprintf("%s has answered every probe for %s", s.eps[better].Name, s.clean(s.eps[better], now).Round(time.Second)))
				return
			}
		}
		s.setState(Up, fmt.Sprintf("%s answers", cur.Name))
	default:
		// Not judged yet: wait for the preferred endpoint's verdict (at most
		// misses × interval) rather than start on a less preferred one
		// and fail back a hold-down later.
	}
}

// clean is how long e has been alive and has answered every probe: the
// hold-down is measured on it.
func (s *Supervisor) clean(e *endpoint, now time.Time) time.Duration {
	if e.health != Alive || e.cleanSince.IsZero() {
		return 0
	}
	from := e.cleanSince
	if e.aliveSince.After(from) {
		from = e.aliveSince
	}
	return now.Sub(from)
}

// firstAlive is the most preferred alive endpoint before index before (or
// anywhere when before < 0).
func (s *Supervisor) firstAlive(before int) int {
	for i, e := range s.eps {
		if before >= 0 && i >= before {
			break
		}
		if e.health == Alive {
			return i
		}
	}
	return -1
}

func (s *Supervisor) chooseShared(cur *endpoint, now time.Time) {
	switch cur.health {
	case Dead:
		if s.trialFrom >= 0 {
			back := s.trialFrom
			s.trialFrom = -1
			if s.backoff < 16 {
				s.backoff *= 2
			}
			s.switchTo(back, "tunnel.failback_failed", fmt.Sprintf("%s did not answer the failback trial; next trial after %s", cur.Name, s.holdDown()))
			return
		}
		next := (s.active + 1) % len(s.eps)
		if next == s.active {
			s.setState(Down, fmt.Sprintf("the datacenter endpoint %s does not answer", cur.Name))
			return
		}
		if s.sharedFails >= len(s.eps) {
			// Every front door has failed: no churn of failovers in the
			// journal; try the next one now and then, quietly.
			if now.Before(s.retryAt) {
				return
			}
			s.retryGap = min(max(2*s.retryGap, 4*s.opts.Interval*time.Duration(s.opts.Misses)), maxRetryGap)
			s.retryAt = now.Add(s.retryGap)
			s.quietSwitch(next)
			return
		}
		s.sharedFails++
		if s.sharedFails >= len(s.eps) {
			s.setState(Down, fmt.Sprintf("no datacenter front door answers (%d tried); trying them in turn, quietly", len(s.eps)))
			s.retryGap = 0
			s.retryAt = now
		} else {
			s.setState(Down, fmt.Sprintf("%s is dead; trying %s", cur.Name, s.eps[next].Name))
		}
		s.switchTo(next, "tunnel.failover", fmt.Sprintf("%s is dead", cur.Name))
	case Alive:
		s.sharedFails, s.retryGap = 0, 0
		if s.trialFrom >= 0 {
			s.trialFrom = -1
			s.event("tunnel.failback", fmt.Sprintf("failback to %s succeeded", cur.Name), map[string]any{"to": cur.Name})
		}
		if s.active == 0 && s.backoff > 1 && s.clean(cur, now) >= s.opts.HoldDown {
			s.backoff = 1
		}
		if s.active != 0 && !s.opts.NoFailback && now.Sub(s.switched) >= s.holdDown() && s.clean(cur, now) >= s.holdDown() {
			s.trialFrom = s.active
			s.switchTo(0, "tunnel.failback_trial", fmt.Sprintf("%s has carried the tunnel for %s; trying %s again", cur.Name, now.Sub(s.switched).Round(time.Second), s.eps[0].Name))
			return
		}
		s.setState(Up, fmt.Sprintf("%s answers", cur.Name))
	}
}

func (s *Supervisor) holdDown() time.Duration { return s.opts.HoldDown * time.Duration(s.backoff) }

// switchTo moves the cloud's routes (distinct keys) or the peer's endpoint
// (shared key) to endpoint i.
func (s *Supervisor) switchTo(i int, kind, reason string) {
	from := s.eps[s.active]
	to := s.eps[i]
	old := s.active
	s.active = i
	if s.shared && s.sharedFails < len(s.eps) {
		// A front door tried afresh is judged afresh. Once all of them
		// have failed, the retries keep their dead verdict, so that only a
		// real answer (rise in a row) is journaled.
		to.health, to.misses, to.oks = Unknown, 0, 0
	}
	start := time.Now()
	err := s.opts.Device.Configure(wgtypes.Config{Peers: s.peerConfigs(true)})
	if err != nil {
		s.active = old
		s.applied = false
		s.logEvery("switch", "moving the tunnel failed; will retry", "from", from.Name, "to", to.Name, "err", err)
		return
	}
	s.switched = time.Now()
	s.failovers++
	fields := map[string]any{
		"from": from.Name, "to": to.Name, "reason": reason, "layout": s.Layout(),
		"apply_ms": ms(time.Since(start)),
	}
	if !from.lastOK.IsZero() {
		fields["since_last_answer_ms"] = ms(start.Sub(from.lastOK))
	}
	s.event(kind, fmt.Sprintf("tunnel moved from %s to %s: %s", from.Name, to.Name, reason), fields)
	s.reason = reason
	if to.health == Alive {
		s.setState(Up, reason)
	}
}

func (s *Supervisor) setState(st State, reason string) {
	if st == s.state {
		return
	}
	was := s.state
	s.state = st
	s.reason = reason
	now := time.Now()
	f := map[string]any{"was": was.String(), "reason": reason, "endpoint": s.eps[s.active].Name,
		"after_ms": ms(now.Sub(s.stateSince))}
	s.stateSince = now
	kind := "tunnel." + st.String()
	s.event(kind, fmt.Sprintf("tunnel %s: %s", st, reason), f)
}

// quietSwitch points the single peer (shared layout) at front door i
// without an event: a retry while every front door is dead.
func (s *Supervisor) quietSwitch(i int) {
	old := s.active
	s.active = i
	if err := s.opts.Device.Configure(wgtypes.Config{Peers: s.peerConfigs(true)}); err != nil {
		s.active = old
		s.logEvery("switch", "trying the next front door failed", "to", s.eps[i].Name, "err", err)
		return
	}
	s.log.Debug("all front doors dead; trying the next", "to", s.eps[i].Name, "next_try", s.retryGap)
}

func (s *Supervisor) event(kind, msg string, fields map[string]any) {
	s.eventThen(kind, msg, fields, nil)
}

// eventThen queues an event for the end of the round; after runs once it
// is journaled.
func (s *Supervisor) eventThen(kind, msg string, fields map[string]any, after func()) {
	s.log.Info(msg, "event", kind)
	s.pending = append(s.pending, pendingEvent{kind, msg, fields, after})
}

// flush journals the round's events, in order.
func (s *Supervisor) flush() {
	for _, p := range s.pending {
		if s.opts.Events != nil {
			s.opts.Events.Event(p.kind, p.msg, p.fields)
		}
		if p.after != nil {
			p.after()
		}
	}
	s.pending = s.pending[:0]
}

// logEvery logs a warning for a retry loop at most once a minute per key.
func (s *Supervisor) logEvery(key, msg string, args ...any) {
	if s.logged == nil {
		s.logged = map[string]time.Time{}
	}
	if t, ok := s.logged[key]; ok && time.Since(t) < time.Minute {
		return
	}
	s.logged[key] = time.Now()
	s.log.Warn(msg, args...)
}

func (s *Supervisor) publish() {
	st := Status{
		State: s.state, Since: s.stateSince, Active: s.eps[s.active].Name,
		Layout: s.Layout(), Reason: s.reason, Failovers: s.failovers,
	}
	for i, e := range s.eps {
		st.Endpoints = append(st.Endpoints, EndpointStatus{
			Name: e.Name, Endpoint: e.Endpoint.Endpoint, Health: e.health, Active: i == s.active,
			Misses: e.misses, RTT: ms(e.rtt), AliveSince: e.aliveSince,
			LastHandshake: e.peer.LastHandshakeTime, RxBytes: e.peer.ReceiveBytes, TxBytes: e.peer.TransmitBytes,
		})
	}
	s.mu.Lock()
	s.snap = st
	s.mu.Unlock()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
