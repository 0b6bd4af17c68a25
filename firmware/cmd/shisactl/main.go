// Command shisactl is the technician's and the datacenter operator's tool
// for shisa: it shows the daemon's status and events over the local API and
// checks site configuration files. Run `shisactl help` for the manual.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/fleet"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const manual = `shisactl — control and inspect a shisa VPN gateway

USAGE
  shisactl [--socket PATH] COMMAND [options]

COMMANDS
  status [--json]
      What the box is doing now: role, tunnel state, the active datacenter
      endpoint, every endpoint's health, last handshake age, bytes in and
      out, uptime, and the most recent events.

  events [--since N] [--limit N] [--json]
      Journal records after cursor N (default: the last 20). Each record has
      a sequence number; pass the last one you saw as --since to continue.

%s
  config check FILE
      Read a site configuration the way shisad would, and print every
      problem with its file, line and field, or a summary when it is good.
      Exit status 0 when the file is valid, 2 when it is not.

  key new FILE [--force]
      Make a new WireGuard private key for the site, write it to FILE with
      mode 0600 (atomically; an existing FILE is kept unless --force), and
      print the public key to give to the datacenter. The private key is
      never printed.

  token new FILE [--force]
      Make a new bearer token for the management API (health.token_file):
      32 random bytes, base64url, written to FILE with mode 0600. Give the
      file's content to the datacenter's collector over a safe channel; it
      is not printed.

  version
      Print shisactl's version.

  help
      Print this manual.

GLOBAL OPTIONS
  --socket PATH   shisad's local API socket (default /run/shisa/shisad.sock,
                  or $SHISA_SOCKET when set). The socket is mode 0660 and
                  owned by root: run shisactl as root.

EXAMPLES
  shisactl status
  shisactl events --since 120
  shisactl config check /etc/shisa/site.yaml
  shisactl key new /etc/shisa/site.key
  shisactl ha handover
  shisactl outage add --start "2026-12-05 08:00" --end "2026-12-05 17:00" --reason "electrical inspection"

EXIT STATUS
  0 success; 1 the daemon could not be reached or answered an error;
  2 bad usage or an invalid configuration file.
