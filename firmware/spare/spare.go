// Package spare is a unit's life without a site: the shelf spare. shisad
// runs it instead of the daemon when no site is installed (the config
// file does not exist in the site directory). A spare answers the local
// API (status, events, POST /v1/spare/activate), shows its state on the
// LEDs, and watches the technician button: held for five seconds, it
// activates the site pack it finds on a USB stick or already on the unit.
//
// Activation verifies and decrypts the pack (package sitepack: signed by a
// key the image trusts, sealed to a passphrase or to this unit), checks
// that its site.yaml loads, installs it atomically into the site directory
// and returns, so that shisad starts the site's daemon at once; that
// daemon brings the tunnel up and runs the acceptance check (動作確認).
//
// Prepare is the other way: it turns a unit serving a site into a spare
// (`shisactl spare prepare`): the site's files are wiped, the unit gets a
// fresh age identity (so the datacenter can seal a pack to it), and a
// bench self-test says whether it is fit for the shelf.
//
// The state a spare keeps is in StateDir/spare: identity (age X25519,
// 0600) and prepared.json (when, the self-test). Both are written with
// atomicfile.
package spare

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/watchdog"
)

// HoldTime is how long the technician holds the button to activate.
const HoldTime = 5 * time.Second

// holdTime is HoldTime; tests shorten it.
var holdTime = HoldTime

// PackExt is the site pack's file name extension.
const PackExt = ".shisapack"

// Options configures a spare.
type Options struct {
	// SiteDir is where a pack is installed: the site configuration's
	// directory, a link sitepack owns (/etc/shisa/site).
	SiteDir string
	// StateDir holds the spare's identity and prepared.json (in
	// StateDir/spare) and, by default, the journal.
	StateDir string
	// TrustedDir holds the datacenter's public keys (*.pub), from the
	// image: /usr/share/shisa/trusted.
	TrustedDir string
	// Socket is the local API socket.
	Socket string
	// JournalDir defaults to StateDir/journal (journal.dir's default).
	JournalDir string
	// Box names this box; Version is the firmware's.
	Box, Version string
	Firmware     inventory.Firmware
	Logger       *slog.Logger
	// LEDs show the state; zero LEDs show nothing.
	LEDs hal.LEDs
	// Button is the technician button; nil when the board has none.
	Button hal.Input
	// PackGlobs are where the button looks for a pack (USB sticks'
	// mount points, e.g. /media/*/*.shisapack); StateDir/spare/*.shisapack
	// is always looked at too.
	PackGlobs []string
	// Notifier replaces sd_notify (tests).
	Notifier watchdog.Notifier
	// ThermalDir replaces the board's /sys/class/thermal for the bench
	// self-test (tests).
	ThermalDir string
}

func (o *Options) spareDir() string { return filepath.Join(o.StateDir, "spare") }

// Unit is a running spare: the api backend of spare mode.
type Unit struct {
	o       Options
	log     *slog.Logger
	journal *journal.Journal
	started time.Time
	done    chan api.Activated // one activation, then Run returns

	op        sync.Mutex // held by an activation or a prepare (TryLock: one at a time)
	mu        sync.Mutex
	state     string // api.Spare… states
	lastError string
}

