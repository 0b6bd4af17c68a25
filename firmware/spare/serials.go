package spare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/sitepack"
)

// serialsFile (in StateDir/spare) remembers the highest pack serial this
// unit has installed for each site. It survives `spare prepare`, so a
// spare refuses a pack older than one it has run before: an old pack of a
// site (say, with a key the datacenter has since replaced) cannot be
// replayed onto a box that once served it.
const serialsFile = "serials.json"

func readSerials(dir string) (map[string]uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, serialsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", serialsFile, err)
	}
	return m, nil
}

// checkSerial refuses p if this unit has installed a later pack of its
// site.
func checkSerial(dir string, p *sitepack.Pack) error {
	m, err := readSerials(dir)
	if err != nil {
		return err
	}
	if seen := m[p.Site]; p.Serial < seen {
		return fmt.Errorf("%w: this unit has run site %s's pack serial %d and this one is serial %d", sitepack.ErrRollback, p.Site, seen, p.Serial)
	}
	return nil
}

// recordSerial remembers serial for site. It is called before the pack
// goes live (remembering a serial that a cut then keeps from going live
// is harmless; the other way round would leave a gap).
func recordSerial(dir, site string, serial uint64) error {
	m, err := readSerials(dir)
	if err != nil {
		return err
	}
	if serial <= m[site] {
		return nil
	}
	m[site] = serial
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, serialsFile), append(b, '\n'), 0o644)
}
