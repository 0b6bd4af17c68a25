package ha

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const ival = 10 * time.Millisecond

// mh drives a Machine by hand: ticks every interval, and the peer's
// heartbeat each interval when peer is set.
type mh struct {
	t    *testing.T
	m    *Machine
	now  time.Time
	peer *Heartbeat // sent every interval when non-nil
	outs []Output   // everything so far
}

func newMH(t *testing.T, cfg Config) *mh {
	t.Helper()
	if cfg.UnitID == "" {
		cfg.UnitID = "gw-a"
	}
	if cfg.Priority == 0 {
		cfg.Priority = 100
	}
	m, err := NewMachine(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return &mh{t: t, m: m, now: t0}
}

func peerHB(role State, prio uint8, h Health) *Heartbeat {
	return &Heartbeat{UnitID: "gw-b", Role: role, Priority: prio,
		Effective: effective(prio, h, 0), Health: h, BootID: 1}
}

func (h *mh) keep(o []Output) []Output {
	h.outs = append(h.outs, o...)
	return o
}

// run advances d in steps of one interval: the peer's heartbeat (if
// any) then a tick, at each step.
func (h *mh) run(d time.Duration) {
	h.t.Helper()
	for end := h.now.Add(d); h.now.Before(end); {
		h.now = h.now.Add(ival)
		if h.peer != nil {
			h.keep(h.m.Heartbeat(h.now, *h.peer))
		}
		h.keep(h.m.Tick(h.now))
	}
}

// until runs until the state is st, failing after limit; returns the
// time taken.
func (h *mh) until(st State, limit time.Duration) time.Duration {
	h.t.Helper()
	start := h.now
	for h.m.State() != st {
		if h.now.Sub(start) > limit {
			h.t.Fatalf("still %s after %v, want %s; reason %q", h.m.State(), limit, st, h.m.Status(h.now).Reason)
		}
		h.run(ival)
	}
	return h.now.Sub(start)
}

func (h *mh) want(st State) {
	h.t.Helper()
	if got := h.m.State(); got != st {
		h.t.Fatalf("state %s, want %s; reason %q", got, st, h.m.Status(h.now).Reason)
	}
}

func (h *mh) actions() []Action {
	var a []Action
	for _, o := range h.outs {
		if o.Action != NoAction {
			a = append(a, o.Action)
		}
	}
	return a
}

func (h *mh) count(a Action) int {
	n := 0
	for _, x := range h.actions() {
		if x == a {
			n++
		}
	}
	return n
}

func (h *mh) kinds(kind string) []Output {
	var r []Output
	for _, o := range h.outs {
		if o.Kind == kind {
			r = append(r, o)
		}
	}
	return r
}

// reason is the cause of the last transition.
func (h *mh) reason() string { return h.m.Status(h.now).Reason }

func TestInitAloneBecomesActiveAfterDeadTime(t *testing.T) {
	h := newMH(t, Config{})
	took := h.until(Active, time.Second)
	if took <= 150*time.Millisecond || took > 160*time.Millisecond {
		t.Errorf("became active after %v, want just over the dead time 150ms", took)
	}
	if !strings.Contains(h.reason(), "no peer heard") {
		t.Errorf("reason %q", h.reason())
	}
	if a := h.actions(); len(a) != 1 || a[0] != DoBecomeActive {
		t.Errorf("actions %v", a)
	}
	if len(h.kinds(KindActive)) != 1 {
		t.Errorf("want one ha.active event: %+v", h.outs)
	}
}

func TestInitIneligibleStaysStandbyUntilHealthy(t *testing.T) {
	h := newMH(t, Config{})
	h.keep(h.m.SetHealth(h.now, HealthDC|HealthLAN)) // WAN and tunnel down
	h.run(time.Second)
	h.want(Standby)
	if !strings.Contains(h.reason(), "WAN link and tunnel down") {
		t.Errorf("reason %q", h.reason())
	}
	h.keep(h.m.SetHealth(h.now, HealthOK))
	h.want(Standby) // eligible again: it listens for a dead time first
	h.run(h.m.dead + ival)
	h.want(Active)
	if !strings.Contains(h.reason(), "silent") {
		t.Errorf("reason %q", h.reason())
	}
}

func TestInitHearsActivePeer(t *testing.T) {
	h := newMH(t, Config{Priority: 200})
	h.peer = peerHB(Active, 100, HealthOK)
	h.run(ival)
	h.want(Standby)
	if a := h.actions(); len(a) != 1 || a[0] != DoBecomeStandby {
		t.Errorf("actions %v (init must establish the standby data plane)", a)
	}
	h.run(time.Minute) // preemption is off: stays
	h.want(Standby)
}

func TestTieBreaks(t *testing.T) {
	for _, tc := range []struct {
		name           string
		self, peer     candidate
		selfWins, note string
	}{
		{"higher priority", candidate{id: "b", eligible: true, eff: 200}, candidate{id: "a", eligible: true, eff: 100}, "yes", ""},
		{"lower priority", candidate{id: "a", eligible: true, eff: 100}, candidate{id: "b", eligible: true, eff: 200}, "no", ""},
		{"tie: lower id", candidate{id: "gw-a", eligible: true, eff: 100}, candidate{id: "gw-b", eligible: true, eff: 100}, "yes", ""},
		{"tie: higher id", candidate{id: "gw-b", eligible: true, eff: 100}, candidate{id: "gw-a", eligible: true, eff: 100}, "no", ""},
		{"tie: bytewise", candidate{id: "10.0.0.10", eligible: true, eff: 100}, candidate{id: "10.0.0.9", eligible: true, eff: 100}, "yes", ""},
		{"tie: prefix first", candidate{id: "gw", eligible: true, eff: 100}, candidate{id: "gw-a", eligible: true, eff: 100}, "yes", ""},
		{"tie: case", candidate{id: "GW", eligible: true, eff: 100}, candidate{id: "gw", eligible: true, eff: 100}, "yes", ""},
		{"eligible beats priority", candidate{id: "b", eligible: true, eff: 1}, candidate{id: "a", eligible: false, eff: 255}, "yes", ""},
		{"handing over loses", candidate{id: "a", eligible: true, yield: true, eff: 255}, candidate{id: "b", eligible: true, eff: 1}, "no", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := outranks(tc.self, tc.peer)
			if got != (tc.selfWins == "yes") {
				t.Errorf("outranks(%+v, %+v) = %v", tc.self, tc.peer, got)
			}
			if got && outranks(tc.peer, tc.self) {
				t.Errorf("both outrank each other")
			}
		})
	}
}

