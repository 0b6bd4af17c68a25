package spare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/hal"
)

// Files in StateDir/spare.
const (
	identityFile = "identity"      // age X25519 identity, 0600
	preparedFile = "prepared.json" // the last prepare: when, the self-test
)

// PrepareOptions says what Prepare works on.
type PrepareOptions struct {
	SiteDir, StateDir, TrustedDir string
	// Journal is the running daemon's journal: the bench self-test writes
	// and reads a record back.
	Journal  *journal.Journal
	Firmware inventory.Firmware
	LEDs     hal.LEDs
	// ThermalDir replaces /sys/class/thermal (tests).
	ThermalDir string
	// MinFreeBytes the state directory must keep free; default 8 MiB.
	MinFreeBytes int64
	// MaxTemperature in °C; default 85.
	MaxTemperature int
}

// prepared is prepared.json.
type prepared struct {
	At       time.Time       `json:"at"`
	Site     string          `json:"site"` // the site removed
	Unit     string          `json:"unit"`
	OK       bool            `json:"ok"`
	SelfTest []api.CheckItem `json:"self_test"`
}

// Prepare turns the unit into a shelf spare: it removes the site
// installed in SiteDir (wiping its files), makes a fresh age identity and
// runs the bench self-test, and records the result in StateDir/spare.
// It returns the record of the site removed and the spare's state.
//
// The caller (the daemon) stops serving the site afterwards and shisad
// goes on as a spare.
func Prepare(o PrepareOptions) (*sitepack.Record, *api.Spare, error) {
	rec, err := sitepack.Remove(o.SiteDir)
	if errors.Is(err, sitepack.ErrNotInstalled) {
		return nil, nil, fmt.Errorf("%w: %s holds no installed site pack (a site configured by hand): remove its files yourself, or activate the unit from a pack first", api.ErrRefused, o.SiteDir)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := recordSerial(filepath.Join(o.StateDir, "spare"), rec.Site, rec.Serial); err != nil {
		return rec, nil, err
	}
	sp, err := ready(o, rec.Site, rec.Unit)
	return rec, sp, err
}

// ready gives the unit a fresh identity, runs the bench self-test and
// writes prepared.json: the part of Prepare a unit that is already a
// spare also does.
func ready(o PrepareOptions, site, unit string) (*api.Spare, error) {
	dir := filepath.Join(o.StateDir, "spare")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// A new identity each time: a pack sealed to this unit for its
	// last site cannot be replayed onto it.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, identityFile), []byte(id.String()+"\n"), 0o600); err != nil {
		return nil, err
	}
	// Packs left for the button belong to the old site.
	old, _ := filepath.Glob(filepath.Join(dir, "*"+PackExt))
	for _, p := range old {
		os.Remove(p)
	}
	items := BenchTest(o)
	p := prepared{At: time.Now().UTC().Truncate(time.Second), Site: site, Unit: unit, OK: true, SelfTest: items}
	for _, it := range items {
		p.OK = p.OK && it.OK
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, preparedFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	at := p.At
	sp := &api.Spare{Ready: p.OK, PreparedAt: &at, SelfTest: items, Recipient: id.Recipient().String(), State: api.SpareWaiting, Trusted: []string{}}
	if keys, err := sitepack.LoadTrusted(o.TrustedDir); err == nil {
		for _, k := range keys {
			sp.Trusted = append(sp.Trusted, sitepack.Fingerprint(k))
		}
	}
	return sp, nil
}

// BenchTest is the spare's self-test on the bench: what can be checked
// without a site. Items: site_removed, trusted_keys, identity, journal,
// free_space, temperature, leds, firmware.
func BenchTest(o PrepareOptions) []api.CheckItem {
	var items []api.CheckItem
	add := func(name string, err error, ok string) {
		it := api.CheckItem{Name: name, OK: err == nil, Detail: ok}
		if err != nil {
			it.Detail = err.Error()
		}
		items = append(items, it)
	}

	_, err := sitepack.Installed(o.SiteDir)
	if errors.Is(err, sitepack.ErrNotInstalled) {
		err = nil
	} else if err == nil {
		err = errors.New("a site pack is still installed in " + o.SiteDir)
	}
	if err == nil {
		err = noLeftovers(o.SiteDir)
	}
	add("site_removed", err, "no site files are left in "+o.SiteDir)

	keys, err := sitepack.LoadTrusted(o.TrustedDir)
	fps := make([]string, len(keys))
	for i, k := range keys {
		fps[i] = sitepack.Fingerprint(k)
	}
	add("trusted_keys", err, fmt.Sprintf("%d datacenter key(s) in the image: %s", len(keys), strings.Join(fps, ", ")))

	_, err = loadIdentity(filepath.Join(o.StateDir, "spare"))
	add("identity", err, "age identity made (mode 0600)")

	add("journal", journalRoundTrip(o.Journal), "a record written, synced and read back with its checksum")

	in := selfcheck.Inputs{StateDir: o.StateDir, MinFreeBytes: o.MinFreeBytes, ThermalDir: o.ThermalDir, MaxTemperature: o.MaxTemperature}
	if in.MaxTemperature == 0 {
		in.MaxTemperature = 85 // self_check.max_temperature's default
	}
	if in.MinFreeBytes == 0 {
		in.MinFreeBytes = 8 << 20 // self_check.min_free_bytes's default
	}
	items = append(items, selfcheck.BenchItems(in)...)

	if o.LEDs == (hal.LEDs{}) {
		items = append(items, api.CheckItem{Name: "leds", OK: true, Detail: selfcheck.SkippedPrefix + "this board has no LEDs configured"})
	} else {
		var errs []error
		for _, s := range []Show{{hal.On, hal.On, hal.On}, {hal.Off, hal.Off, hal.Off}} {
			errs = append(errs, s.On(o.LEDs))
		}
		add("leds", errors.Join(errs...), "power, tunnel and fault LEDs set on and off")
	}
	fw := o.Firmware
	it := api.CheckItem{Name: "firmware", OK: fw.Version != "", Detail: fmt.Sprintf("version %s, slot %s", fw.Version, fw.Slot)}
	items = append(items, it)
	return items
}

func noLeftovers(siteDir string) error {
	parent, base := filepath.Split(filepath.Clean(siteDir))
	if parent == "" {
		parent = "."
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.Name() == base && emptyDir(filepath.Join(parent, base)) {
			continue // no site files: Install replaces an empty directory
		}
		if strings.HasPrefix(e.Name(), "."+base+".") || e.Name() == base {
			return fmt.Errorf("%s is left in %s", e.Name(), parent)
		}
	}
	return nil
}

// emptyDir reports whether path is a directory (not a link) with nothing
// in it.
func emptyDir(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return false
	}
	ents, err := os.ReadDir(path)
	return err == nil && len(ents) == 0
}

func journalRoundTrip(j *journal.Journal) error {
	if j == nil {
		return errors.New("no journal open")
	}
	rec, err := j.Append("spare.bench", "bench self-test: journal write", nil)
	if err != nil {
		return err
	}
	got, _, err := j.Since(rec.Seq-1, 1)
	if err != nil {
		return err
	}
	if len(got) != 1 || got[0].Seq != rec.Seq {
		return errors.New("the record written is not read back")
	}
	return nil
}

// loadIdentity reads the spare's age identity; it must be mode 0600.
func loadIdentity(dir string) (*age.X25519Identity, error) {
	path := filepath.Join(dir, identityFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o: group or others may read it; want 0600", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return nil, err
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not an age identity", path)
	}
	return id, nil
}

func readPrepared(dir string) (*prepared, error) {
	b, err := os.ReadFile(filepath.Join(dir, preparedFile))
	if err != nil {
		return nil, err
	}
	var p prepared
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", preparedFile, err)
	}
	return &p, nil
}