// Run serves a spare until ctx ends (it returns nil, nil) or a pack is
// installed (it returns what was activated: start the site now).
func Run(ctx context.Context, o Options) (*api.Activated, error) {
	if o.JournalDir == "" {
		o.JournalDir = filepath.Join(o.StateDir, "journal")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &Unit{o: o, log: log, started: time.Now(), done: make(chan api.Activated, 1), state: api.SpareWaiting}
	// Leftovers of a cut install or prepare hold secrets: wipe them.
	if err := sitepack.Sweep(o.SiteDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("sweeping leftovers beside the site directory", "dir", o.SiteDir, "err", err)
	}
	j, err := journal.Open(o.JournalDir, journal.Options{Logger: log.With("job", "journal")})
	if err != nil {
		return nil, fmt.Errorf("spare: opening the journal: %w", err)
	}
	u.journal = j
	defer j.Close()
	ln, err := api.ListenUnix(o.Socket)
	if err != nil {
		return nil, err
	}
	sp := u.spareStatus()
	msg := "no site installed: running as a spare"
	if sp.Ready {
		msg += ", ready for storage (prepared " + sp.PreparedAt.Local().Format("2006-01-02 15:04") + ")"
	} else if sp.PreparedAt == nil {
		msg += " (never prepared: run `shisactl spare prepare` on a unit serving a site, or activate this one)"
	}
	u.event(report.KindSpareStart, msg, map[string]any{"box": o.Box, "ready": sp.Ready, "version": o.Version})
	u.showLEDs()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wd := watchdog.New(watchdog.Options{Notifier: o.Notifier, Logger: log.With("job", "watchdog")})
	alive := wd.Register("spare", time.Minute)
	var wg sync.WaitGroup
	wg.Go(func() { _ = wd.Run(ctx) })
	errc := make(chan error, 1)
	wg.Go(func() { errc <- api.Serve(ctx, ln, api.Handler(u, log.With("job", "api"))) })
	if o.Button != nil {
		wg.Go(func() { u.watchButton(ctx) })
	}
	wg.Go(func() {
		// The spare's watchdog check is a real request to its own API,
		// as the daemon's is: a hung server stops the pets.
		c := api.NewClient(o.Socket)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := c.Status(rctx); err == nil {
				alive.Report()
			} else if ctx.Err() == nil {
				log.Warn("the spare's API does not answer its own probe", "err", err)
			}
			rcancel()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	wd.Ready("spare: " + msg)

	var act *api.Activated
	select {
	case <-ctx.Done():
	case a := <-u.done:
		act = &a
	case err = <-errc:
		errc <- err
	}
	cancel()
	wg.Wait()
	// A request cut off by the server's shutdown may still be in an
	// activation or a prepare: let it finish before the journal closes.
	// An activation that succeeds keeps the lock and says so on done.
	for act == nil && !u.op.TryLock() {
		select {
		case a := <-u.done:
			act = &a
		case <-time.After(20 * time.Millisecond):
		}
	}
	if e := <-errc; e != nil && act == nil {
		return nil, e
	}
	return act, nil
}

// Status implements api.Backend.
func (u *Unit) Status() api.Status {
	recent, err := u.journal.Last(10)
	if err != nil {
		u.log.Warn("reading recent events", "err", err)
	}
	return api.Status{
		Box: u.o.Box, Version: u.o.Version, Role: "spare",
		StartedAt: u.started, Uptime: time.Since(u.started).Seconds(),
		Tunnel: tunnel.Status{State: tunnel.Stopped, Reason: "no site installed"},
		Spare:  u.spareStatus(), Runtime: api.ReadRuntime(), Events: recent,
	}
}

// Events implements api.Backend.
func (u *Unit) Events(since uint64, limit int) ([]journal.Record, uint64, error) {
	return u.journal.Since(since, limit)
}

func (u *Unit) spareStatus() *api.Spare {
	sp := &api.Spare{Button: u.o.Button != nil, Trusted: []string{}}
	u.mu.Lock()
	sp.State, sp.LastError = u.state, u.lastError
	u.mu.Unlock()
	if keys, err := sitepack.LoadTrusted(u.o.TrustedDir); err == nil {
		for _, k := range keys {
			sp.Trusted = append(sp.Trusted, sitepack.Fingerprint(k))
		}
	}
	if id, err := loadIdentity(u.o.spareDir()); err == nil {
		sp.Recipient = id.Recipient().String()
	}
	if p, err := readPrepared(u.o.spareDir()); err == nil {
		at := p.At
		sp.PreparedAt, sp.SelfTest = &at, p.SelfTest
		sp.Ready = p.OK && sp.Recipient != ""
	}
	return sp
}

// Prepare implements api.Preparer on a spare: there is no site to wipe;
// it makes a fresh identity and runs the bench self-test again (a unit
// fresh from the factory image is prepared this way).
func (u *Unit) Prepare(ctx context.Context, req api.PrepareRequest) (api.Spare, error) {
	if req.Site != "" {
		return api.Spare{}, &api.FieldError{Field: "site", Reason: fmt.Sprintf("this unit is a spare: no site is installed, %q included", req.Site)}
	}
	if !u.op.TryLock() {
		return api.Spare{}, fmt.Errorf("%w: an activation or a prepare is in progress", api.ErrRefused)
	}
	defer u.op.Unlock()
	sp, err := ready(PrepareOptions{
		SiteDir: u.o.SiteDir, StateDir: u.o.StateDir, TrustedDir: u.o.TrustedDir,
		Journal: u.journal, Firmware: u.o.Firmware, LEDs: u.o.LEDs, ThermalDir: u.o.ThermalDir,
	}, "", "")
	if err != nil {
		return api.Spare{}, err
	}
	failed := selfcheck.FailedNames(sp.SelfTest)
	msg := "spare prepared: bench self-test passed, ready for storage"
	if !sp.Ready {
		msg = fmt.Sprintf("spare prepared: bench self-test FAILED: %v — not fit for the shelf", failed)
	}
	u.event(report.KindSparePrepared, msg, map[string]any{
		"box": u.o.Box, "ok": sp.Ready, "failed": failed, "items": sp.SelfTest, "recipient": sp.Recipient,
	})
	u.mu.Lock()
	u.state, u.lastError = api.SpareWaiting, ""
	u.mu.Unlock()
	u.showLEDs()
	sp.Button = u.o.Button != nil
	return *sp, nil
}

// Activate implements api.Sparer: verify, check, install; then Run
// returns and shisad starts the site.
func (u *Unit) Activate(ctx context.Context, req api.ActivateRequest) (api.Activated, error) {
	if !u.op.TryLock() {
		return api.Activated{}, fmt.Errorf("%w: an activation or a prepare is already in progress", api.ErrRefused)
	}
	// On success the lock stays held: the spare is done, Run returns.
	u.mu.Lock()
	u.state = api.SpareActivating
	u.mu.Unlock()
	u.showLEDs()
	a, err := u.activate(req.Pack, req.Passphrase)
	u.mu.Lock()
	if err != nil {
		u.state, u.lastError = api.SpareRefused, err.Error()
	}
	u.mu.Unlock()
	if err != nil {
		u.op.Unlock()
		u.event(report.KindSpareRefused, "site pack refused: "+err.Error(), nil)
		u.showLEDs()
		return api.Activated{}, fmt.Errorf("%w: %v", api.ErrRefused, err)
	}
	u.done <- a
	return a, nil
}

func (u *Unit) activate(data []byte, passphrase string) (api.Activated, error) {
	trusted, err := sitepack.LoadTrusted(u.o.TrustedDir)
	if err != nil {
		return api.Activated{}, err
	}
	vo := sitepack.VerifyOptions{Trusted: trusted, Passphrase: passphrase}
	if id, err := loadIdentity(u.o.spareDir()); err == nil {
		vo.Identities = []age.Identity{id}
	}
	p, err := sitepack.Open(data, vo)
	if err != nil {
		return api.Activated{}, err
	}
	if err := checkSerial(u.o.spareDir(), p); err != nil {
		return api.Activated{}, err
	}
	err = sitepack.InstallChecked(p, u.o.SiteDir, func(newDir string) error {
		if _, err := (config.Options{BaseDir: newDir}).Load(filepath.Join(newDir, sitepack.ConfigFile)); err != nil {
			return err
		}
		return recordSerial(u.o.spareDir(), p.Site, p.Serial)
	})
	if err != nil {
		return api.Activated{}, err
	}
	// The shelf record is the spare's, not the site's: a unit later taken
	// off its site by hand must not show as prepared.
	if err := os.Remove(filepath.Join(u.o.spareDir(), preparedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		u.log.Warn("removing the spare's prepared record", "err", err)
	}
	// Read as the daemon will, from the live path, for the socket.
	site, err := config.Load(filepath.Join(u.o.SiteDir, sitepack.ConfigFile))
	if err != nil {
		return api.Activated{}, fmt.Errorf("the pack is installed but its config does not load from %s: %w", u.o.SiteDir, err)
	}
	a := api.Activated{Site: p.Site, Serial: p.Serial, From: p.Unit, Signer: sitepack.Fingerprint(authority(p)), Socket: site.API.Socket}
	u.event(report.KindSpareActivated, fmt.Sprintf("site pack installed: site %s serial %d from %s (vouched for by key %s); starting the site", p.Site, p.Serial, p.Unit, a.Signer), map[string]any{
		"site": p.Site, "serial": p.Serial, "from": p.Unit, "signer": a.Signer, "box": u.o.Box,
		"sealing": p.Sealing.String(),
	})
	return a, nil
}

// authority is the trusted key that vouched for p.
func authority(p *sitepack.Pack) ed25519.PublicKey {
	if len(p.Authority) == ed25519.PublicKeySize {
		return p.Authority
	}
	return p.Signer
}

// findPacks lists the packs the button may activate, newest first.
func (u *Unit) findPacks() []string {
	globs := append(slices.Clone(u.o.PackGlobs), filepath.Join(u.o.spareDir(), "*"+PackExt))
	var found []string
	for _, g := range globs {
		m, _ := filepath.Glob(g)
		found = append(found, m...)
	}
	mtime := func(p string) time.Time {
		fi, err := os.Stat(p)
		if err != nil {
			return time.Time{}
		}
		return fi.ModTime()
	}
	slices.SortStableFunc(found, func(a, b string) int { return mtime(b).Compare(mtime(a)) })
	return found
}

func (u *Unit) event(kind, msg string, fields map[string]any) {
	if _, err := u.journal.Append(kind, msg, fields); err != nil {
		u.log.Error("writing to the journal failed", "kind", kind, "err", err)
	}
	u.log.Info(msg, "kind", kind)
}
