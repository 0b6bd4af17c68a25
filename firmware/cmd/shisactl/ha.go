package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/fleet"
	"github.com/shisa-gw/shisa/firmware/ha"
)

const manualHA = `  ha handover [--clear]
      Move the active role of a hot-standby pair to the other unit on
      purpose, for maintenance: run it on the active unit. The peer must be
      alive and eligible (WAN, LAN and tunnel up); it takes the virtual IP and the
      tunnel at its next heartbeat and this unit steps down to standby. This
      unit then does not take the role back (even with pair.preempt) until
      the handover is cleared with --clear or shisad restarts. Refused, with
      the reason, on a standby, on a box without a pair, or when the peer is
      silent or sick. 'shisactl status' shows the result.

`

func cmdHA(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprint(w, "USAGE\n"+manualHA)
		return nil
	}
	if len(args) < 1 || args[0] != "handover" {
		return usageError{"usage: shisactl ha handover [--clear]"}
	}
	fs := flags("ha handover")
	clear := fs.Bool("clear", false, "")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	a, err := c.Handover(ctx, !*clear)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, a.Message)
	return nil
}

// printPair prints the pair's lines of `shisactl status`.
func printPair(w io.Writer, p *ha.Status, now time.Time) {
	line := fmt.Sprintf("pair      %s for %s, priority %d", strings.ToUpper(p.Role.String()), fleet.Age(now.Sub(p.Since)), p.Priority)
	if p.Effective != p.Priority {
		line += fmt.Sprintf(" (effective %d)", p.Effective)
	}
	line += ", health " + p.Health.String()
	if p.Handover {
		line += ", HANDING OVER"
	}
	fmt.Fprintln(w, line)
	if p.Reason != "" {
		fmt.Fprintf(w, "          because %s\n", p.Reason)
	}
	switch peer := p.Peer; {
	case peer == nil:
		fmt.Fprintln(w, "peer      never heard")
	default:
		state := "SILENT"
		if peer.Alive {
			state = strings.ToUpper(peer.Role.String())
		}
		fmt.Fprintf(w, "peer      %s %s, priority %d (effective %d), health %s, last heartbeat %s ago\n",
			peer.UnitID, state, peer.Priority, peer.Effective, peer.Health, ageMs(peer.AgeMs))
	}
	var rej []string
	for k, n := range p.Rejected {
		if n > 0 {
			rej = append(rej, fmt.Sprintf("%s %d", k, n))
		}
	}
	hb := fmt.Sprintf("heartbeats sent %d, accepted %d", p.Sent, p.Received)
	if len(rej) > 0 {
		hb += ", refused: " + strings.Join(rej, ", ")
	}
	if p.LastError != "" {
		hb += "; last action failed: " + p.LastError
	}
	fmt.Fprintf(w, "          %s\n", hb)
}

// ageMs writes a heartbeat age: milliseconds when short, else like Age.
func ageMs(ms float64) string {
	if ms < 10000 {
		return fmt.Sprintf("%.0fms", ms)
	}
	return fleet.Age(time.Duration(ms * float64(time.Millisecond)))
}
