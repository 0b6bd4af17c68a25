package sitepack

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
)

// ErrNotInstalled is returned by Installed when dir holds no pack.
var ErrNotInstalled = errors.New("no site pack is installed")

// The files Install writes, relative to dir.
const (
	ConfigFile      = "site.yaml"
	KeyFile         = "keys/site.key"
	PairSecretFile  = "keys/pair.secret"
	APITokenFile    = "keys/api.token"
	UPSPasswordFile = "keys/nut.password"
	ExportKeyFile   = "keys/export.key"
	ExportCertFile  = "keys/export.cert"
	InstalledFile   = "installed.json"
)

// maxInstalled bounds installed.json when read back.
const maxInstalled = 4 << 10

// Record is installed.json: what is installed, from whom, and when.
type Record struct {
	Site        string    `json:"site"`
	Unit        string    `json:"unit"` // the unit that exported the pack
	Serial      uint64    `json:"serial"`
	Signer      string    `json:"signer"`    // base64 ed25519 public key
	Authority   string    `json:"authority"` // the trusted key that vouched: Signer, or its cert's maker
	Certified   bool      `json:"certified"` // signed by a certified export key (exported by a unit)
	Created     time.Time `json:"created"`
	InstalledAt time.Time `json:"installed_at"`
}

// Steps of install, in order, as passed to hooks.after.
const (
	stepGenDir = "gen-dir"  // the new generation directory exists
	stepFiles  = "files"    // each file written (after each one)
	stepSync   = "sync-gen" // the generation directory fsynced
	stepLink   = "link"     // the new link made beside dir
	stepSwap   = "swap"     // the link renamed over dir: the new set is live
)

// hooks lets tests stop install between steps, as a power cut would.
type hooks struct {
	after func(step string) error
	now   func() time.Time
	check func(newDir string) error // InstallChecked's check
}

func (h hooks) step(name string) error {
	if h.after == nil {
		return nil
	}
	return h.after(name)
}

// Install writes p into dir as described in the package comment. dir is
// a symbolic link Install owns; if it does not exist it is created, and an
// empty directory there is replaced. A directory with files in it that
// Install did not put there is refused: move it away first.
//
// Install refuses a pack that did not come from Open, a pack for another
// site than the one installed (ErrWrongSite; `spare prepare` clears the
// old site first) and one older than it (ErrRollback). On any error the
// installed set is the old one, whole.
func Install(p *Pack, dir string) error {
	return InstallChecked(p, dir, nil)
}

// InstallChecked is Install, and calls check, if not nil, on the complete
// new set before it goes live: newDir holds the files as dir will. An
// error from check refuses the pack and changes nothing. `spare activate`
// passes config.Load on newDir's site.yaml, so a pack whose config does
// not load is never installed.
func InstallChecked(p *Pack, dir string, check func(newDir string) error) error {
	if err := install(p, dir, hooks{check: check}); err != nil {
		return fmt.Errorf("sitepack: install %s: %w", dir, err)
	}
	return nil
}

