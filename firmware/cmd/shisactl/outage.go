package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
)

// manualOutage is this command's section of the manual (issue 4).
const manualOutage = `
  outage add --start TIME --end TIME [--reason TEXT] [--id ID] [--json]
      Plan a power outage (計画停電): the box shuts itself down power.lead
      (default 5 minutes) before START, arms its return for END (the UPS's
      restart delay and the RTC wake alarm), comes back after the power does,
      and closes the window in its journal. The datacenter is told at once
      (outage.planned) and sees it in the status and the metrics. TIME is in
      the site's time zone (time_zone, JST by default), written
      "2026-12-05 08:00" (seconds optional, a T instead of the space is
      fine), or in RFC 3339 with its own offset ("2026-12-04T23:00:00Z").
      Quote a TIME that has a space. Refused, and nothing changed, when the
      window starts in the past, ends before it starts, or overlaps another
      window or restart: the message says which and names the other one.
      ID defaults to o-YYYYMMDD-HHMM of the start.

  outage list [--json]
      The planned windows and scheduled restarts, by start, in the site's
      time zone, with when the box will shut down for each.

  outage cancel ID [--json]
      Cancel a planned window or a scheduled restart before the box shuts
      down for it (outage.cancelled is journaled). Refused once the box is
      shutting down.
`

// powerClient is what the outage and power commands need of the local API.
type powerClient interface {
	Outages(ctx context.Context) (*api.OutageList, error)
	AddOutage(ctx context.Context, req api.OutageRequest) (*api.Outage, error)
	CancelOutage(ctx context.Context, id string) (*api.Outage, error)
	Power(ctx context.Context) (*api.PowerStatus, error)
	Restart(ctx context.Context, req api.RestartRequest) (*api.RestartAnswer, error)
}

var _ powerClient = (*api.Client)(nil)

// wantsHelp reports whether args ask for the manual section.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" || a == "help" {
			return true
		}
	}
	return false
}

func cmdOutage(ctx context.Context, c powerClient, args []string, w io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprint(w, "USAGE"+manualOutage)
		return nil
	}
	if len(args) == 0 {
		return usageError{"usage: shisactl outage add|list|cancel … (see 'shisactl help')"}
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "add":
		return outageAdd(ctx, c, rest, w)
	case "list":
		fs := flags("outage list")
		asJSON := fs.Bool("json", false, "")
		if err := parse(fs, rest); err != nil {
			return err
		}
		l, err := c.Outages(ctx)
		if err != nil {
			return fmt.Errorf("outage list: %w", err)
		}
		if *asJSON {
			return printJSON(w, l)
		}
		printOutages(w, l.Outages, siteZone(l.TimeZone))
		return nil
	case "cancel":
		var id string
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			id, rest = rest[0], rest[1:]
		}
		fs := flags("outage cancel")
		asJSON := fs.Bool("json", false, "")
		if err := parse(fs, rest); err != nil {
			return err
		}
		if id == "" {
			return usageError{"usage: shisactl outage cancel ID (see 'shisactl outage list')"}
		}
		o, err := c.CancelOutage(ctx, id)
		if err != nil {
			return fmt.Errorf("outage cancel %s: %w", id, err)
		}
		if *asJSON {
			return printJSON(w, o)
		}
		fmt.Fprintf(w, "cancelled %s (%s)\n", o.ID, span(*o, zoneOf(*o)))
		return nil
	}
	return usageError{fmt.Sprintf("outage: unknown subcommand %q (want add, list or cancel)", args[0])}
}

func outageAdd(ctx context.Context, c powerClient, args []string, w io.Writer) error {
	fs := flags("outage add")
	start := fs.String("start", "", "")
	end := fs.String("end", "", "")
	reason := fs.String("reason", "", "")
	id := fs.String("id", "", "")
	asJSON := fs.Bool("json", false, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *start == "" || *end == "" {
		return usageError{`outage add: --start and --end are required, e.g. --start "2026-12-05 08:00" --end "2026-12-05 17:00" (site time)`}
	}
	o, err := c.AddOutage(ctx, api.OutageRequest{ID: *id, Start: *start, End: *end, Reason: *reason})
	if err != nil {
		return fmt.Errorf("outage add: %w", err)
	}
	if *asJSON {
		return printJSON(w, o)
	}
	loc := zoneOf(*o)
	fmt.Fprintf(w, "planned %s: %s\n", o.ID, span(*o, loc))
	if now().Before(o.ShutdownAt) {
		fmt.Fprintf(w, "the box shuts down at %s and comes back after the power returns at the end\n", o.ShutdownAt.In(loc).Format("2006-01-02 15:04:05 MST"))
	} else {
		fmt.Fprintf(w, "the window starts within power.lead: the box shuts down NOW, and comes back after the power returns at the end (cancel at once with: shisactl outage cancel %s)\n", o.ID)
	}
	return nil
}

// now is the clock; tests replace it.
var now = time.Now

// siteZone loads the site's zone by name; the times' own offsets are
// used when it cannot be loaded.
func siteZone(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil && name != "" {
		return loc
	}
	return nil
}

// zoneOf is the zone a window's times were sent in, named JST where it is
// +09:00 (the default site zone).
func zoneOf(o api.Outage) *time.Location {
	if _, off := o.Start.Zone(); off == 9*3600 {
		return time.FixedZone("JST", off)
	}
	return o.Start.Location()
}

func inZone(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		return t
	}
	return t.In(loc)
}

func span(o api.Outage, loc *time.Location) string {
	const layout = "2006-01-02 15:04 MST"
	if o.Restart {
		return "restart at " + inZone(o.Start, loc).Format(layout)
	}
	s := inZone(o.Start, loc).Format(layout) + " to " + inZone(o.End, loc).Format(layout)
	if o.Reason != "" {
		s += ": " + o.Reason
	}
	return s
}

func printOutages(w io.Writer, os []api.Outage, loc *time.Location) {
	if len(os) == 0 {
		fmt.Fprintln(w, "no planned outages or restarts")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTART\tEND\tSHUTS DOWN\tREASON")
	const layout = "2006-01-02 15:04 MST"
	for _, o := range os {
		kind, end := "outage", inZone(o.End, loc).Format(layout)
		if o.Restart {
			kind, end = "restart", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, kind, inZone(o.Start, loc).Format(layout), end, inZone(o.ShutdownAt, loc).Format(layout), o.Reason)
	}
	tw.Flush()
}
