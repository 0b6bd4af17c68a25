package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/shisa-gw/shisa/firmware/acceptance"
	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/daemon"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/sim"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/firmware/spare"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
	"github.com/shisa-gw/shisa/netctl"
)

// SpareOptions tunes the spare's morning.
type SpareOptions struct {
	Dir    string // "" makes a temporary one
	Out    io.Writer
	Logger *slog.Logger
}

// SpareResult holds what the spare's morning showed.
type SpareResult struct {
	Ready           bool          // the spare's bench self-test passed
	ButtonToRunning time.Duration // button pressed → acceptance passed
	Accepted        bool
	LEDs            []string // the LED patterns shown, in order
}

// RunSpare plays seed row 34 on the simulated board: a shelf spare is
// prepared; the datacenter seals the site's pack to it and puts it on a
// USB stick; the technician plugs the stick in and holds the button for
// five seconds; the spare installs the pack, becomes the site's box,
// brings the tunnel up, and the acceptance check (動作確認) passes.
func RunSpare(ctx context.Context, opts SpareOptions) (res SpareResult, err error) {
	st, err := newStage(opts.Out, opts.Logger, opts.Dir, "shisa-demo-spare-")
	if err != nil {
		return res, err
	}
	defer st.close()
	out, log, dir, say := st.out, st.log, st.dir, st.say
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	siteKey, dc, err := oneEndpointDC(log)
	if err != nil {
		return res, err
	}
	defer dc.Close()
	if err := dc.ListenTCPEcho(ctx, tcpEchoAddr); err != nil {
		return res, err
	}

	// The datacenter's signing key; its public half is in the image.
	dcPub, dcKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return res, err
	}
	trusted := filepath.Join(dir, "image", "trusted")
	usb := filepath.Join(dir, "usb")
	unit := filepath.Join(dir, "unit")
	for _, d := range []string{trusted, usb, unit} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return res, err
		}
	}
	if err := os.WriteFile(filepath.Join(trusted, "datacenter.pub"), []byte(sitepack.FormatPublicKey(dcPub)+"\n"), 0o644); err != nil {
		return res, err
	}

	board := halsim.NewBoard()
	button := board.Line("button")
	leds := hal.LEDs{Power: board.LED("power"), Tunnel: board.LED("tunnel"), Fault: board.LED("fault")}
	var shown []string
	show := func() {
		s := fmt.Sprintf("power %s, tunnel %s, fault %s", leds.Power.(*halsim.LED).Pattern(), leds.Tunnel.(*halsim.LED).Pattern(), leds.Fault.(*halsim.LED).Pattern())
		if len(shown) == 0 || shown[len(shown)-1] != s {
			shown = append(shown, s)
			say("LEDs: %s", s)
		}
	}
	socket := filepath.Join(unit, "shisad.sock")
	so := spare.Options{
		SiteDir: filepath.Join(unit, "site"), StateDir: filepath.Join(unit, "state"), TrustedDir: trusted,
		Socket: socket, Box: "spare-0012", Version: "demo", Logger: log,
		LEDs: leds, Button: button, PackGlobs: []string{filepath.Join(usb, "*"+spare.PackExt)},
		Firmware: inventory.Firmware{Version: "demo", Slot: "a"},
	}
	type ran struct {
		a   *api.Activated
		err error
	}
	done := make(chan ran, 1)
	go func() { a, err := spare.Run(ctx, so); done <- ran{a, err} }()
	c := api.NewClient(socket)
	var spareSt *api.Status
	if err := waitFor(ctx, 5*time.Second, func() bool { s, err := c.Status(ctx); spareSt = s; return err == nil }); err != nil {
		return res, fmt.Errorf("demo: the spare does not answer: %w", err)
	}
	say("a box from the shelf boots with no site: %s, role %s", spareSt.Box, spareSt.Role)
	sp, err := c.Prepare(ctx, "")
	if err != nil {
		return res, err
	}
	res.Ready = sp.Ready
	if !sp.Ready {
		return res, fmt.Errorf("demo: the spare's bench self-test failed: %v", selfcheck.FailedNames(sp.SelfTest))
	}
	say("spare prepare (on the bench, earlier): bench self-test %s; its age recipient %s…", map[bool]string{true: "passed, READY for storage", false: "FAILED"}[sp.Ready], sp.Recipient[:16])
	show()

	// The datacenter seals the site's pack to this spare.
	cfg, err := spareSiteConfig(dc.Endpoints())
	if err != nil {
		return res, err
	}
	exportKey, cert, err := sitepack.NewExportKey(dcKey, "demo-site")
	if err != nil {
		return res, err
	}
	pack, err := sitepack.Seal(sitepack.Contents{
		Site: "demo-site", Unit: sitepack.DatacenterUnit, Serial: 1, Created: time.Now(),
		Config: cfg, WireGuardKey: siteKey, ExportKey: exportKey, ExportCert: cert,
	}, sitepack.SealOptions{Signer: dcKey, Recipient: sp.Recipient})
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(usb, "demo-site-1"+spare.PackExt), pack, 0o644); err != nil {
		return res, err
	}
	say("the datacenter seals site demo-site's pack to this spare (%d bytes, signed by key %s) and puts it on a USB stick", len(pack), sitepack.Fingerprint(dcPub))

	pressed := time.Now()
	board.Set("button", true)
	say("the technician plugs the stick in and holds the button")
	var r ran
	for waiting := true; waiting; {
		select {
		case r = <-done:
			waiting = false
		case <-time.After(250 * time.Millisecond):
			show()
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	board.Set("button", false)
	show()
	if r.err != nil || r.a == nil {
		return res, fmt.Errorf("demo: the spare did not activate: %v", r.err)
	}
	say("held %.1f s: pack verified and installed: site %s, serial %d, from %s", time.Since(pressed).Seconds(), r.a.Site, r.a.Serial, r.a.From)

	site, err := config.Load(filepath.Join(so.SiteDir, sitepack.ConfigFile))
	if err != nil {
		return res, err
	}
	d, err := daemon.New(daemon.Options{Site: site, Version: "demo", Logger: log, Box: so.Box, Activated: true,
		LEDs: leds, StateDir: so.StateDir, TrustedDir: trusted, Inspector: simPorts{}})
	if err != nil {
		return res, err
	}
	ddone := make(chan error, 1)
	go func() { ddone <- d.Run(ctx) }()
	defer func() {
		cancel()
		if e := <-ddone; e != nil {
			err = errors.Join(err, e)
		}
	}()
	say("the site starts on the spare")
	var acc *api.Acceptance
	if err := waitFor(ctx, 30*time.Second, func() bool {
		show()
		acc = d.Status().Acceptance
		return acc != nil
	}); err != nil {
		return res, fmt.Errorf("demo: no acceptance check: %w", err)
	}
	res.ButtonToRunning, res.Accepted = time.Since(pressed), acc.OK
	time.Sleep(300 * time.Millisecond)
	show()
	say("acceptance check %s, %.1f s after the button was pressed (5 s of it holding the button); the report, journaled for the datacenter:",
		map[bool]string{true: "PASSED", false: "FAILED"}[acc.OK], res.ButtonToRunning.Seconds())
	fmt.Fprint(out, acceptance.Text(*acc, site.Site, site.Unit, "ja"))
	res.LEDs = shown
	if !acc.OK {
		return res, fmt.Errorf("demo: the acceptance check failed: %v", acceptance.Failed(*acc))
	}
	return res, nil
}

// spareSiteConfig is the site's site.yaml as the datacenter keeps it:
// relative paths, resolved in the unit's site directory.
func spareSiteConfig(eps []*sim.Endpoint) ([]byte, error) {
	if len(eps) == 0 {
		return nil, errors.New("no endpoint")
	}
	e := eps[0]
	return fmt.Appendf(nil, `site: demo-site
unit: a
wan: {interface: demo-wan}
lan: {interface: demo-lan}
tunnel:
  interface: wg-demo-spare
  backend: netstack
  private_key_file: keys/site.key
  listen_port: 0
  address: %s
  routes: [10.20.0.0/16]
  endpoints:
    - {name: %s, endpoint: %q, public_key: %q, probe: %s}
probe:
  targets: [%s]
api:
  socket: ../shisad.sock
journal:
  dir: ../state/journal
`, tunnelAddr, e.Name, e.Address().String(), e.PublicKey().String(), e.Probe, tcpEchoAddr), nil
}

// simPorts is the simulated board's two Ethernet ports, cabled, with the
// office router answering on the WAN side.
type simPorts struct{}

func (simPorts) Link(name string) (netctl.LinkInfo, error) {
	if name != "demo-wan" && name != "demo-lan" {
		return netctl.LinkInfo{}, fmt.Errorf("%s: %w", name, netctl.ErrNoLink)
	}
	return netctl.LinkInfo{Name: name, AdminUp: true, Carrier: true, OperState: "up", MTU: 1500,
		MAC: net.HardwareAddr{0x02, 0x5a, 0x5a, 0, 0, map[string]byte{"demo-wan": 1, "demo-lan": 2}[name]}}, nil
}

func (simPorts) DefaultRoutes() ([]netctl.DefaultRoute, error) {
	return []netctl.DefaultRoute{{Interface: "demo-wan", Gateway: netip.MustParseAddr("203.0.113.1")}}, nil
}

func (simPorts) Neighbor(string, netip.Addr) (netctl.NeighState, error) {
	return netctl.NeighReachable, nil
}
