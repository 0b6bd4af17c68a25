package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Boxes is what the datacenter remembers between polls (`fleet status
// --state FILE`): which box answered for each target, and the boxes
// retired because a spare took their place.
//
// A box is retired when either
//   - a box answers reporting that its site pack came from it
//     (Status.Pack.Replaces: the failed unit exported the pack), or
//   - another box answers for a target in the same role (Status.Unit)
//     as the box it answered with before (the pack came from the
//     datacenter, or the spare's pack said nothing). The two units of a
//     hot-standby pair share the management address, so the box behind
//     a target changes at every handover or failover: a box of another
//     unit answering is the pair's other unit, not a replacement.
type Boxes struct {
	Seen    map[string]SeenBox `json:"seen"` // by target name
	Retired []Retired          `json:"retired"`
}

// SeenBox is the box last seen answering for a target.
type SeenBox struct {
	Box      string    `json:"box"`
	Site     string    `json:"site"`
	Unit     string    `json:"unit"`
	LastSeen time.Time `json:"last_seen"`
}

// Retired is a box taken out of service.
type Retired struct {
	Box        string    `json:"box"`
	Site       string    `json:"site"`
	Target     string    `json:"target"`
	ReplacedBy string    `json:"replaced_by"`
	At         time.Time `json:"at"`
	// Accepted: the replacement's acceptance check had passed when the
	// retirement was recorded.
	Accepted bool `json:"accepted"`
}

// ReadBoxes reads a state file: Boxes in JSON, as `fleet status --state`
// writes it.
func ReadBoxes(r io.Reader) (*Boxes, error) {
	var b Boxes
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&b); err != nil {
		return nil, fmt.Errorf("fleet state: %w", err)
	}
	if b.Seen == nil {
		b.Seen = map[string]SeenBox{}
	}
	return &b, nil
}

// Update records what a poll saw and returns the boxes it retired now.
// Results without a status, or whose status names no box, change nothing.
func (b *Boxes) Update(rs []Result, now time.Time) []Retired {
	if b.Seen == nil {
		b.Seen = map[string]SeenBox{}
	}
	var fresh []Retired
	retire := func(box string, r Result) {
		if box == "" || box == r.Status.Box || b.IsRetired(box) {
			return
		}
		ret := Retired{Box: box, Site: r.Status.Site, Target: r.Name, ReplacedBy: r.Status.Box, At: now,
			Accepted: r.Status.Acceptance != nil && r.Status.Acceptance.OK}
		b.Retired = append(b.Retired, ret)
		fresh = append(fresh, ret)
	}
	for _, r := range rs {
		st := r.Status
		if st == nil || st.Box == "" {
			continue
		}
		if st.Pack != nil {
			retire(st.Pack.Replaces, r)
		}
		if prev, ok := b.Seen[r.Name]; ok && prev.Unit == st.Unit {
			retire(prev.Box, r)
		}
		b.Seen[r.Name] = SeenBox{Box: st.Box, Site: st.Site, Unit: st.Unit, LastSeen: now}
	}
	return fresh
}

// IsRetired reports whether box was retired.
func (b *Boxes) IsRetired(box string) bool {
	return slices.ContainsFunc(b.Retired, func(r Retired) bool { return r.Box == box })
}

// WriteRetired prints retirements, one line each.
func WriteRetired(w io.Writer, rs []Retired) error {
	for _, r := range rs {
		acc := "acceptance check not yet passed"
		if r.Accepted {
			acc = "acceptance check passed"
		}
		if _, err := fmt.Fprintf(w, "RETIRED box %s of site %s (%s): replaced by box %s at %s, %s\n",
			r.Box, r.Site, r.Target, r.ReplacedBy, r.At.Local().Format("2006-01-02 15:04"), acc); err != nil {
			return err
		}
	}
	return nil
}