func TestInitElection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		id       string
		prio     uint8
		peerPrio uint8
		want     State
	}{
		{"higher priority wins", "gw-b0", 200, 100, Active},
		{"lower priority loses", "gw-a", 100, 200, Standby},
		{"tie: lower id wins", "gw-a", 100, 100, Active},
		{"tie: higher id loses", "gw-c", 100, 100, Standby},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newMH(t, Config{UnitID: tc.id, Priority: tc.prio})
			h.peer = peerHB(Init, tc.peerPrio, HealthOK)
			h.run(ival)
			h.want(tc.want)
		})
	}
}

func TestStandbyTakesOverWhenPeerSilent(t *testing.T) {
	h := newMH(t, Config{Priority: 100})
	h.peer = peerHB(Active, 200, HealthOK)
	h.run(time.Second)
	h.want(Standby)
	h.peer = nil // the active dies now
	took := h.until(Active, time.Second)
	if took < 140*time.Millisecond || took > 160*time.Millisecond {
		t.Errorf("took over after %v, want 150ms ± 10ms", took)
	}
	if !strings.Contains(h.reason(), "peer gw-b silent for 1") {
		t.Errorf("reason %q", h.reason())
	}
	if len(h.kinds(KindPeer)) != 2 {
		t.Errorf("want a peer heard and a peer silent event: %+v", h.kinds(KindPeer))
	}
}

func TestStandbyIneligibleDoesNotTakeOver(t *testing.T) {
	h := newMH(t, Config{})
	h.peer = peerHB(Active, 200, HealthOK)
	h.run(100 * time.Millisecond)
	h.keep(h.m.SetHealth(h.now, HealthTunnel|HealthDC|HealthLAN))
	h.peer = nil
	h.run(time.Second)
	h.want(Standby)
	if n := len(h.kinds(KindStandby)); n != 2 { // init→standby, and the note
		t.Errorf("%d standby events: %+v", n, h.kinds(KindStandby))
	}
	h.keep(h.m.SetHealth(h.now, HealthOK))
	h.want(Standby) // eligible again: it listens for a dead time first
	h.run(h.m.dead + ival)
	h.want(Active)
}

