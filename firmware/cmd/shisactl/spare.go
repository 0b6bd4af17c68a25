package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shisa-gw/shisa/firmware/acceptance"
	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/fleet"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

const manualSpare = `  spare check [--format text|json|html] [--lang ja|en]
      The acceptance check (動作確認) of a unit put in service, such as the
      spare just swapped in: LAN and WAN links and addresses, default
      route, every datacenter endpoint (health, probes and a recent
      WireGuard handshake), each cloud service of probe.targets (a TCP
      connection through the tunnel), the clock (a fresh NTP measurement
      when time_sync.servers is set), free space, temperature, the UPS,
      the firmware version and slot, and in a hot-standby pair the
      virtual IP. Prints pass or fail per item with
      its figures, failed items first, in Japanese by default; --format
      html prints a page to keep or print, with lines for signatures. The
      report is also journaled (acceptance.result), so the datacenter
      receives it with the events it polls: no phone call needed. Exit
      status 0 when every item passed, 1 otherwise.

  spare activate PACK [--passphrase-file FILE] [--format text|json|html]
                 [--lang ja|en] [--timeout 3m]
      Activate this spare with a site pack (from 'site export' or the
      datacenter): the pack is verified (signed by a key the image trusts,
      not older than a pack of the same site this box ran before) and
      decrypted, installed in one atomic step, the site starts, and once
      the tunnel is up the acceptance check runs; its report is printed as
      by 'spare check'. A pack sealed to a passphrase asks for it on the
      terminal (or reads FILE; '-' is standard input). Progress is printed
      as it goes; the LEDs show it too (README "Spare units"). A refused
      pack changes nothing and the message says why. Exit status 0 when
      the acceptance check passed, 1 otherwise. The same without a laptop:
      put the pack (sealed to this unit) on a USB stick and hold the button
      for 5 seconds.

  spare prepare [--site SITE] [--lang ja|en]
      Turn this unit into a shelf spare: wipe the site's configuration and
      secrets (SITE must name the installed site, as a confirmation; on a
      unit that is already a spare, leave --site out), keep the image and
      the datacenter's keys, make a fresh age identity (so the datacenter
      can seal a pack to this unit), run a bench self-test and journal the
      result (spare.prepared). shisad then runs as a spare;
      'shisactl status' says whether it is ready for storage. Exit status
      0 when the self-test passed, 1 otherwise.

`

func cmdSpare(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprint(w, "USAGE\n"+manualSpare)
		return nil
	}
	if len(args) < 1 {
		return usageError{"usage: shisactl spare check|activate|prepare ... (see 'shisactl spare --help')"}
	}
	switch args[0] {
	case "check":
		return cmdSpareCheck(ctx, c, args[1:], w)
	case "activate":
		return cmdSpareActivate(c, args[1:], w)
	case "prepare":
		return cmdSparePrepare(ctx, c, args[1:], w)
	}
	return usageError{fmt.Sprintf("spare: unknown subcommand %q (check, activate or prepare)", args[0])}
}

// reportFlags are the report options of check and activate.
type reportFlags struct{ format, lang *string }

func (r reportFlags) valid(cmd string) error {
	switch *r.format {
	case "text", "json", "html":
	default:
		return usageError{fmt.Sprintf("%s: --format %q: want text, json or html", cmd, *r.format)}
	}
	if *r.lang != "ja" && *r.lang != "en" {
		return usageError{fmt.Sprintf("%s: --lang %q: want ja or en", cmd, *r.lang)}
	}
	return nil
}

// print writes the acceptance report; errCheckFailed when it failed.
func (r reportFlags) print(w io.Writer, rep *api.Acceptance, site, unit string) error {
	var err error
	switch *r.format {
	case "json":
		err = printJSON(w, rep)
	case "html":
		_, err = w.Write(acceptance.HTML(*rep, site, unit, *r.lang))
	default:
		_, err = fmt.Fprint(w, acceptance.Text(*rep, site, unit, *r.lang))
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return errCheckFailed
	}
	return nil
}

func cmdSpareCheck(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	fs := flags("spare check")
	rf := reportFlags{fs.String("format", "text", ""), fs.String("lang", "ja", "")}
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := rf.valid("spare check"); err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if st.Spare != nil {
		return errors.New("this unit is a spare with no site: there is nothing to check yet (activate it: 'shisactl spare activate PACK')")
	}
	r, err := c.Acceptance(ctx)
	if err != nil {
		return err
	}
	return rf.print(w, r, st.Site, st.Unit)
}

