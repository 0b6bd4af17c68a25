// Package hatest is a fake LAN for the election: a pair of connected
// ha.Transport ends whose links drop, delay, duplicate, reorder and
// capture packets, and into which a test injects forged or replayed
// ones. Delays run on the time package's timers, so under
// testing/synctest a whole pair runs on fake time.
package hatest

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/ha"
)

// Link is the faults on the packets one end sends.
type Link struct {
	Loss      float64       // probability that a packet is dropped
	Delay     time.Duration // one-way delay
	Jitter    time.Duration // extra random delay in [0, Jitter): reorders
	Duplicate float64       // probability that a packet arrives twice
	Reorder   float64       // probability that a packet is held back behind the next one
	Cut       bool          // drop everything: the LAN between the units is broken
}

// Stats counts one end's sent packets.
type Stats struct {
	Sent, Dropped, Delivered, Duplicated, Overflow int
}

// Pair is two connected ends, A and B.
type Pair struct {
	A, B *End

	mu  sync.Mutex // guards everything in both ends, and rnd
	rnd *rand.Rand
}

// End is one unit's side of the fake LAN; it implements ha.Transport.
type End struct {
	Name string
	pair *Pair
	peer *End
	ch   chan []byte

	// guarded by pair.mu
	link     Link
	held     []byte // a packet held back for reordering
	captured [][]byte
	stats    Stats
	closed   bool
}

var _ ha.Transport = (*End)(nil)

// maxCaptured bounds the capture of one end (10 minutes at 10 ms).
const maxCaptured = 100_000

// NewPair returns a connected pair with perfect links; seed makes the
// faults reproducible.
func NewPair(seed uint64) *Pair {
	p := &Pair{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.A = &End{Name: "A", pair: p, ch: make(chan []byte, 256)}
	p.B = &End{Name: "B", pair: p, ch: make(chan []byte, 256)}
	p.A.peer, p.B.peer = p.B, p.A
	return p
}

// SetLink sets the faults on the packets this end sends.
func (e *End) SetLink(l Link) {
	e.pair.mu.Lock()
	e.link = l
	e.pair.mu.Unlock()
}

// Cut breaks (or mends) the LAN both ways.
func (p *Pair) Cut(cut bool) {
	p.mu.Lock()
	p.A.link.Cut, p.B.link.Cut = cut, cut
	p.mu.Unlock()
}

// Send implements ha.Transport.
func (e *End) Send(b []byte) error {
	pkt := append([]byte(nil), b...)
	p := e.pair
	p.mu.Lock()
	defer p.mu.Unlock()
	e.stats.Sent++
	if len(e.captured) < maxCaptured {
		e.captured = append(e.captured, pkt)
	}
	l := e.link
	if l.Cut || l.Loss > 0 && p.rnd.Float64() < l.Loss {
		e.stats.Dropped++
		return nil
	}
	copies := 1
	if l.Duplicate > 0 && p.rnd.Float64() < l.Duplicate {
		copies = 2
		e.stats.Duplicated++
	}
	if l.Reorder > 0 && e.held == nil && p.rnd.Float64() < l.Reorder {
		e.held = pkt // goes out behind the next packet
		return nil
	}
	for range copies {
		e.scheduleLocked(pkt, l)
	}
	if e.held != nil {
		e.scheduleLocked(e.held, l)
		e.held = nil
	}
	return nil
}

func (e *End) scheduleLocked(pkt []byte, l Link) {
	d := l.Delay
	if l.Jitter > 0 {
		d += time.Duration(e.pair.rnd.Int64N(int64(l.Jitter)))
	}
	if d <= 0 {
		e.peer.deliverLocked(pkt, e)
		return
	}
	time.AfterFunc(d, func() {
		e.pair.mu.Lock()
		defer e.pair.mu.Unlock()
		e.peer.deliverLocked(pkt, e)
	})
}

// deliverLocked puts pkt in e's receive queue; from (may be nil) is
// charged the statistics.
func (e *End) deliverLocked(pkt []byte, from *End) {
	if e.closed {
		return
	}
	select {
	case e.ch <- pkt:
		if from != nil {
			from.stats.Delivered++
		}
	default:
		if from != nil {
			from.stats.Overflow++
		}
	}
}

// Recv implements ha.Transport.
func (e *End) Recv() <-chan []byte { return e.ch }

// Inject delivers b to this end at once, as if the peer had sent it:
// a forged, corrupted or replayed packet.
func (e *End) Inject(b []byte) {
	e.pair.mu.Lock()
	defer e.pair.mu.Unlock()
	e.deliverLocked(append([]byte(nil), b...), nil)
}

// Flush discards the packets waiting in this end's receive queue: a
// restarted process opens a new socket.
func (e *End) Flush() {
	for {
		select {
		case <-e.ch:
		default:
			return
		}
	}
}

// Captured returns the packets this end has sent so far (dropped ones
// included), oldest first.
func (e *End) Captured() [][]byte {
	e.pair.mu.Lock()
	defer e.pair.mu.Unlock()
	return append([][]byte(nil), e.captured...)
}

// Stats returns the counts of this end's sent packets.
func (e *End) Stats() Stats {
	e.pair.mu.Lock()
	defer e.pair.mu.Unlock()
	return e.stats
}

// Close closes this end's receive channel (the node's Run then returns);
// it may be called twice.
func (e *End) Close() error {
	e.pair.mu.Lock()
	defer e.pair.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.ch)
	}
	return nil
}