func TestPreemption(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		h := newMH(t, Config{Priority: 200})
		h.peer = peerHB(Active, 100, HealthOK)
		h.run(10 * time.Minute)
		h.want(Standby)
	})
	t.Run("on with delay", func(t *testing.T) {
		h := newMH(t, Config{Priority: 200, Preempt: true, PreemptDelay: 5 * time.Second})
		h.peer = peerHB(Active, 100, HealthOK)
		took := h.until(Active, time.Minute)
		if took < 5*time.Second || took > 5*time.Second+2*ival {
			t.Errorf("preempted after %v, want the 5s delay", took)
		}
		if !strings.Contains(h.reason(), "preempting after 5s") {
			t.Errorf("reason %q", h.reason())
		}
	})
	t.Run("delay restarts when the condition breaks", func(t *testing.T) {
		h := newMH(t, Config{Priority: 200, Preempt: true, PreemptDelay: 5 * time.Second})
		h.peer = peerHB(Active, 100, HealthOK)
		h.run(4 * time.Second)
		h.keep(h.m.SetHealth(h.now, HealthWAN|HealthTunnel|HealthLAN)) // sick: effective 0
		h.run(time.Second)
		h.keep(h.m.SetHealth(h.now, HealthOK))
		h.run(4 * time.Second)
		h.want(Standby)
		h.run(1100 * time.Millisecond)
		h.want(Active)
	})
	t.Run("on, lower priority does not preempt", func(t *testing.T) {
		h := newMH(t, Config{Priority: 100, Preempt: true, PreemptDelay: time.Second})
		h.peer = peerHB(Active, 200, HealthOK)
		h.run(time.Minute)
		h.want(Standby)
	})
	t.Run("equal priority does not preempt the lower id", func(t *testing.T) {
		h := newMH(t, Config{UnitID: "gw-c", Priority: 100, Preempt: true, PreemptDelay: time.Second})
		h.peer = peerHB(Active, 100, HealthOK)
		h.run(time.Minute)
		h.want(Standby)
	})
}

func TestTracking(t *testing.T) {
	for _, tc := range []struct {
		name       string
		self, peer Health
		penalty    int
		want       State
	}{
		{"active DC probes fail, standby healthy", HealthOK, HealthWAN | HealthTunnel | HealthLAN, 0, Active},
		{"active WAN down, standby healthy", HealthOK, HealthTunnel | HealthDC | HealthLAN, 0, Active},
		{"active LAN down, standby healthy", HealthOK, HealthWAN | HealthTunnel | HealthDC, 0, Active},
		{"active tunnel down, standby DC probes fail", HealthWAN | HealthTunnel | HealthLAN, HealthWAN | HealthDC | HealthLAN, 0, Active},
		{"both DC probes fail", HealthWAN | HealthTunnel | HealthLAN, HealthWAN | HealthTunnel | HealthLAN, 0, Standby},
		{"both WAN down: keep the active", HealthTunnel | HealthDC | HealthLAN, HealthTunnel | HealthDC | HealthLAN, 0, Standby},
		{"active WAN down, standby tunnel down", HealthWAN | HealthDC | HealthLAN, HealthTunnel | HealthDC | HealthLAN, 0, Standby},
		{"small penalty keeps the higher active", HealthOK, HealthWAN | HealthTunnel | HealthLAN, 10, Standby},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newMH(t, Config{Priority: 100, TrackPenalty: tc.penalty})
			h.peer = peerHB(Active, 150, HealthOK)
			h.run(time.Second)
			h.want(Standby)
			h.keep(h.m.SetHealth(h.now, tc.self))
			p := *h.peer
			p.Health, p.Effective = tc.peer, effective(150, tc.peer, tc.penalty)
			h.peer = &p
			h.run(10 * time.Second)
			h.want(tc.want)
			if tc.want == Active && !strings.Contains(h.reason(), "tracking") {
				t.Errorf("reason %q", h.reason())
			}
			if n := h.count(DoBecomeActive); n > 1 {
				t.Errorf("flapped: %d takeovers", n)
			}
		})
	}
}

func TestSickActiveStepsDownInSplitBrain(t *testing.T) {
	// The sick active hears the healthy standby take over and yields.
	h := newMH(t, Config{Priority: 200})
	h.run(200 * time.Millisecond)
	h.want(Active)
	h.keep(h.m.SetHealth(h.now, HealthWAN|HealthDC|HealthLAN)) // tunnel down
	h.peer = peerHB(Active, 100, HealthOK)
	h.run(ival)
	h.want(Standby)
	if len(h.kinds(KindSplitBrain)) != 1 {
		t.Errorf("want one split-brain event")
	}
}

