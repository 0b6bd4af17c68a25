package main

import (
	"context"
	"fmt"
	"io"

	"github.com/shisa-gw/shisa/firmware/acceptance"
	"github.com/shisa-gw/shisa/firmware/api"
)

const manualSpare = `  spare check [--format text|json] [--lang ja|en]
      The acceptance check (動作確認) of a unit put in service, such as the
      spare just swapped in: LAN and WAN links, default route, every
      datacenter endpoint (health, probes and a recent WireGuard handshake),
      each cloud service of probe.targets (a TCP connection through the
      tunnel), the clock, free space, temperature, the UPS, the firmware
      version and slot, and in a hot-standby pair the virtual IP. Prints
      pass or fail per item with its figures, failed items first, in
      Japanese by default. The report is also journaled (acceptance.result),
      so the datacenter receives it with the events it polls: no phone call
      needed. Exit status 0 when every item passed, 1 otherwise.

`

func cmdSpare(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprint(w, "USAGE\n"+manualSpare)
		return nil
	}
	if len(args) < 1 || args[0] != "check" {
		return usageError{"usage: shisactl spare check [--format text|json] [--lang ja|en]"}
	}
	fs := flags("spare check")
	format := fs.String("format", "text", "")
	lang := fs.String("lang", "ja", "")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageError{fmt.Sprintf("spare check: --format %q: want text or json", *format)}
	}
	if *lang != "ja" && *lang != "en" {
		return usageError{fmt.Sprintf("spare check: --lang %q: want ja or en", *lang)}
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	r, err := c.Acceptance(ctx)
	if err != nil {
		return err
	}
	if *format == "json" {
		if err := printJSON(w, r); err != nil {
			return err
		}
	} else {
		fmt.Fprint(w, acceptance.Text(*r, st.Site, st.Unit, *lang))
	}
	if !r.OK {
		return errCheckFailed
	}
	return nil
}

// errCheckFailed makes the exit status 1 after a report that says why.
var errCheckFailed = checkFailed{}

type checkFailed struct{}

func (checkFailed) Error() string { return "the acceptance check failed (see the NG items above)" }
