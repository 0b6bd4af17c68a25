package ha_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/ha/hatest"
)

var secret = []byte("pair secret for the tests, 32 b.")

type unit struct {
	t      *testing.T
	n      *ha.Node
	end    *hatest.End
	act    *hatest.Actions
	ev     *hatest.Events
	cancel context.CancelFunc
	done   chan error
	freeze atomic.Pointer[chan struct{}]
}

// start runs a node on end; cfg needs UnitID and Priority.
func start(t *testing.T, end *hatest.End, cfg ha.Config) *unit {
	t.Helper()
	u := &unit{t: t, end: end, act: &hatest.Actions{}, ev: &hatest.Events{}, done: make(chan error, 1)}
	n, err := ha.New(ha.Options{Config: cfg, Secret: secret, Transport: end, Actions: u.act, Events: u.ev,
		BeforeStep: func() {
			if c := u.freeze.Load(); c != nil {
				<-*c
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	u.n = n
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	go func() { u.done <- n.Run(ctx) }()
	return u
}

// stop ends Run and waits for it.
func (u *unit) stop() {
	u.t.Helper()
	u.cancel()
	if err := <-u.done; err != nil {
		u.t.Errorf("%s: Run: %v", u.n.Status().UnitID, err)
	}
}

// freezeFor blocks the node's loop for d (SIGSTOP) and returns when it
// has woken.
func (u *unit) freezeFor(d time.Duration) {
	c := make(chan struct{})
	u.freeze.Store(&c)
	time.Sleep(d)
	u.freeze.Store(nil)
	close(c)
	synctest.Wait()
}

func (u *unit) want(st ha.State) {
	u.t.Helper()
	s := u.n.Status()
	if s.Role != st {
		u.t.Fatalf("%s is %s, want %s; reason %q", s.UnitID, s.Role, st, s.Reason)
	}
}

// pollStep is how finely waitActive looks, in fake time.
const pollStep = 100 * time.Microsecond

// waitActive polls every pollStep of fake time until u's data plane is
// (or is not) active; returns how long it took, to within pollStep.
func (u *unit) waitActive(active bool, limit time.Duration) time.Duration {
	u.t.Helper()
	start := time.Now()
	for u.act.Active() != active {
		if time.Since(start) > limit {
			u.t.Fatalf("%s: data plane active=%v after %v; status %+v", u.n.Status().UnitID, !active, limit, u.n.Status())
		}
		time.Sleep(pollStep)
	}
	return time.Since(start)
}

func cfgA() ha.Config { return ha.Config{UnitID: "gw-a", Priority: 200} }
func cfgB() ha.Config { return ha.Config{UnitID: "gw-b", Priority: 100} }

// pair starts A (priority 200) and B (100) and lets them settle.
func pair(t *testing.T, seed uint64) (*hatest.Pair, *unit, *unit) {
	p := hatest.NewPair(seed)
	a := start(t, p.A, cfgA())
	b := start(t, p.B, cfgB())
	time.Sleep(time.Second)
	synctest.Wait()
	a.want(ha.Active)
	b.want(ha.Standby)
	return p, a, b
}

func TestNodePairStartup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pair(t, 1)
		if !a.act.Active() || b.act.Active() || a.act.Count("active") != 1 || b.act.Count("standby") != 1 {
			t.Errorf("A calls %q, B calls %q", a.act.Calls(), b.act.Calls())
		}
		if len(a.ev.Kind(ha.KindActive)) != 1 || len(b.ev.Kind(ha.KindStandby)) != 1 {
			t.Errorf("events A %+v B %+v", a.ev.All(), b.ev.All())
		}
		st := b.n.Status()
		if st.Peer == nil || !st.Peer.Alive || st.Peer.Role != ha.Active || st.Received < 90 || st.Applied != "standby" {
			t.Errorf("B status %+v peer %+v", st, st.Peer)
		}
		a.stop()
		b.stop()
	})
}

func TestNodeDetectionTime(t *testing.T) {
	for _, m := range []int{13, 14, 15} {
		synctest.Test(t, func(t *testing.T) {
			p := hatest.NewPair(2)
			ca, cb := cfgA(), cfgB()
			ca.DeadMultiplier, cb.DeadMultiplier = m, m
			a := start(t, p.A, ca)
			b := start(t, p.B, cb)
			time.Sleep(time.Second + 3*time.Millisecond) // kill between ticks
			a.freeze.Store(new(make(chan struct{})))     // SIGKILL: not a word more
			p.A.SetLink(hatest.Link{Cut: true})
			took := b.waitActive(true, time.Second)
			dead := time.Duration(m) * ha.DefaultInterval
			t.Logf("M=%d: the standby took over %v after the active died (dead time %v)", m, took, dead)
			if took < dead-ha.DefaultInterval || took > dead+ha.DefaultInterval+pollStep {
				t.Errorf("detection %v, want %v ± %v", took, dead, ha.DefaultInterval)
			}
			if r := b.n.Status().Reason; !strings.Contains(r, "peer gw-a silent for") {
				t.Errorf("reason %q", r)
			}
			close(*a.freeze.Load())
			a.freeze.Store(nil)
			a.stop()
			b.stop()
		})
	}
}

func TestNodeGracefulStopHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pair(t, 3)
		a.stop()
		took := b.waitActive(true, time.Second)
		if took > pollStep {
			t.Errorf("took over %v after the active stopped, want within an interval", took)
		}
		if a.act.Active() {
			t.Error("the stopped active still holds the data plane")
		}
		b.stop()
	})
}

