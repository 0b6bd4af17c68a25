package ha

import (
	"errors"
	"fmt"
	"time"
)

// ErrReplayed: an authentic heartbeat that is not new (an old sequence
// number or boot id), or a new boot id while the current one is live.
var ErrReplayed = errors.New("ha: replayed heartbeat")

// recentBoots is how many former boot ids of a peer are remembered.
const recentBoots = 8

// ReplayGuard accepts each authentic heartbeat of a peer at most once and
// in order. Per peer (unit id) it keeps the current boot id with its
// highest sequence number and the last few former boot ids with theirs.
//
// A restart of the peer: the new process draws a fresh random 64-bit boot
// id and counts from 1. An unseen boot id is adopted once the current
// boot has been silent for the dead time (a peer cannot speak from two
// boots at once, and a restart takes at least that long); until then its
// packets are counted as replayed. The old boot id is remembered.
//
// A replay of an old capture carries either the current boot id with a
// sequence number at or below the highest seen (rejected), or a former
// boot id (rejected unless its sequence number is above the highest seen
// for it and the current boot is silent — only packets this unit never
// received can pass, and only while the real peer is silent, which the
// election already treats as a dead peer), or a boot id never seen:
// rejected while the current boot is live. The residual risk: this unit
// remembers nothing across its own restart, so in the dead time after it
// starts, before it has heard the real peer, a capture of an old boot can
// be adopted; the real peer's packets then win back its boot once the
// replay stops for the dead time. A persisted boot counter would close
// that window; it costs a flash write per start.
//
// A ReplayGuard is not safe for concurrent use.
type ReplayGuard struct {
	dead  time.Duration
	peers map[string]*peerBoots
}

type peerBoots struct {
	cur    bootSeq
	heard  time.Time // last accepted packet of cur
	former []bootSeq // oldest first, at most recentBoots
}

type bootSeq struct {
	boot, seq uint64
}

// NewReplayGuard returns a guard that lets a new boot id take over after
// the current one has been silent for dead.
func NewReplayGuard(dead time.Duration) *ReplayGuard {
	return &ReplayGuard{dead: dead, peers: map[string]*peerBoots{}}
}

// Check accepts the heartbeat (and remembers it) or returns ErrReplayed
// wrapped with the reason. restarted reports an adopted new boot id.
func (g *ReplayGuard) Check(now time.Time, h *Heartbeat) (restarted bool, err error) {
	p := g.peers[h.UnitID]
	if p == nil {
		if len(g.peers) >= 4 {
			clear(g.peers) // only a misconfigured LAN has more; start over
		}
		g.peers[h.UnitID] = &peerBoots{cur: bootSeq{h.BootID, h.Seq}, heard: now}
		return false, nil
	}
	if h.BootID == p.cur.boot {
		if h.Seq <= p.cur.seq {
			return false, &replayError{"sequence number not above the highest seen", h.Seq, p.cur.seq}
		}
		p.cur.seq = h.Seq
		p.heard = now
		return false, nil
	}
	silent := now.Sub(p.heard) > g.dead
	for i, f := range p.former {
		if f.boot != h.BootID {
			continue
		}
		if h.Seq <= f.seq {
			return false, &replayError{"former boot id", h.Seq, f.seq}
		}
		if !silent {
			return false, &replayError{"former boot id while the current boot is live", h.Seq, f.seq}
		}
		p.former = append(p.former[:i], p.former[i+1:]...)
		p.retire()
		p.cur, p.heard = bootSeq{h.BootID, h.Seq}, now
		return true, nil
	}
	if !silent {
		return false, &replayError{"new boot id while the current boot is live", h.Seq, 0}
	}
	p.retire()
	p.cur, p.heard = bootSeq{h.BootID, h.Seq}, now
	return true, nil
}

func (p *peerBoots) retire() {
	if len(p.former) == recentBoots {
		p.former = append(p.former[:0], p.former[1:]...)
	}
	p.former = append(p.former, p.cur)
}

type replayError struct {
	why       string
	seq, high uint64
}

func (e *replayError) Error() string {
	if e.high == 0 {
		return fmt.Sprintf("%v: %s (seq %d)", ErrReplayed, e.why, e.seq)
	}
	return fmt.Sprintf("%v: %s (seq %d, highest seen %d)", ErrReplayed, e.why, e.seq, e.high)
}

func (e *replayError) Unwrap() error { return ErrReplayed }