func install(p *Pack, dir string, h hooks) (err error) {
	if p == nil || len(p.Signer) != ed25519.PublicKeySize || len(p.Authority) != ed25519.PublicKeySize {
		return errors.New("the pack was not opened with Open")
	}
	if err := validExportKey(p.ExportKey, p.ExportCert); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	if rec, err := Installed(dir); err == nil {
		if rec.Site != p.Site {
			return fmt.Errorf("%w: site %q is installed and the pack is for site %q", ErrWrongSite, rec.Site, p.Site)
		}
		if p.Serial < rec.Serial {
			return fmt.Errorf("%w: serial %d is installed and the pack's is %d", ErrRollback, rec.Serial, p.Serial)
		}
	} else if !errors.Is(err, ErrNotInstalled) {
		return err
	}
	current, err := prepareDir(dir)
	if err != nil {
		return err
	}
	sweep(parent, base, current)

	gen, err := os.MkdirTemp(parent, "."+base+".gen-")
	if err != nil {
		return err
	}
	live := false
	defer func() {
		if err != nil && !live {
			err = errors.Join(err, os.RemoveAll(gen))
		}
	}()
	if err := os.Chmod(gen, 0o755); err != nil {
		return err
	}
	if err := h.step(stepGenDir); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(gen, "keys"), 0o700); err != nil {
		return err
	}
	now := time.Now
	if h.now != nil {
		now = h.now
	}
	rec := Record{
		Site: p.Site, Unit: p.Unit, Serial: p.Serial,
		Signer: FormatPublicKey(p.Signer), Authority: FormatPublicKey(p.Authority), Certified: p.Certified,
		Created: p.Created.UTC(), InstalledAt: now().UTC().Truncate(time.Second),
	}
	recJSON, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	var exportKey, exportCert []byte
	if len(p.ExportKey) != 0 {
		exportKey = FormatPrivateKey(p.ExportKey)
		defer clear(exportKey)
		exportCert = []byte(base64.StdEncoding.EncodeToString(p.ExportCert) + "\n")
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{ConfigFile, p.Config, 0o644},
		{KeyFile, []byte(base64.StdEncoding.EncodeToString(p.WireGuardKey[:]) + "\n"), 0o600},
		{PairSecretFile, secretLine(p.PairSecret), 0o600},
		{APITokenFile, secretLine(p.APIToken), 0o600},
		{UPSPasswordFile, secretLine(p.UPSPassword), 0o600},
		{ExportKeyFile, exportKey, 0o600},
		{ExportCertFile, exportCert, 0o644},
		{InstalledFile, append(recJSON, '\n'), 0o644},
	}
	for _, f := range files {
		if f.data == nil {
			continue
		}
		if err := atomicfile.WriteFile(filepath.Join(gen, filepath.FromSlash(f.name)), f.data, f.perm); err != nil {
			return err
		}
		if err := h.step(stepFiles); err != nil {
			return err
		}
	}
	if err := atomicfile.SyncDir(filepath.Join(gen, "keys")); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(gen); err != nil {
		return err
	}
	if err := h.step(stepSync); err != nil {
		return err
	}
	if h.check != nil {
		if err := h.check(gen); err != nil {
			return fmt.Errorf("the new set fails its check: %w", err)
		}
	}
	// The link points at the generation by its name, relative, so the
	// whole tree can be moved or mounted elsewhere.
	link := filepath.Join(parent, "."+base+".link-"+filepath.Base(gen))
	if err := os.Symlink(filepath.Base(gen), link); err != nil {
		return err
	}
	// The generation and the link must be on disk before the link is.
	if err := atomicfile.SyncDir(parent); err != nil {
		return errors.Join(err, os.Remove(link))
	}
	if err := h.step(stepLink); err != nil {
		return errors.Join(err, os.Remove(link))
	}
	if err := os.Rename(link, dir); err != nil {
		return errors.Join(err, os.Remove(link))
	}
	// The new set is live; from here an error must not remove it.
	live = true
	stepErr := h.step(stepSwap)
	syncErr := atomicfile.SyncDir(parent)
	if current != "" {
		old := filepath.Join(parent, current)
		wipeTree(old) // best effort; the next sweep retries
		os.RemoveAll(old)
	}
	if e := errors.Join(stepErr, syncErr); e != nil {
		return fmt.Errorf("the new pack is in place but may not be durable: %w", e)
	}
	return nil
}

// secretLine is a secret as its file holds it, or nil for none.
func secretLine(s []byte) []byte {
	if len(s) == 0 {
		return nil
	}
	return append(append([]byte(nil), s...), '\n')
}

// prepareDir checks what is at dir and returns the name of the generation
// directory it links to ("" if none). An empty directory is removed.
func prepareDir(dir string) (string, error) {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", err
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(dir)
		if err != nil {
			return "", err
		}
		if strings.Contains(target, "/") || !strings.HasPrefix(target, "."+filepath.Base(dir)+".gen-") {
			return "", fmt.Errorf("%s links to %s, not to a generation Install made; remove the link first", dir, target)
		}
		return target, nil
	case fi.IsDir():
		ents, err := os.ReadDir(dir)
		if err != nil {
			return "", err
		}
		if len(ents) > 0 {
			return "", fmt.Errorf("%s is a directory with %d entries that no site pack installed; move it away first", dir, len(ents))
		}
		return "", os.Remove(dir)
	default:
		return "", fmt.Errorf("%s is a %s, not a directory or link", dir, fi.Mode().Type())
	}
}

// sweep removes generation directories and links left by an Install that
// was cut short, keeping the current generation.
func sweep(parent, base, current string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if n == current {
			continue
		}
		if strings.HasPrefix(n, "."+base+".gen-") || strings.HasPrefix(n, "."+base+".link-") {
			wipeTree(filepath.Join(parent, n)) // a cut install's secrets
			os.RemoveAll(filepath.Join(parent, n))
		}
	}
}

// Installed reads installed.json in dir. It returns ErrNotInstalled if
// there is none.
func Installed(dir string) (*Record, error) {
	f, err := os.Open(filepath.Join(dir, InstalledFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sitepack: %s: %w", dir, ErrNotInstalled)
	}
	if err != nil {
		return nil, fmt.Errorf("sitepack: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInstalled+1))
	if err != nil {
		return nil, fmt.Errorf("sitepack: %w", err)
	}
	name := filepath.Join(dir, InstalledFile)
	if len(data) > maxInstalled {
		return nil, fmt.Errorf("sitepack: %s: over %d bytes", name, maxInstalled)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("sitepack: %s: %w", name, err)
	}
	if !validID(rec.Site) {
		return nil, fmt.Errorf("sitepack: %s: site: want 1 to 63 of a-z, 0-9 and '-'", name)
	}
	if rec.Serial == 0 {
		return nil, fmt.Errorf("sitepack: %s: serial: missing or 0", name)
	}
	return &rec, nil
}