func cmdSpareActivate(c *api.Client, args []string, w io.Writer) error {
	fs := flags("spare activate")
	passFile := fs.String("passphrase-file", "", "")
	timeout := fs.Duration("timeout", 3*time.Minute, "")
	rf := reportFlags{fs.String("format", "text", ""), fs.String("lang", "ja", "")}
	packPath, err := parseOneArg(fs, args, "PACK (usage: shisactl spare activate PACK [--passphrase-file FILE] [--format text|json|html] [--lang ja|en])")
	if err != nil {
		return err
	}
	if err := rf.valid("spare activate"); err != nil {
		return err
	}
	if *timeout <= 0 || *timeout > time.Hour {
		return usageError{fmt.Sprintf("spare activate: --timeout %v: want more than 0, at most 1h", *timeout)}
	}
	// Progress goes to stderr when the report is for a machine or a file.
	progress := w
	if *rf.format != "text" {
		progress = os.Stderr
	}
	start := time.Now()
	step := func(format string, a ...any) {
		fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	data, err := sitepack.ReadFile(packPath)
	if err != nil {
		return fmt.Errorf("spare activate: %w", err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if st.Spare == nil {
		return fmt.Errorf("spare activate: this unit already serves site %s (unit %s): it is not a spare. To replace its site, run 'shisactl spare prepare --site %s' first", st.Site, st.Unit, st.Site)
	}
	req := api.ActivateRequest{Pack: data}
	if *passFile != "" {
		if req.Passphrase, err = readPassphrase(*passFile); err != nil {
			return fmt.Errorf("spare activate: %w", err)
		}
	} else if sealing, err := sitepack.PeekSealing(data); err == nil && sealing == sitepack.SealPassphrase {
		if req.Passphrase, err = promptPassphrase(); err != nil {
			return fmt.Errorf("spare activate: %w", err)
		}
	}
	step("verifying and installing %s (%d bytes)", packPath, len(data))
	a, err := c.Activate(ctx, req)
	if err != nil {
		return fmt.Errorf("spare activate: %w", err)
	}
	step("installed: site %s, serial %d, from %s, vouched for by key %s", a.Site, a.Serial, a.From, a.Signer)
	step("starting the site (local API %s)", a.Socket)
	sc := api.NewClient(a.Socket)
	var last tunnel.State = -1
	for {
		st, err := sc.Status(ctx)
		switch {
		case err != nil:
			// The site's daemon is still opening its socket.
		case st.Spare != nil:
			// The spare has not let go of the socket yet.
		default:
			if st.Tunnel.State != last {
				last = st.Tunnel.State
				what := fmt.Sprintf("tunnel %s", st.Tunnel.State)
				switch {
				case st.Tunnel.State == tunnel.Up:
					what += " via " + st.Tunnel.Active
				case st.Tunnel.State == tunnel.Stopped && st.Pair != nil:
					what = "hot-standby pair: this unit is " + st.Pair.Role.String() + "; the active unit holds the tunnel"
				case st.Tunnel.Reason != "":
					what += " (" + st.Tunnel.Reason + ")"
				}
				step("%s", what)
			}
			if r := st.Acceptance; r != nil {
				step("acceptance check done in %.1f s: %s", r.TookS, map[bool]string{true: "passed", false: "FAILED"}[r.OK])
				return rf.print(w, r, st.Site, st.Unit)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("spare activate: no acceptance result within %s; the site is installed: see 'shisactl status' and run 'shisactl spare check'", *timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func cmdSparePrepare(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	fs := flags("spare prepare")
	site := fs.String("site", "", "")
	lang := fs.String("lang", "ja", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if st.Spare == nil && *site == "" {
		return usageError{fmt.Sprintf("spare prepare: this unit serves site %s: give --site %s to confirm that its configuration and secrets are wiped", st.Site, st.Site)}
	}
	sp, err := c.Prepare(ctx, *site)
	if err != nil {
		return fmt.Errorf("spare prepare: %w", err)
	}
	if *site != "" {
		fmt.Fprintf(w, "site %s wiped; this unit is now a spare\n", *site)
	}
	printSpareTest(w, sp, *lang)
	if !sp.Ready {
		return errors.New("the bench self-test failed: this unit is not fit for the shelf (see the NG items above)")
	}
	return nil
}

// printSpareTest prints a spare's readiness and its bench self-test.
func printSpareTest(w io.Writer, sp *api.Spare, lang string) {
	verdict := "NOT READY for storage"
	if sp.Ready {
		verdict = "READY for storage"
	}
	if sp.PreparedAt != nil {
		verdict += " (prepared " + sp.PreparedAt.Local().Format("2006-01-02 15:04") + ")"
	} else {
		verdict += " (never prepared: run 'shisactl spare prepare' before it goes on the shelf)"
	}
	fmt.Fprintf(w, "spare     %s\n", verdict)
	if sp.Recipient != "" {
		fmt.Fprintf(w, "recipient %s  (seal a pack to this unit: site export --to …)\n", sp.Recipient)
	}
	fmt.Fprintf(w, "trusted   %s\n", strings.Join(sp.Trusted, ", "))
	fmt.Fprint(w, acceptance.ItemLines(sp.SelfTest, lang))
}

// printSpareStatus is `shisactl status` on a spare.
func printSpareStatus(w io.Writer, st *api.Status) {
	sp := st.Spare
	fmt.Fprintf(w, "SPARE UNIT: no site installed  box %s  shisad %s  up %s\n", st.Box, st.Version, fleet.Age(time.Duration(st.Uptime*float64(time.Second))))
	printSpareTest(w, sp, "en")
	switch sp.State {
	case api.SpareActivating:
		fmt.Fprintln(w, "state     activating a site pack")
	case api.SpareRefused:
		fmt.Fprintf(w, "state     the last site pack was refused: %s\n", sp.LastError)
	default:
		how := "'shisactl spare activate PACK'"
		if sp.Button {
			how += ", or hold the button 5 s with the pack on a USB stick"
		}
		fmt.Fprintf(w, "state     waiting for a site pack: %s\n", how)
	}
	printRecent(w, st)
}

// readPassphrase reads the first line of path ("-": standard input).
func readPassphrase(path string) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// promptPassphrase asks on the terminal, without echo.
func promptPassphrase() (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errors.New("the pack is sealed to a passphrase and there is no terminal to ask for it: use --passphrase-file FILE (or - for standard input)")
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		noEcho := *old
		noEcho.Lflag &^= unix.ECHO
		if unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho) == nil {
			defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
		}
	}
	fmt.Fprint(tty, "passphrase of the site pack: ")
	line, err := bufio.NewReader(io.LimitReader(tty, 1024)).ReadString('\n')
	fmt.Fprintln(tty)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// errCheckFailed makes the exit status 1 after a report that says why.
var errCheckFailed = checkFailed{}

type checkFailed struct{}

func (checkFailed) Error() string { return "the acceptance check failed (see the NG items above)" }