func TestNodeRejectsForgedReplayedSelf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, a, b := pair(t, 4)
		before := b.act.Calls()
		// Forged: the right form, another secret, claiming priority 255.
		evil := ha.Heartbeat{UnitID: "gw-a", BootID: 7, Seq: 1 << 40, Role: ha.Active, Priority: 255, Effective: 255, Health: ha.HealthOK}
		forged, _ := ha.Encode(nil, []byte("not the pair secret, 32 bytes..."), &evil)
		// Corrupt: a real packet with a flipped bit.
		capA := p.A.Captured()
		corrupt := append([]byte(nil), capA[len(capA)-1]...)
		corrupt[12] ^= 1
		// Self: B's own id under the right key.
		self := ha.Heartbeat{UnitID: "gw-b", BootID: 9, Seq: 1, Role: ha.Active, Priority: 255, Effective: 255, Health: ha.HealthOK}
		selfPkt, _ := ha.Encode(nil, secret, &self)
		// A capture of A saying "init" at its start, then as active.
		for i := range 10 {
			time.Sleep(100 * time.Millisecond)
			p.B.Inject(forged)
			p.B.Inject(corrupt)
			p.B.Inject(capA[i]) // old sequence numbers
			p.B.Inject(capA[len(capA)-1-i])
			p.B.Inject(selfPkt)
			p.B.Inject([]byte("GET / HTTP/1.0\r\n\r\n"))
		}
		synctest.Wait()
		b.want(ha.Standby)
		a.want(ha.Active)
		if got := b.act.Calls(); len(got) != len(before) {
			t.Errorf("B's data plane changed: %q", got)
		}
		r := b.n.Status().Rejected
		if r["forged"] != 20 || r["replayed"] != 20 || r["self"] != 10 || r["malformed"] != 10 {
			t.Errorf("rejected %v", r)
		}
		rej := b.ev.Kind(ha.KindRejected)
		if len(rej) != 1 || !strings.Contains(rej[0].Msg, "forged") {
			t.Errorf("want one rate-limited ha.rejected event so far, got %+v", rej)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if rej = b.ev.Kind(ha.KindRejected); len(rej) != 2 {
			t.Errorf("want a second ha.rejected event after 10s, got %+v", rej)
		}
		if s := a.n.Status(); s.Rejected["forged"]+s.Rejected["replayed"] != 0 {
			t.Errorf("A rejected %v", s.Rejected)
		}
		a.stop()
		b.stop()
	})
}

func TestNodeRejectsOldBoot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, a, b := pair(t, 5)
		oldBoot := p.A.Captured()
		// A restarts (the crash is a freeze without a word, then a new
		// process on the same LAN end).
		a.freeze.Store(new(make(chan struct{})))
		p.A.SetLink(hatest.Link{Cut: true})
		b.waitActive(true, time.Second)
		p.A.SetLink(hatest.Link{})
		p.A.Flush()
		a2 := start(t, p.A, cfgA())
		time.Sleep(time.Second)
		synctest.Wait()
		if a2.n.BootID() == a.n.BootID() {
			t.Fatal("same boot id")
		}
		a2.want(ha.Standby) // preemption is off
		b.want(ha.Active)
		calls := len(b.act.Calls())
		for _, pkt := range oldBoot[len(oldBoot)-20:] {
			p.B.Inject(pkt)
			time.Sleep(ha.DefaultInterval)
		}
		synctest.Wait()
		b.want(ha.Active)
		if r := b.n.Status().Rejected["replayed"]; r != 20 || len(b.act.Calls()) != calls {
			t.Errorf("replayed %d, calls %q", r, b.act.Calls())
		}
		close(*a.freeze.Load())
		a.freeze.Store(nil)
		a2.stop()
		a.cancel() // the old process: its end is now a2's
		<-a.done
		b.stop()
	})
}