// Actions is a recording ha.Actions: the data plane's state as text,
// and every call.
type Actions struct {
	mu     sync.Mutex
	active bool
	calls  []string
	// Err, when set, is returned by the next calls (a failing netctl).
	Err error
}

var _ ha.Actions = (*Actions)(nil)

// BecomeActive implements ha.Actions.
func (a *Actions) BecomeActive(_ context.Context, cause string) error {
	return a.record("active", cause, true)
}

// BecomeStandby implements ha.Actions.
func (a *Actions) BecomeStandby(_ context.Context, cause string) error {
	return a.record("standby", cause, false)
}

// Announce implements ha.Actions.
func (a *Actions) Announce(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Err != nil {
		return a.Err
	}
	a.calls = append(a.calls, "announce")
	return nil
}

func (a *Actions) record(call, cause string, active bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Err != nil {
		return a.Err
	}
	a.active = active
	a.calls = append(a.calls, call+": "+cause)
	return nil
}

// SetErr makes the following calls fail with err (nil: succeed).
func (a *Actions) SetErr(err error) {
	a.mu.Lock()
	a.Err = err
	a.mu.Unlock()
}

// Active reports whether the data plane holds the active role.
func (a *Actions) Active() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active
}

// Calls returns every call so far: "active: <cause>", "standby: <cause>",
// "announce".
func (a *Actions) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// Count counts the calls of one kind ("active", "standby", "announce").
func (a *Actions) Count(kind string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		if c == kind || strings.HasPrefix(c, kind+": ") {
			n++
		}
	}
	return n
}

// Events is a recording ha.EventLog.
type Events struct {
	mu  sync.Mutex
	evs []Event
}

// Event is one recorded event.
type Event struct {
	Kind, Msg string
	Fields    map[string]any
}

var _ ha.EventLog = (*Events)(nil)

// Event implements ha.EventLog.
func (e *Events) Event(kind, msg string, fields map[string]any) {
	e.mu.Lock()
	e.evs = append(e.evs, Event{kind, msg, fields})
	e.mu.Unlock()
}

// All returns the events so far.
func (e *Events) All() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.evs...)
}

// Kind returns the events of one kind.
func (e *Events) Kind(kind string) []Event {
	var out []Event
	for _, ev := range e.All() {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}
