package ha

import (
	"errors"
	"fmt"
	"time"
)

// Defaults, from the failover arithmetic in DESIGN.md: 10 ms heartbeats
// and 15 misses detect a dead active in 150 ms, and a false failover needs
// 15 heartbeats lost in a row (0.3^15 ≈ 1.4e-8 per heartbeat at 30% loss).
const (
	DefaultInterval       = 10 * time.Millisecond
	DefaultDeadMultiplier = 15
	DefaultPreemptDelay   = 30 * time.Second
)

// State is a unit's role in the pair; it is also the role on the wire.
type State uint8

const (
	Init State = iota
	Standby
	Active
	Frozen
)

func (s State) String() string {
	switch s {
	case Init:
		return "init"
	case Standby:
		return "standby"
	case Active:
		return "active"
	case Frozen:
		return "frozen"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText makes State print as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name, so that shisactl can decode the
// daemon's status.
func (s *State) UnmarshalText(b []byte) error {
	for v := Init; v <= Frozen; v++ {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("ha: unknown role %q", b)
}

// Config is the election's part of the options.
type Config struct {
	// UnitID names this unit; the two units' ids differ. The unit id
	// that sorts first bytewise wins a tie.
	UnitID string
	// Priority is the configured priority, 1..255; higher wins.
	Priority uint8
	// Interval between heartbeats (and ticks); 0 means DefaultInterval.
	Interval time.Duration
	// DeadMultiplier: the peer is dead after DeadMultiplier×Interval
	// without a valid heartbeat; 0 means DefaultDeadMultiplier.
	DeadMultiplier int
	// Preempt: a unit that outranks the active takes over after
	// PreemptDelay (0 means DefaultPreemptDelay; negative means at once).
	Preempt      bool
	PreemptDelay time.Duration
	// TrackPenalty is subtracted from the priority for each failing
	// health check (down to 0); 0 means a sick unit drops to 0.
	TrackPenalty int
	// HandoverHold: how long a manual handover stops this unit from
	// preempting back; 0 means until it is cleared.
	HandoverHold time.Duration
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.DeadMultiplier <= 0 {
		c.DeadMultiplier = DefaultDeadMultiplier
	}
	if c.PreemptDelay == 0 {
		c.PreemptDelay = DefaultPreemptDelay
	} else if c.PreemptDelay < 0 {
		c.PreemptDelay = 0
	}
	return c
}

func (c Config) validate() error {
	if err := ValidUnitID(c.UnitID); err != nil {
		return err
	}
	if c.Priority == 0 {
		return errors.New("ha: priority must be 1 to 255")
	}
	if c.DeadMultiplier < 2 {
		return fmt.Errorf("ha: dead multiplier %d: at least 2 (a single lost heartbeat must not fail over)", c.DeadMultiplier)
	}
	if c.TrackPenalty < 0 {
		return fmt.Errorf("ha: track penalty %d is negative", c.TrackPenalty)
	}
	return nil
}

// Dead is the dead time, DeadMultiplier×Interval.
func (c Config) Dead() time.Duration { return time.Duration(c.DeadMultiplier) * c.Interval }

// Action is what the machine asks of the data plane.
type Action uint8

const (
	NoAction Action = iota
	DoBecomeActive
	DoBecomeStandby
	DoAnnounce
)

func (a Action) String() string {
	switch a {
	case DoBecomeActive:
		return "become-active"
	case DoBecomeStandby:
		return "become-standby"
	case DoAnnounce:
		return "announce"
	}
	return "none"
}

// Output is one consequence of a step: an action for the data plane, an
// event for the journal, or both.
type Output struct {
	Action Action
	Kind   string // event kind, "" for none
	Msg    string // the event's message; the cause for an action
	Fields map[string]any
}

// Event kinds.
const (
	KindActive     = "ha.active"
	KindStandby    = "ha.standby"
	KindSplitBrain = "ha.split_brain"
	KindFrozen     = "ha.frozen"
	KindRejected   = "ha.rejected"
	KindPeer       = "ha.peer"     // the peer heard, or silent
	KindHandover   = "ha.handover" // manual handover requested, cleared, expired
	KindActionFail = "ha.action_failed"
	// KindEventsDropped: the journal was too slow and events were lost.
	KindEventsDropped = "ha.events_dropped"
	// KindHealth: this unit's health checks changed (written by the
	// daemon, which measures them).
	KindHealth = "ha.health"
	// KindVIPRemoved: the daemon found the virtual IP left on the LAN
	// port by an earlier run and removed it before the election began.
	KindVIPRemoved = "ha.vip_removed"
)

// Errors of Handover.
var (
	ErrNotActive      = errors.New("ha: this unit is not active; run the handover on the active unit")
	ErrNoPeer         = errors.New("ha: the peer is not heard; a handover would leave no active unit")
	ErrPeerIneligible = errors.New("ha: the peer's WAN link, LAN link or tunnel is down; it cannot take over")
)

// Machine is the election as a pure state machine: every input carries
// the time, every consequence is returned as Outputs; it starts no
// goroutine and reads no clock. Not safe for concurrent use.
type Machine struct {
	cfg  Config
	dead time.Duration

	state  State
	since  time.Time
	reason string
	start  time.Time

	lastStep   time.Time // of any input: the freeze detector
	health     Health
	yield      bool
	yieldUntil time.Time // zero: until cleared

	peer       peerView
	peerLive   bool      // as last reported in a KindPeer event
	silentBase time.Time // silence counts from no earlier than this (start, wake)
	freshFirst time.Time // first heartbeat heard while Frozen

	preemptSince time.Time // zero: not waiting to preempt
	splitWon     bool      // won a split brain; announce again when it ends
	rejoin       bool      // active, and the peer came back after a silence
	noteIneligib bool      // "peer silent but not eligible" reported
	eligibleAt   time.Time // when this unit last became eligible

	activations int
	freezes     int
}

type peerView struct {
	known     bool
	hb        Heartbeat
	lastHeard time.Time
}

// NewMachine returns a machine in Init at now; health starts HealthOK.
func NewMachine(cfg Config, now time.Time) (*Machine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Machine{
		cfg: cfg, dead: cfg.Dead(), state: Init, since: now, start: now, reason: "starting",
		lastStep: now, health: HealthOK, silentBase: now,
	}, nil
}

// Config returns the configuration with defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Effective is this unit's effective priority.
func (m *Machine) Effective() uint8 { return effective(m.cfg.Priority, m.health, m.cfg.TrackPenalty) }

func effective(prio uint8, h Health, penalty int) uint8 {
	if !h.Sick() {
		return prio
	}
	if penalty == 0 {
		return 0
	}
	e := int(prio) - penalty*h.Failed()
	if e < 0 {
		return 0
	}
	return uint8(e)
}

// Advert is what this unit says about itself in its heartbeats.
func (m *Machine) Advert() Heartbeat {
	return Heartbeat{
		UnitID: m.cfg.UnitID, Role: m.state, Priority: m.cfg.Priority,
		Effective: m.Effective(), Health: m.health, Yield: m.yield,
	}
}

// PeerID returns the peer's unit id and whether it is alive (heard within
// the dead time).
func (m *Machine) PeerID(now time.Time) (string, bool) {
	return m.peer.hb.UnitID, m.peerAlive(now)
}

// candidate is what the election compares.
type candidate struct {
	id       string
	eligible bool
	sick     bool
	yield    bool
	eff      uint8
}

func (m *Machine) self() candidate {
	return candidate{m.cfg.UnitID, m.health.Eligible(), m.health.Sick(), m.yield, m.Effective()}
}

func peerCandidate(h *Heartbeat) candidate {
	return candidate{h.UnitID, h.Health.Eligible(), h.Health.Sick(), h.Yield, h.Effective}
}

// outranks decides the election between two units: an eligible unit
// (WAN and tunnel up) beats an ineligible one; then one not handing over
// beats one handing over; then the higher effective priority; then the
// unit id that sorts first bytewise (so "gw-a" beats "gw-b", and
// "10.0.0.10" beats "10.0.0.9"). Both units compute the same order from
// the same adverts.
func outranks(a, b candidate) bool {
	if a.eligible != b.eligible {
		return a.eligible
	}
	if a.yield != b.yield {
		return !a.yield
	}
	if a.eff != b.eff {
		return a.eff > b.eff
	}
	return a.id < b.id
}

func (m *Machine) peerAlive(now time.Time) bool {
	return m.peer.known && now.Sub(m.peer.lastHeard) <= m.dead
}

// silence is how long the peer has not been heard, counting from no
// earlier than the start or the wake from a freeze.
func (m *Machine) silence(now time.Time) time.Duration {
	from := m.silentBase
	if m.peer.known && m.peer.lastHeard.After(from) {
		from = m.peer.lastHeard
	}
	return now.Sub(from)
}

// Tick is the timer input, every Interval.
func (m *Machine) Tick(now time.Time) []Output {
	outs := m.advance(now, nil)
	return m.evaluate(now, outs)
}

// Heartbeat feeds an authenticated, non-replayed heartbeat of the peer.
func (m *Machine) Heartbeat(now time.Time, hb Heartbeat) []Output {
	outs := m.advance(now, nil)
	if hb.UnitID == m.cfg.UnitID {
		return outs // the Node rejects these; never our own advert
	}
	m.peer = peerView{known: true, hb: hb, lastHeard: now}
	if m.state == Frozen && m.freshFirst.IsZero() {
		m.freshFirst = now
	}
	return m.evaluate(now, outs)
}

// SetHealth reports this unit's health checks.
func (m *Machine) SetHealth(now time.Time, h Health) []Output {
	outs := m.advance(now, nil)
	if !m.health.Eligible() && h.Eligible() {
		m.eligibleAt = now
	}
	m.health = h & HealthOK
	return m.evaluate(now, outs)
}

// Handover starts (on) or clears a manual handover. Starting one needs
// this unit active and a live, eligible peer; the active then advertises
// Yield, the peer takes over at its next heartbeat and this unit steps
// down when it hears the peer active. It does not preempt back while the
// handover holds (HandoverHold, or until cleared).
func (m *Machine) Handover(now time.Time, on bool) ([]Output, error) {
	outs := m.advance(now, nil)
	if !on {
		if m.yield {
			m.yield = false
			outs = append(outs, Output{Kind: KindHandover, Msg: "handover cleared: this unit may preempt again"})
		}
		return m.evaluate(now, outs), nil
	}
	switch {
	case m.state != Active:
		return outs, ErrNotActive
	case !m.peerAlive(now):
		return outs, ErrNoPeer
	case !m.peer.hb.Health.Eligible():
		return outs, fmt.Errorf("%w (peer %s: %s)", ErrPeerIneligible, m.peer.hb.UnitID, m.peer.hb.Health.Broken())
	}
	m.yield = true
	m.yieldUntil = time.Time{}
	hold := "until cleared"
	if m.cfg.HandoverHold > 0 {
		m.yieldUntil = now.Add(m.cfg.HandoverHold)
		hold = "for " + m.cfg.HandoverHold.String()
	}
	outs = append(outs, Output{Kind: KindHandover,
		Msg:    fmt.Sprintf("handover requested: waiting for %s to take over; no preemption back %s", m.peer.hb.UnitID, hold),
		Fields: map[string]any{"peer": m.peer.hb.UnitID}})
	return m.evaluate(now, outs), nil
}

// advance runs before every input: the freeze detector and the handover
// hold.
func (m *Machine) advance(now time.Time, outs []Output) []Output {
	if gap := now.Sub(m.lastStep); gap > m.dead {
		outs = append(outs, m.freeze(now, gap))
	}
	if now.After(m.lastStep) {
		m.lastStep = now
	}
	if m.yield && !m.yieldUntil.IsZero() && !now.Before(m.yieldUntil) {
		m.yield = false
		outs = append(outs, Output{Kind: KindHandover, Msg: "handover hold expired: this unit may preempt again"})
	}
	return outs
}

// freeze: this unit did not run for gap (SIGSTOP, a stalled board). What
// it knows of the peer is stale and the peer has likely taken over: drop
// the peer, give up the active role, and decide again only on fresh
// evidence (see evaluate's Frozen case).
func (m *Machine) freeze(now time.Time, gap time.Duration) Output {
	prev := m.state
	m.freezes++
	m.peer = peerView{}
	m.peerLive = false
	m.silentBase = now
	m.freshFirst = time.Time{}
	m.preemptSince = time.Time{}
	m.splitWon = false
	m.rejoin = false
	m.noteIneligib = false
	cause := fmt.Sprintf("frozen for %v (longer than the dead time %v: SIGSTOP or a stalled board): the view of the peer is stale; standing by until the peer is heard afresh for %v or stays silent for %v",
		gap.Round(time.Millisecond), m.dead, m.cfg.Interval, m.dead)
	o := m.to(now, Frozen, cause)
	o.Kind, o.Msg = KindFrozen, cause
	o.Fields["gap_ms"] = ms(gap)
	if prev == Active || prev == Init {
		o.Action = DoBecomeStandby
	}
	return o
}

// to changes state and returns the transition's output (event, no
// action yet).
func (m *Machine) to(now time.Time, st State, cause string) Output {
	f := map[string]any{"from": m.state.String(), "to": st.String(), "after_ms": ms(now.Sub(m.since)),
		"priority": m.cfg.Priority, "effective": m.Effective(), "health": m.health.String()}
	if m.peer.known {
		f["peer"] = m.peer.hb.UnitID
		f["peer_role"] = m.peer.hb.Role.String()
		f["peer_effective"] = m.peer.hb.Effective
		f["peer_health"] = m.peer.hb.Health.String()
		f["peer_age_ms"] = ms(now.Sub(m.peer.lastHeard))
	}
	m.state, m.since, m.reason = st, now, cause
	m.preemptSince = time.Time{}
	kind := ""
	switch st {
	case Active:
		kind = KindActive
		m.activations++
	case Standby:
		kind = KindStandby
	}
	return Output{Kind: kind, Msg: st.String() + ": " + cause, Fields: f}
}

func (m *Machine) toActive(now time.Time, cause string) Output {
	m.splitWon = false
	m.rejoin = false
	m.noteIneligib = false
	o := m.to(now, Active, cause)
	o.Action = DoBecomeActive
	return o
}

func (m *Machine) toStandby(now time.Time, cause string) Output {
	m.splitWon = false
	m.rejoin = false
	o := m.to(now, Standby, cause)
	o.Action = DoBecomeStandby
	return o
}

func (m *Machine) rankText() string {
	s, p := m.self(), peerCandidate(&m.peer.hb)
	return fmt.Sprintf("%s (priority %d, effective %d, %s%s) vs %s (priority %d, effective %d, %s%s)",
		s.id, m.cfg.Priority, s.eff, m.health.Broken(), yieldText(s.yield),
		p.id, m.peer.hb.Priority, p.eff, m.peer.hb.Health.Broken(), yieldText(p.yield))
}

func yieldText(y bool) string {
	if y {
		return ", handing over"
	}
	return ""
}

// evaluate applies the rules to the current view.
func (m *Machine) evaluate(now time.Time, outs []Output) []Output {
	alive := m.peerAlive(now)
	if alive != m.peerLive && m.state != Frozen {
		m.peerLive = alive
		if alive && m.state == Active {
			// The peer was silent for the dead time while this unit was
			// active: it may have taken over and announced itself.
			m.rejoin = true
		}
		if alive {
			outs = append(outs, Output{Kind: KindPeer, Msg: fmt.Sprintf("peer %s heard: %s, effective priority %d, %s",
				m.peer.hb.UnitID, m.peer.hb.Role, m.peer.hb.Effective, m.peer.hb.Health), Fields: map[string]any{"peer": m.peer.hb.UnitID}})
		} else {
			outs = append(outs, Output{Kind: KindPeer, Msg: fmt.Sprintf("peer %s silent for %v", m.peer.hb.UnitID, m.silence(now).Round(time.Millisecond)),
				Fields: map[string]any{"peer": m.peer.hb.UnitID}})
		}
	}
	self := m.self()
	var peer candidate
	if m.peer.known {
		peer = peerCandidate(&m.peer.hb)
	}

	switch m.state {
	case Frozen:
		switch {
		case alive && !m.freshFirst.IsZero() && now.Sub(m.freshFirst) >= m.cfg.Interval:
			m.peerLive = true
			outs = append(outs, m.to(now, Standby, fmt.Sprintf("peer %s heard afresh for %v after the freeze (%s)",
				m.peer.hb.UnitID, now.Sub(m.freshFirst), m.peer.hb.Role)))
		case !alive && m.silence(now) > m.dead:
			outs = append(outs, m.to(now, Standby, fmt.Sprintf("no peer heard for %v after the freeze", m.silence(now).Round(time.Millisecond))))
		default:
			return outs // stale: do not act
		}
		// Now Standby with a fresh view: decide below.
	case Init:
		switch {
		case alive && m.peer.hb.Role == Active:
			return append(outs, m.toStandby(now, fmt.Sprintf("peer %s is active", peer.id)))
		case alive && m.peer.hb.Role == Frozen && self.eligible:
			return append(outs, m.toActive(now, fmt.Sprintf("peer %s is frozen and not active", peer.id)))
		case alive && self.eligible && outranks(self, peer):
			return append(outs, m.toActive(now, "this unit wins the election: "+m.rankText()))
		case alive:
			return append(outs, m.toStandby(now, fmt.Sprintf("peer %s wins the election or this unit is not eligible: %s", peer.id, m.rankText())))
		case now.Sub(m.start) > m.dead && self.eligible:
			return append(outs, m.toActive(now, fmt.Sprintf("no peer heard for %v after start", now.Sub(m.start).Round(time.Millisecond))))
		case now.Sub(m.start) > m.dead:
			return append(outs, m.toStandby(now, fmt.Sprintf("no peer heard for %v after start, but this unit cannot be active: %s",
				now.Sub(m.start).Round(time.Millisecond), m.health.Broken())))
		}
		return outs
	}

	switch m.state {
	case Standby:
		if !alive {
			m.preemptSince = time.Time{}
			if self.eligible && now.Sub(m.eligibleAt) < m.dead {
				// Just eligible again (a cable plugged back): the silence
				// may be this unit's own deafness. Listen for a dead time
				// first, as at start.
				return outs
			}
			if self.eligible {
				name := "peer"
				if m.peer.hb.UnitID != "" {
					name = "peer " + m.peer.hb.UnitID
				}
				return append(outs, m.toActive(now, fmt.Sprintf("%s silent for %v", name, m.silence(now).Round(time.Millisecond))))
			}
			if !m.noteIneligib {
				m.noteIneligib = true
				outs = append(outs, Output{Kind: KindStandby, Msg: "standby: the peer is silent but this unit cannot take over: " + m.health.Broken(),
					Fields: map[string]any{"health": m.health.String()}})
			}
			return outs
		}
		m.noteIneligib = false
		switch m.peer.hb.Role {
		case Active:
			if !self.eligible || !outranks(self, peer) {
				m.preemptSince = time.Time{}
				return outs
			}
			if peer.yield {
				return append(outs, m.toActive(now, fmt.Sprintf("peer %s hands the active role over", peer.id)))
			}
			if !peer.eligible || !self.sick && peer.sick {
				return append(outs, m.toActive(now, fmt.Sprintf("tracking: active peer %s is unhealthy (%s) and this unit is %s",
					peer.id, m.peer.hb.Health.Broken(), m.health.Broken())))
			}
			if !m.cfg.Preempt || self.yield {
				return outs
			}
			if m.preemptSince.IsZero() {
				m.preemptSince = now
			}
			if waited := now.Sub(m.preemptSince); waited >= m.cfg.PreemptDelay {
				return append(outs, m.toActive(now, fmt.Sprintf("preempting after %v: %s", waited.Round(time.Millisecond), m.rankText())))
			}
		case Frozen:
			if self.eligible {
				return append(outs, m.toActive(now, fmt.Sprintf("peer %s is frozen and not active", peer.id)))
			}
		default: // Standby, Init: nobody is active
			m.preemptSince = time.Time{}
			if self.eligible && outranks(self, peer) {
				return append(outs, m.toActive(now, fmt.Sprintf("peer %s is %s; this unit wins the election: %s", peer.id, m.peer.hb.Role, m.rankText())))
			}
		}
		return outs

	case Active:
		if m.health&HealthLAN == 0 {
			// Cut off from the office, this unit serves no one; holding
			// the tunnel would only make the datacenter's endpoint for
			// the site flap between it and the peer that took over.
			return append(outs, m.toStandby(now, "this unit's LAN link is down: it cannot reach the office"))
		}
		if !alive || m.peer.hb.Role != Active {
			if m.rejoin && alive {
				// The loser often steps down before this unit ever hears
				// it active: announce all the same (keepalived's users lost
				// their gateway to a winner that did not).
				m.rejoin = false
				return append(outs, Output{Action: DoAnnounce, Kind: KindPeer,
					Msg:    fmt.Sprintf("peer %s heard (%s) after a silence while this unit was active: it may have held the virtual IP; announcing it again", peer.id, m.peer.hb.Role),
					Fields: map[string]any{"peer": peer.id}})
			}
			if m.splitWon && alive {
				m.splitWon = false
				outs = append(outs, Output{Action: DoAnnounce, Kind: KindSplitBrain,
					Msg: fmt.Sprintf("split brain over: peer %s is %s; announcing the virtual IP again", peer.id, m.peer.hb.Role)})
			}
			return outs
		}
		// Both active.
		if outranks(peer, self) {
			if self.yield {
				return append(outs, m.toStandby(now, fmt.Sprintf("handover done: peer %s is active", peer.id)))
			}
			o := m.toStandby(now, "split brain: the peer wins: "+m.rankText())
			o.Kind = KindSplitBrain
			return append(outs, o)
		}
		m.rejoin = false
		if !m.splitWon && !peer.yield {
			m.splitWon = true
			return append(outs, Output{Action: DoAnnounce, Kind: KindSplitBrain,
				Msg:    "split brain: both units active; this unit wins and announces the virtual IP again: " + m.rankText(),
				Fields: map[string]any{"peer": peer.id}})
		}
	}
	return outs
}

// MachineStatus is a snapshot of the election.
type MachineStatus struct {
	UnitID      string      `json:"unit"`
	Role        State       `json:"role"`
	Since       time.Time   `json:"since"`
	Reason      string      `json:"reason"`
	Priority    uint8       `json:"priority"`
	Effective   uint8       `json:"effective"`
	Health      Health      `json:"health"`
	Handover    bool        `json:"handover"`
	Activations int         `json:"activations"`
	Freezes     int         `json:"freezes"`
	Peer        *PeerStatus `json:"peer,omitempty"`
}

// PeerStatus is the peer as last heard.
type PeerStatus struct {
	UnitID    string    `json:"unit"`
	Alive     bool      `json:"alive"`
	Role      State     `json:"role"`
	Priority  uint8     `json:"priority"`
	Effective uint8     `json:"effective"`
	Health    Health    `json:"health"`
	Handover  bool      `json:"handover"`
	LastHeard time.Time `json:"last_heard"`
	AgeMs     float64   `json:"age_ms"`
}

// Status returns a snapshot at now.
func (m *Machine) Status(now time.Time) MachineStatus {
	st := MachineStatus{
		UnitID: m.cfg.UnitID, Role: m.state, Since: m.since, Reason: m.reason,
		Priority: m.cfg.Priority, Effective: m.Effective(), Health: m.health, Handover: m.yield,
		Activations: m.activations, Freezes: m.freezes,
	}
	if m.peer.known {
		h := m.peer.hb
		st.Peer = &PeerStatus{UnitID: h.UnitID, Alive: m.peerAlive(now), Role: h.Role, Priority: h.Priority,
			Effective: h.Effective, Health: h.Health, Handover: h.Yield, LastHeard: m.peer.lastHeard,
			AgeMs: ms(now.Sub(m.peer.lastHeard))}
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