func TestSplitBrain(t *testing.T) {
	t.Run("loser steps down at the first heartbeat", func(t *testing.T) {
		h := newMH(t, Config{Priority: 100})
		h.run(200 * time.Millisecond)
		h.want(Active)
		h.now = h.now.Add(ival / 2)
		h.keep(h.m.Heartbeat(h.now, *peerHB(Active, 200, HealthOK)))
		h.want(Standby)
		if o := h.kinds(KindSplitBrain); len(o) != 1 || o[0].Action != DoBecomeStandby || !strings.Contains(o[0].Msg, "the peer wins") {
			t.Errorf("split-brain outputs %+v", o)
		}
	})
	t.Run("winner announces, and again when the loser stands by", func(t *testing.T) {
		h := newMH(t, Config{Priority: 200})
		h.run(200 * time.Millisecond)
		h.want(Active)
		h.peer = peerHB(Active, 100, HealthOK)
		h.run(5 * ival) // the loser is slow: still active for 5 heartbeats
		h.want(Active)
		if n := h.count(DoAnnounce); n != 1 {
			t.Errorf("%d announces while the loser is active, want 1", n)
		}
		h.peer = peerHB(Standby, 100, HealthOK)
		h.run(time.Second)
		if n := h.count(DoAnnounce); n != 2 {
			t.Errorf("%d announces, want 2", n)
		}
		h.want(Active)
	})
	t.Run("winner announces when the loser stood down before it was heard", func(t *testing.T) {
		h := newMH(t, Config{Priority: 200})
		h.peer = peerHB(Standby, 100, HealthOK)
		h.run(time.Second)
		h.want(Active)
		h.peer = nil // the LAN breaks; the peer goes active unheard
		h.run(time.Second)
		h.peer = peerHB(Standby, 100, HealthOK) // first heard after the heal: already standby
		h.run(ival)
		if n := h.count(DoAnnounce); n != 1 {
			t.Errorf("%d announces, want 1", n)
		}
		h.run(time.Second)
		if n := h.count(DoAnnounce); n != 1 {
			t.Errorf("%d announces, want still 1", n)
		}
	})
	t.Run("tie: the higher id steps down", func(t *testing.T) {
		h := newMH(t, Config{UnitID: "gw-c", Priority: 100})
		h.run(200 * time.Millisecond)
		h.keep(h.m.Heartbeat(h.now, *peerHB(Active, 100, HealthOK)))
		h.want(Standby)
	})
	t.Run("broken unit never wins", func(t *testing.T) {
		h := newMH(t, Config{Priority: 255})
		h.run(200 * time.Millisecond)
		h.keep(h.m.SetHealth(h.now, HealthTunnel|HealthDC|HealthLAN))
		h.keep(h.m.Heartbeat(h.now, *peerHB(Active, 1, HealthOK)))
		h.want(Standby)
	})
}

