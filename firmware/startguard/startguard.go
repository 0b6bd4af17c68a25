// Package startguard turns a crash loop into safe mode. It counts shisad's
// starts in a small crash-safe record; a start that never became good (the
// tunnel up and every job's watchdog check fresh for a while) counts as
// failed, and after too many failed starts within a window the next start
// runs in safe mode: the tunnel only, with the last configuration that ran
// healthy, and a loud event for the datacenter.
//
//	start ──Begin──▶ counted (unconfirmed) ──Good──▶ confirmed: record cleared,
//	                     │                            config kept as last good
//	                     └─ crash/exit/hang: stays counted
//	next start: unconfirmed starts within window ≥ limit ──▶ safe mode
//
// The record is one small JSON file written atomically (temp file, fsync,
// rename, fsync of the directory), so a power cut during a write leaves
// either the old record or the new one.
package startguard

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
)

// Options configures a Guard.
type Options struct {
	// Dir is the state directory (/var/lib/shisa); the record is
	// Dir/starts.json and the last good config Dir/last-good/site.yaml.
	Dir string
	// Limit of failed starts within Window before safe mode. Zero means
	// the limit last recorded (a config too broken to read has none of its
	// own), else 5.
	Limit int
	// Window over which failed starts are counted. Zero means the window
	// last recorded, else 10 minutes.
	Window time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Record is the file's content.
type Record struct {
	// Failed holds the times of starts that have not (yet) become good,
	// including the current one while it is young.
	Failed []time.Time `json:"failed"`
	// LastGood is when a start last became good.
	LastGood time.Time `json:"last_good,omitzero"`
	// LastGoodDir is the directory the last good config came from: its
	// relative paths (the key file) resolve there.
	LastGoodDir string `json:"last_good_dir,omitempty"`
	// Limit and Window are the last ones a readable config gave.
	Limit  int           `json:"limit,omitempty"`
	Window time.Duration `json:"window_ns,omitempty"`
}

// Decision is what Begin decided for this start.
type Decision struct {
	SafeMode bool
	// Failed is the number of failed starts in the window before this one.
	Failed int
	// LastGoodConfig is the path of the last config that ran healthy, ""
	// when there is none; LastGoodDir is where its relative paths resolve.
	LastGoodConfig string
	LastGoodDir    string
	Reason         string
	// Reset: the record could not be read and counting starts afresh.
	Reset bool
}

// Guard is the start counter of one daemon.
type Guard struct {
	opts Options
	rec  Record
	this time.Time
}

const (
	recordName = "starts.json"
	lastGood   = "last-good"
)

// Begin counts this start and decides whether it runs in safe mode. It
// must be called before anything that can fail (including reading the
// configuration), so that every failure counts.
func Begin(opts Options) (*Guard, Decision, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Guard{opts: opts, this: opts.Now().UTC()}
	reset := false
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, Decision{}, fmt.Errorf("startguard: %w", err)
	}
	b, err := os.ReadFile(g.path())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, Decision{}, fmt.Errorf("startguard: reading %s: %w", g.path(), err)
	default:
		if json.Unmarshal(b, &g.rec) != nil {
			// A record we cannot read must not stop the box: start
			// counting afresh, and say so (Decision.Reset).
			g.rec = Record{}
			reset = true
		}
	}
	if opts.Limit > 0 {
		g.rec.Limit = opts.Limit
	}
	if opts.Window > 0 {
		g.rec.Window = opts.Window
	}
	opts.Limit, opts.Window = g.rec.Limit, g.rec.Window
	if opts.Limit <= 0 {
		opts.Limit = 5
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Minute
	}
	g.opts = opts
	// Keep only failed starts within the window (and none from the future:
	// a clock that stepped back must not inflate the count forever).
	var kept []time.Time
	for _, t := range g.rec.Failed {
		if age := g.this.Sub(t); age >= 0 && age <= opts.Window {
			kept = append(kept, t)
		}
	}
	d := Decision{Failed: len(kept), Reset: reset}
	if p := g.LastGoodConfig(); p != "" {
		d.LastGoodConfig, d.LastGoodDir = p, g.rec.LastGoodDir
	}
	if len(kept) >= opts.Limit {
		d.SafeMode = true
		d.Reason = fmt.Sprintf("%d starts in the last %s never became healthy", len(kept), opts.Window)
	}
	g.rec.Failed = append(kept, g.this)
	if err := g.save(); err != nil {
		return nil, Decision{}, err
	}
	return g, d, nil
}

// Good marks this start healthy: the failed starts are forgotten and
// config (the file this start runs with) is kept as the last good one, with
// baseDir as the directory its relative paths resolve in. config may be ""
// to keep the previous last good config.
func (g *Guard) Good(config, baseDir string) error {
	if config != "" && config != g.LastGoodConfig() {
		b, err := os.ReadFile(config)
		if err != nil {
			return fmt.Errorf("startguard: keeping the last good config: %w", err)
		}
		dir := filepath.Join(g.opts.Dir, lastGood)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("startguard: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, "site.yaml"), b, 0o600); err != nil {
			return fmt.Errorf("startguard: %w", err)
		}
		g.rec.LastGoodDir = baseDir
	}
	g.rec.Failed = nil
	g.rec.LastGood = g.opts.Now().UTC()
	return g.save()
}

// Clean removes this start from the failed ones: it ended with a clean
// stop (a restart by hand while configuring must not lead to safe mode).
func (g *Guard) Clean() error {
	kept := g.rec.Failed[:0]
	for _, t := range g.rec.Failed {
		if !t.Equal(g.this) {
			kept = append(kept, t)
		}
	}
	g.rec.Failed = kept
	return g.save()
}

// Forget wipes the last good config (overwritten with zeros, then
// removed) and the failed starts: the site it belonged to has been taken
// off the unit (`spare prepare`), and its config must neither stay on a
// shelf spare nor ever run as another site's safe-mode fallback.
func (g *Guard) Forget() error {
	dir := filepath.Join(g.opts.Dir, lastGood)
	var errs []error
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if e.Type().IsRegular() {
				errs = append(errs, atomicfile.WipeFile(filepath.Join(dir, e.Name())))
			}
		}
	}
	errs = append(errs, os.RemoveAll(dir))
	g.rec.Failed, g.rec.LastGood, g.rec.LastGoodDir = nil, time.Time{}, ""
	errs = append(errs, g.save())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("startguard: forgetting the last good config: %w", err)
	}
	return nil
}

// LastGoodConfig is the path of the last config that ran healthy, or "".
func (g *Guard) LastGoodConfig() string {
	p := filepath.Join(g.opts.Dir, lastGood, "site.yaml")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Record returns a copy of the current record.
func (g *Guard) Record() Record {
	r := g.rec
	r.Failed = append([]time.Time(nil), g.rec.Failed...)
	return r
}

func (g *Guard) path() string { return filepath.Join(g.opts.Dir, recordName) }

func (g *Guard) save() error {
	b, err := json.Marshal(g.rec)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(g.path(), b, 0o644); err != nil {
		return fmt.Errorf("startguard: %w", err)
	}
	return nil
}
