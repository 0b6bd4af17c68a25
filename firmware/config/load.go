package config

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
)

// maxFileSize bounds what Load reads; a site config is a few kilobytes.
const maxFileSize = 1 << 20

// Options changes how Parse and Load work. The zero value is what shisad
// and `shisactl config check` use.
type Options struct {
	// SkipFileChecks leaves out the checks that read other files (today
	// only tunnel.private_key_file: that it exists, is a regular file, has
	// mode 0600 or 0400 and holds a WireGuard private key). Relative paths
	// are still resolved. For the fuzz target and for linting a config on
	// a machine that does not hold the key.
	SkipFileChecks bool
	// Hostname gives the default unit name; nil means os.Hostname.
	Hostname func() (string, error)
	// BaseDir, when set, is where relative paths resolve instead of the
	// file's own directory (a copy of a config kept elsewhere, such as the
	// last good config, still finds its key).
	BaseDir string
}

// Load reads, defaults and validates the site config at path.
func Load(path string) (*Site, error) { return Options{}.Load(path) }

// Parse decodes, defaults and validates data, the contents of the site
// config at path. path names the file in messages and anchors relative
// paths; Parse reads no file but the private key file.
func Parse(path string, data []byte) (*Site, error) { return Options{}.Parse(path, data) }

// Load reads, defaults and validates the site config at path.
func (o Options) Load(path string) (*Site, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, &Error{Problems: []Problem{{File: path, Msg: fmt.Sprintf("file is larger than %d bytes; this is not a site config", maxFileSize)}}}
	}
	return o.Parse(path, data)
}

// Parse decodes, defaults and validates data, the contents of the site
// config at path. Every problem found is returned in one *Error.
func (o Options) Parse(path string, data []byte) (*Site, error) {
	d := newDecoder(path)
	root := d.document(data)
	if root == nil {
		return nil, &Error{Problems: d.probs}
	}
	s := &Site{Path: path}
	d.keyPos[""] = posOf(root)
	d.value(root, reflect.ValueOf(s).Elem(), "")
	if !d.isBad("") {
		o.finish(s, d)
	}
	if len(d.probs) > 0 {
		slices.SortStableFunc(d.probs, func(a, b Problem) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
		})
		return nil, &Error{Problems: d.probs}
	}
	return s, nil
}
