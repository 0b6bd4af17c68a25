package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/fleet"
)

// manualPower is this command's section of the manual (issue 4).
const manualPower = `
  power status [--json]
      The power job: its state (online, on_battery, shutting_down, halted)
      and why, the UPS (source, flags such as OL/OB/LB, charge, runtime, or
      why its data is stale: a UPS lost while on battery counts as low
      battery), how the box powers off (systemd, or why it cannot), the
      grace, lead and budget, the planned outages, the last safe-shutdown
      sequence (safe to cut after, total, how the box comes back, failed
      steps) and the outage this start came back from ("back after …").

  power restart [--at TIME] [--reason TEXT] [--json]
      Restart the box through the safe-shutdown sequence (journal, tell the
      datacenter, tunnel down, flush, power off) with an immediate return
      (a reboot). Without --at it starts now and the tunnel goes down within
      seconds; with --at it is scheduled like an outage window, TIME as for
      outage add (site time, "2026-12-05 03:00", or RFC 3339), and can be
      cancelled with outage cancel. Refused while a shutdown is under way.
`

func cmdPower(ctx context.Context, c powerClient, args []string, w io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprint(w, "USAGE"+manualPower)
		return nil
	}
	if len(args) == 0 {
		return usageError{"usage: shisactl power status|restart … (see 'shisactl help')"}
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "status":
		fs := flags("power status")
		asJSON := fs.Bool("json", false, "")
		if err := parse(fs, rest); err != nil {
			return err
		}
		p, err := c.Power(ctx)
		if err != nil {
			return fmt.Errorf("power status: %w", err)
		}
		if *asJSON {
			return printJSON(w, p)
		}
		printPower(w, p)
		return nil
	case "restart":
		fs := flags("power restart")
		at := fs.String("at", "", "")
		reason := fs.String("reason", "", "")
		asJSON := fs.Bool("json", false, "")
		if err := parse(fs, rest); err != nil {
			return err
		}
		a, err := c.Restart(ctx, api.RestartRequest{At: *at, Reason: *reason})
		if err != nil {
			return fmt.Errorf("power restart: %w", err)
		}
		if *asJSON {
			return printJSON(w, a)
		}
		if a.Scheduled != nil {
			fmt.Fprintf(w, "restart scheduled as %s at %s (cancel with: shisactl outage cancel %s)\n",
				a.Scheduled.ID, a.Scheduled.Start.In(zoneOf(*a.Scheduled)).Format("2006-01-02 15:04:05 MST"), a.Scheduled.ID)
		} else {
			fmt.Fprintln(w, "restarting now: the safe-shutdown sequence runs and the box reboots (follow it with: shisactl events)")
		}
		return nil
	}
	return usageError{fmt.Sprintf("power: unknown subcommand %q (want status or restart)", args[0])}
}

func printPower(w io.Writer, p *api.PowerStatus) {
	fmt.Fprintf(w, "power       %s", strings.ToUpper(p.State))
	if p.Cause != "" {
		fmt.Fprintf(w, " (%s)", p.Cause)
	}
	fmt.Fprintln(w)
	if u := p.UPS; u != nil {
		fmt.Fprintf(w, "ups         %s  %s  %s", u.Source, u.State, strings.TrimSpace(u.Flags))
		if u.ChargePct >= 0 {
			fmt.Fprintf(w, "  charge %g%%", u.ChargePct)
		}
		if u.RuntimeS >= 0 {
			fmt.Fprintf(w, "  runtime %s", fleet.Age(time.Duration(u.RuntimeS*float64(time.Second))))
		}
		if u.Stale {
			fmt.Fprintf(w, "  STALE: %s", u.Reason)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "ups         none (ups.source none): only planned outages and restarts")
	}
	fmt.Fprintf(w, "power-off   %s\n", p.Controller)
	fmt.Fprintf(w, "settings    grace %s, lead %s, budget %s\n", secs(p.GraceS), secs(p.LeadS), secs(p.BudgetS))
	if b := p.Back; b != nil {
		fmt.Fprintf(w, "this start  %s\n", b.Msg)
	}
	if l := p.Last; l != nil {
		at := l.At
		if t, err := time.Parse(time.RFC3339Nano, l.At); err == nil {
			at = inZone(t, siteZone(p.TimeZone)).Format("2006-01-02 15:04:05 MST")
		}
		fmt.Fprintf(w, "shutdown    %s at %s: %s\n", l.Reason, at, l.Cause)
		safe := "not reported safe to cut (a flush or the UPS's arm failed, see below)"
		if l.SafeToCut {
			safe = fmt.Sprintf("safe to cut after %.3fs", l.SafeToCutS)
		}
		fmt.Fprintf(w, "            %s, total %.3fs, return by %s, powered off %v\n", safe, l.TotalS, l.Return, l.PoweredOff)
		for _, f := range l.Failed {
			fmt.Fprintf(w, "            failed: %s\n", f)
		}
	}
	fmt.Fprintf(w, "\nplanned outages (%s)\n", p.TimeZone)
	printOutages(w, p.Outages, siteZone(p.TimeZone))
}

func secs(s float64) string { return time.Duration(s * float64(time.Second)).String() }