func TestNodeSplitBrainHeals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, a, b := pair(t, 6)
		p.Cut(true)
		b.waitActive(true, time.Second)
		time.Sleep(time.Second)
		a.want(ha.Active)
		b.want(ha.Active)
		announces := a.act.Count("announce")
		p.Cut(false)
		took := b.waitActive(false, time.Second)
		t.Logf("split brain healed: the loser stood down %v after the LAN came back", took)
		if took > ha.DefaultInterval+pollStep {
			t.Errorf("loser stepped down after %v, want within one interval", took)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		a.want(ha.Active)
		b.want(ha.Standby)
		if n := a.act.Count("announce") - announces; n < 1 {
			t.Errorf("the winner announced %d times", n)
		}
		// B always sees the split brain; A sees it only when it hears B
		// active before B steps down, and announces either way.
		if len(b.ev.Kind(ha.KindSplitBrain)) != 1 {
			t.Errorf("split-brain events A %+v B %+v", a.ev.Kind(ha.KindSplitBrain), b.ev.Kind(ha.KindSplitBrain))
		}
		a.stop()
		b.stop()
	})
}

func TestNodeFrozenStandbyDoesNotAct(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pair(t, 7)
		b.freezeFor(2 * time.Second)
		time.Sleep(ha.DefaultInterval / 2)
		synctest.Wait()
		b.want(ha.Frozen)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		b.want(ha.Standby)
		a.want(ha.Active)
		if b.act.Count("active") != 0 {
			t.Errorf("the frozen standby acted: %q", b.act.Calls())
		}
		fz := b.ev.Kind(ha.KindFrozen)
		if len(fz) != 1 || !strings.Contains(fz[0].Msg, "frozen for 2") {
			t.Errorf("frozen events %+v", fz)
		}
		a.stop()
		b.stop()
	})
}

func TestNodeFrozenActiveStandsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pair(t, 8)
		a.freezeFor(2 * time.Second) // B takes over meanwhile
		b.want(ha.Active)
		time.Sleep(time.Second)
		synctest.Wait()
		a.want(ha.Standby)
		b.want(ha.Active)
		if a.act.Active() || a.act.Count("active") != 1 {
			t.Errorf("A calls %q", a.act.Calls())
		}
		if len(b.ev.Kind(ha.KindSplitBrain)) != 0 {
			t.Errorf("the woken active fought for the role: %+v", b.ev.Kind(ha.KindSplitBrain))
		}
		a.stop()
		b.stop()
	})
}

func TestNodeHandover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pair(t, 9)
		if err := b.n.Handover(true); !errors.Is(err, ha.ErrNotActive) {
			t.Errorf("handover on the standby: %v", err)
		}
		if err := a.n.Handover(true); err != nil {
			t.Fatal(err)
		}
		took := b.waitActive(true, time.Second)
		a.waitActive(false, time.Second)
		if took > pollStep {
			t.Errorf("handover took %v", took)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		a.want(ha.Standby)
		b.want(ha.Active)
		if len(a.ev.Kind(ha.KindSplitBrain))+len(b.ev.Kind(ha.KindSplitBrain)) != 0 {
			t.Error("a handover is not a split brain")
		}
		a.stop()
		b.stop()
	})
}

func TestNodeTrackingTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b := pair(t, 10)
		a.n.SetHealth(ha.HealthWAN | ha.HealthDC | ha.HealthLAN) // A's tunnel dies
		took := b.waitActive(true, time.Second)
		a.waitActive(false, time.Second)
		if took > pollStep {
			t.Errorf("tracking takeover took %v", took)
		}
		// Now B's WAN fails too: both broken, no flap.
		b.n.SetHealth(ha.HealthTunnel | ha.HealthDC | ha.HealthLAN)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		b.want(ha.Active)
		if a.act.Count("active") != 1 || b.act.Count("active") != 1 {
			t.Errorf("flapped: A %q B %q", a.act.Calls(), b.act.Calls())
		}
		a.stop()
		b.stop()
	})
}

func TestNodeActionFailureRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, a, b := pair(t, 11)
		b.act.SetErr(errors.New("netlink: operation not permitted"))
		p.A.SetLink(hatest.Link{Cut: true})
		time.Sleep(time.Second)
		synctest.Wait()
		b.want(ha.Active)
		st := b.n.Status()
		if st.Applied != "standby" || !strings.Contains(st.LastError, "not permitted") || len(b.ev.Kind(ha.KindActionFail)) < 2 {
			t.Errorf("status %+v, events %+v", st, b.ev.Kind(ha.KindActionFail))
		}
		b.act.SetErr(nil)
		b.waitActive(true, 6*time.Second)
		p.A.SetLink(hatest.Link{})
		a.stop()
		b.stop()
	})
}