`

// manualText is the manual with each command file's section in place.
func manualText() string {
	return fmt.Sprintf(manual, manualReport+manualDiagnose+manualFleet+manualOutage+manualPower+manualHA+manualSpare+manualSite)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) int {
	socket := os.Getenv("SHISA_SOCKET")
	if socket == "" {
		socket = "/run/shisa/shisad.sock"
	}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch a := args[0]; {
		case a == "-h" || a == "--help" || a == "-help":
			fmt.Fprint(stdout, manualText())
			return 0
		case a == "--socket" || a == "-socket":
			if len(args) < 2 {
				return fail(stderr, usageError{"--socket needs a path"})
			}
			socket, args = args[1], args[2:]
		case strings.HasPrefix(a, "--socket="):
			socket, args = strings.TrimPrefix(a, "--socket="), args[1:]
		default:
			return fail(stderr, usageError{fmt.Sprintf("unknown option %s", a)})
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, manualText())
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := api.NewClient(socket)
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "help":
		fmt.Fprint(stdout, manualText())
	case "version":
		fmt.Fprintln(stdout, "shisactl", version)
	case "report":
		err = cmdReport(ctx, c, rest, stdout)
	case "diagnose":
		err = cmdDiagnose(ctx, c, rest, stdout)
	case "fleet":
		// Polling forty boxes takes longer than one request.
		err = cmdFleet(context.Background(), rest, stdout)
	case "outage":
		err = cmdOutage(ctx, c, rest, stdout)
	case "power":
		err = cmdPower(ctx, c, rest, stdout)
	case "status":
		err = cmdStatus(ctx, c, rest, stdout)
	case "ha":
		err = cmdHA(ctx, c, rest, stdout)
	case "site":
		err = cmdSite(rest, stdout)
	case "spare":
		// The check dials services and may take a few seconds more
		// (activate has its own --timeout).
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		err = cmdSpare(sctx, c, rest, stdout)
	case "events":
		err = cmdEvents(ctx, c, rest, stdout)
	case "key":
		if len(rest) < 1 || rest[0] != "new" {
			err = usageError{"usage: shisactl key new FILE [--force]"}
			break
		}
		err = cmdSecretNew("key new", rest[1:], stdout, func() (string, string, error) {
			k, err := wgtypes.GeneratePrivateKey()
			if err != nil {
				return "", "", err
			}
			return k.String(), "public key: " + k.PublicKey().String(), nil
		})
	case "token":
		if len(rest) < 1 || rest[0] != "new" {
			err = usageError{"usage: shisactl token new FILE [--force]"}
			break
		}
		err = cmdSecretNew("token new", rest[1:], stdout, func() (string, string, error) {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return "", "", err
			}
			return base64.RawURLEncoding.EncodeToString(b), "", nil
		})
	case "config":
		if len(rest) < 1 || rest[0] != "check" {
			err = usageError{"usage: shisactl config check FILE"}
			break
		}
		return cmdConfigCheck(rest[1:], stdout, stderr)
	default:
		err = usageError{fmt.Sprintf("unknown command %q (see 'shisactl help')", cmd)}
	}
	return fail(stderr, err)
}

func fail(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "shisactl:", err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

func flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Sprintf("%s: %v (see 'shisactl help')", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// parseOneArg parses flags around one positional argument (before or
// after the flags) and returns it; what names it in the usage error.
func parseOneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", usageError{fmt.Sprintf("%s: %v (see 'shisactl help')", fs.Name(), err)}
	}
	if arg == "" && fs.NArg() > 0 {
		arg = fs.Arg(0)
		if fs.NArg() > 1 {
			return "", usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(1))}
		}
	} else if fs.NArg() > 0 {
		return "", usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	if arg == "" {
		return "", usageError{fmt.Sprintf("%s: %s is missing", fs.Name(), what)}
	}
	return arg, nil
}

func cmdStatus(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	fs := flags("status")
	asJSON := fs.Bool("json", false, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(w, st)
	}
	printStatus(w, st, time.Now())
	return nil
}

func printStatus(w io.Writer, st *api.Status, now time.Time) {
	if st.Spare != nil {
		printSpareStatus(w, st)
		return
	}
	t := st.Tunnel
	box := ""
	if st.Box != "" && st.Box != st.Unit {
		box = "  box " + st.Box
	}
	fmt.Fprintf(w, "site %s  unit %s%s  shisad %s  up %s\n", st.Site, st.Unit, box, st.Version, fleet.Age(time.Duration(st.Uptime*float64(time.Second))))
	fmt.Fprintf(w, "role      %s\n", st.Role)
	if p := st.Pack; p != nil {
		line := fmt.Sprintf("site pack serial %d from %s, installed %s", p.Serial, p.From, p.InstalledAt.Local().Format("2006-01-02 15:04"))
		if p.Replaces != "" {
			line += " (this box replaced " + p.Replaces + ")"
		}
		fmt.Fprintf(w, "pack      %s\n", line)
	}
	if a := st.Acceptance; a != nil {
		v := "passed"
		if !a.OK {
			v = "FAILED: " + strings.Join(selfcheck.FailedNames(a.Items), ", ")
		}
		fmt.Fprintf(w, "accepted  acceptance check %s %s\n", v, a.At.Local().Format("2006-01-02 15:04:05"))
	}
	if st.Pair != nil {
		printPair(w, st.Pair, now)
	}
	if st.Pair != nil && st.Pair.Role != ha.Active && t.State == tunnel.Stopped {
		// The endpoints' figures are from when this unit was last active.
		fmt.Fprintf(w, "tunnel    held by the active unit (this one is %s; %s backend on %s, no datacenter peer)\n", st.Pair.Role, st.Backend, st.Interface)
		printRecent(w, st)
		return
	}
	fmt.Fprintf(w, "tunnel    %s via %s (%s keys, %s backend on %s) for %s\n", strings.ToUpper(t.State.String()), t.Active, t.Layout, st.Backend, st.Interface, fleet.Age(now.Sub(t.Since)))
	if t.Reason != "" {
		fmt.Fprintf(w, "reason    %s\n", t.Reason)
	}
	fmt.Fprintf(w, "switches  %d\n\n", t.Failovers)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tHEALTH\tACTIVE\tRTT\tHANDSHAKE\tRX\tTX\tADDRESS")
	for _, e := range t.Endpoints {
		act := ""
		if e.Active {
			act = "*"
		}
		hs := "never"
		if !e.LastHandshake.IsZero() {
			hs = fleet.Age(now.Sub(e.LastHandshake)) + " ago"
		}
		rtt := "-"
		if e.RTT > 0 {
			rtt = fmt.Sprintf("%.1fms", e.RTT)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Health, act, rtt, hs, sizeIEC(e.RxBytes), sizeIEC(e.TxBytes), e.Endpoint)
	}
	tw.Flush()
	printRecent(w, st)
}

func printRecent(w io.Writer, st *api.Status) {
	if len(st.Events) > 0 {
		fmt.Fprintln(w, "\nrecent events")
		printEvents(w, st.Events)
	}
}

func printEvents(w io.Writer, recs []journal.Record) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, r := range recs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05"), r.Kind, r.Msg)
	}
	tw.Flush()
}

func cmdEvents(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	fs := flags("events")
	since := fs.Int64("since", -1, "")
	limit := fs.Int("limit", 0, "")
	asJSON := fs.Bool("json", false, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	var recs []journal.Record
	if *since < 0 {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		// The status carries the newest events; page from before them.
		from := uint64(0)
		if len(st.Events) > 0 {
			last := st.Events[len(st.Events)-1].Seq
			if last > 20 {
				from = last - 20
			}
		}
		*since = int64(from)
	}
	p, err := c.Events(ctx, uint64(*since), *limit)
	if err != nil {
		return err
	}
	recs = p.Events
	if *asJSON {
		return printJSON(w, p)
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "no events after", *since)
		return nil
	}
	printEvents(w, recs)
	if p.More {
		fmt.Fprintf(w, "(more: shisactl events --since %d)\n", p.Next)
	}
	return nil
}

func cmdConfigCheck(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		return fail(stderr, usageError{"usage: shisactl config check FILE"})
	}
	site, err := config.Load(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%v\n", args[0], err)
		return 2
	}
	fmt.Fprintf(stdout, "%s is valid.\n\n%s", args[0], site.Summary())
	return 0
}

// cmdSecretNew writes a new secret made by gen to FILE (0600, atomically),
// keeping an existing FILE unless --force; it prints what gen says may be
// shown (a public key), never the secret.
func cmdSecretNew(name string, args []string, w io.Writer, gen func() (secret, show string, err error)) error {
	fs := flags(name)
	force := fs.Bool("force", false, "")
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if file == "" {
		return usageError{"usage: shisactl " + name + " FILE [--force]"}
	}
	if _, err := os.Stat(file); err == nil && !*force {
		return fmt.Errorf("%s exists and may be in use: pass --force to replace it", file)
	}
	secret, show, err := gen()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (mode 0600)\n", file)
	if show != "" {
		fmt.Fprintln(w, show)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func sizeIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