func TestFrozen(t *testing.T) {
	t.Run("standby wakes: no takeover on stale state", func(t *testing.T) {
		h := newMH(t, Config{})
		h.peer = peerHB(Active, 200, HealthOK)
		h.run(time.Second)
		h.want(Standby)
		h.now = h.now.Add(2 * time.Second) // SIGSTOP for 2 s
		h.keep(h.m.Tick(h.now))
		h.want(Frozen)
		fz := h.kinds(KindFrozen)
		if len(fz) != 1 || !strings.Contains(fz[0].Msg, "frozen for 2s") || fz[0].Action != NoAction {
			t.Fatalf("frozen outputs %+v", fz)
		}
		// Peer alive: heard afresh for one interval, back to standby.
		h.run(ival)
		h.want(Frozen)
		h.run(ival)
		h.want(Standby)
		if h.count(DoBecomeActive) != 0 {
			t.Errorf("acted on stale state: %v", h.actions())
		}
	})
	t.Run("active wakes: steps down, peer heard active", func(t *testing.T) {
		h := newMH(t, Config{Priority: 200, Preempt: true, PreemptDelay: time.Minute})
		h.run(200 * time.Millisecond)
		h.want(Active)
		h.now = h.now.Add(2 * time.Second)
		h.keep(h.m.Tick(h.now))
		h.want(Frozen)
		if a := h.actions(); a[len(a)-1] != DoBecomeStandby {
			t.Errorf("the frozen active must release: %v", a)
		}
		h.peer = peerHB(Active, 100, HealthOK) // the peer took over meanwhile
		h.run(5 * ival)
		h.want(Standby) // and does not fight for it; preemption waits its delay
		if h.count(DoBecomeActive) != 1 || len(h.kinds(KindSplitBrain)) != 0 {
			t.Errorf("actions %v, split brain %v", h.actions(), h.kinds(KindSplitBrain))
		}
	})
	t.Run("peer gone too: takeover after a fresh dead time", func(t *testing.T) {
		h := newMH(t, Config{})
		h.peer = peerHB(Active, 200, HealthOK)
		h.run(time.Second)
		h.peer = nil
		h.now = h.now.Add(2 * time.Second)
		h.keep(h.m.Tick(h.now))
		h.want(Frozen)
		took := h.until(Active, time.Second)
		if took <= 150*time.Millisecond || took > 160*time.Millisecond {
			t.Errorf("took over %v after waking, want a fresh dead time", took)
		}
	})
	t.Run("stale backlog is not fresh", func(t *testing.T) {
		h := newMH(t, Config{})
		h.peer = peerHB(Active, 200, HealthOK)
		h.run(time.Second)
		h.now = h.now.Add(2 * time.Second)
		for range 20 { // the socket's backlog, all at the wake
			h.keep(h.m.Heartbeat(h.now, *h.peer))
		}
		h.want(Frozen)
	})
	t.Run("a late tick under the dead time is not a freeze", func(t *testing.T) {
		h := newMH(t, Config{})
		h.peer = peerHB(Active, 200, HealthOK)
		h.run(time.Second)
		h.now = h.now.Add(140 * time.Millisecond)
		h.keep(h.m.Tick(h.now))
		h.want(Standby)
	})
}

func TestHandover(t *testing.T) {
	h := newMH(t, Config{Priority: 200, Preempt: true, PreemptDelay: time.Second, HandoverHold: time.Minute})
	h.run(200 * time.Millisecond)
	h.want(Active)
	if _, err := h.m.Handover(h.now, true); err != ErrNoPeer {
		t.Errorf("handover without a peer: %v", err)
	}
	h.peer = peerHB(Standby, 100, HealthTunnel|HealthDC|HealthLAN)
	h.run(ival)
	if _, err := h.m.Handover(h.now, true); err == nil || !strings.Contains(err.Error(), "WAN link down") {
		t.Errorf("handover to a broken peer: %v", err)
	}
	h.peer = peerHB(Standby, 100, HealthOK)
	h.run(ival)
	o, err := h.m.Handover(h.now, true)
	h.keep(o)
	if err != nil {
		t.Fatal(err)
	}
	if !h.m.Advert().Yield {
		t.Fatal("advert does not yield")
	}
	h.want(Active) // until the peer is active: make before break
	h.peer = peerHB(Active, 100, HealthOK)
	h.run(ival)
	h.want(Standby)
	if !strings.Contains(h.reason(), "handover done") || len(h.kinds(KindSplitBrain)) != 0 {
		t.Errorf("reason %q, split brain %v", h.reason(), h.kinds(KindSplitBrain))
	}
	h.run(59 * time.Second) // would preempt after 1s, but the handover holds
	h.want(Standby)
	h.run(2 * time.Second) // hold expired, preempt after its delay
	h.want(Active)
	if len(h.kinds(KindHandover)) != 2 {
		t.Errorf("handover events %+v", h.kinds(KindHandover))
	}
	if _, err := h.m.Handover(h.now, true); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Handover(h.now, false); err != nil {
		t.Fatal(err)
	}
	if h.m.Advert().Yield {
		t.Error("cleared handover still yields")
	}
}

func TestStandbyTakesOverOnPeerHandover(t *testing.T) {
	h := newMH(t, Config{Priority: 100})
	h.peer = peerHB(Active, 200, HealthOK)
	h.run(time.Second)
	p := *h.peer
	p.Yield = true
	h.peer = &p
	h.run(ival)
	h.want(Active)
	if !strings.Contains(h.reason(), "hands the active role over") {
		t.Errorf("reason %q", h.reason())
	}
	// Not while ineligible.
	h2 := newMH(t, Config{Priority: 100})
	h2.peer = peerHB(Active, 200, HealthOK)
	h2.run(time.Second)
	h2.keep(h2.m.SetHealth(h2.now, HealthDC|HealthLAN))
	h2.peer = &p
	h2.run(time.Second)
	h2.want(Standby)
}

func TestStandbyVsStandbyAndFrozenPeer(t *testing.T) {
	h := newMH(t, Config{Priority: 100})
	h.peer = peerHB(Active, 200, HealthOK)
	h.run(time.Second)
	h.peer = peerHB(Frozen, 200, HealthOK) // the peer froze and released
	h.run(ival)
	h.want(Active)
	if !strings.Contains(h.reason(), "frozen") {
		t.Errorf("reason %q", h.reason())
	}
	h2 := newMH(t, Config{Priority: 100})
	h2.peer = peerHB(Active, 50, HealthOK)
	h2.run(time.Second)
	h2.want(Standby)
	h2.peer = peerHB(Standby, 50, HealthOK) // the peer stepped down (exit)
	h2.run(ival)
	h2.want(Active)
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{UnitID: "", Priority: 1},
		{UnitID: "gw a", Priority: 1},
		{UnitID: strings.Repeat("x", 33), Priority: 1},
		{UnitID: "gw", Priority: 0},
		{UnitID: "gw", Priority: 1, DeadMultiplier: 1},
		{UnitID: "gw", Priority: 1, TrackPenalty: -1},
	} {
		if _, err := NewMachine(cfg, t0); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func TestEffective(t *testing.T) {
	for _, tc := range []struct {
		prio    uint8
		h       Health
		penalty int
		want    uint8
	}{
		{200, HealthOK, 0, 200},
		{200, HealthWAN | HealthTunnel | HealthLAN, 0, 0},
		{200, HealthWAN | HealthTunnel | HealthLAN, 30, 170},
		{200, 0, 30, 80}, // four checks fail
		{20, 0, 30, 0},
	} {
		if got := effective(tc.prio, tc.h, tc.penalty); got != tc.want {
			t.Errorf("effective(%d, %v, %d) = %d, want %d", tc.prio, tc.h, tc.penalty, got, tc.want)
		}
	}
}

// An active unit whose LAN link goes down steps down at once, whether or
// not its peer is heard: cut off from the office it serves no one, and its
// tunnel would fight the peer's for the datacenter's endpoint. It does not
// come back while the LAN is down, and a standby with its LAN down never
// takes over.
func TestActiveStepsDownWhenItsLANGoesDown(t *testing.T) {
	h := newMH(t, Config{Priority: 200})
	h.run(200 * time.Millisecond)
	h.want(Active)
	h.keep(h.m.SetHealth(h.now, HealthWAN|HealthTunnel|HealthDC)) // LAN down, peer silent
	h.run(ival)
	h.want(Standby)
	if !strings.Contains(h.reason(), "LAN link is down") {
		t.Errorf("reason %q", h.reason())
	}
	h.run(time.Second)
	h.want(Standby)
	h.keep(h.m.SetHealth(h.now, HealthOK))
	h.run(time.Second)
	h.want(Active)
}

// A standby whose LAN link comes back (or WAN: any return to eligibility)
// after a silence does not take over at once on that stale silence: it
// listens for a dead time first, and stays standby when it hears the
// active peer; only a silence that lasts takes over.
func TestBackToEligibleListensFirst(t *testing.T) {
	for _, peerBack := range []bool{true, false} {
		t.Run(fmt.Sprintf("peer heard=%v", peerBack), func(t *testing.T) {
			h := newMH(t, Config{Priority: 200})
			h.peer = peerHB(Active, 100, HealthOK)
			h.run(time.Second)
			h.want(Standby)
			h.keep(h.m.SetHealth(h.now, HealthWAN|HealthTunnel|HealthDC)) // LAN cable out
			h.peer = nil                                                  // so the peer is not heard
			h.run(time.Second)
			h.want(Standby)
			h.keep(h.m.SetHealth(h.now, HealthOK)) // cable back
			h.run(h.m.dead / 2)
			h.want(Standby)
			if peerBack {
				h.peer = peerHB(Active, 100, HealthOK)
			}
			h.run(time.Second)
			if peerBack {
				h.want(Standby)
			} else {
				h.want(Active)
			}
		})
	}
}
