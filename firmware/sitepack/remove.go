package sitepack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
)

// Remove takes the installed site out of dir, for `spare prepare`: the
// link dir is renamed away first (one atomic step: from then on nothing is
// installed and the unit starts as a spare), then every file of the
// generation it pointed to is overwritten with zeros and fsynced before
// the generation is removed, and the parent is fsynced.
//
// A power cut at any point leaves either the old site whole or no site;
// generations left behind, with their secrets, are wiped by the next
// Remove, Sweep or Install. Overwriting a file on flash does not promise
// that the old blocks are erased (the flash translation layer may keep
// copies until they are reused); see README "Spare units".
//
// Remove refuses a dir with no installed pack (a site configured by hand:
// remove it yourself) and returns the record of what it removed.
func Remove(dir string) (*Record, error) {
	rec, err := Installed(dir)
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	current, err := prepareDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sitepack: remove %s: %w", dir, err)
	}
	if current == "" {
		return nil, fmt.Errorf("sitepack: remove %s: not a link to a generation Install made", dir)
	}
	gone := filepath.Join(parent, "."+base+".link-removed")
	if err := os.Rename(dir, gone); err != nil {
		return nil, fmt.Errorf("sitepack: remove %s: %w", dir, err)
	}
	if err := atomicfile.SyncDir(parent); err != nil {
		return nil, fmt.Errorf("sitepack: remove %s: %w", dir, err)
	}
	if err := Sweep(dir); err != nil {
		return rec, fmt.Errorf("sitepack: %s is removed but its files are not all wiped: %w", dir, err)
	}
	return rec, nil
}

// Sweep wipes and removes what no installed pack uses beside dir:
// generations and links left by a cut Install or Remove. The live
// generation (the one dir links to) is kept.
func Sweep(dir string) error {
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	current := ""
	if t, err := os.Readlink(dir); err == nil {
		current = t
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		n := e.Name()
		if n == current {
			continue
		}
		switch {
		case strings.HasPrefix(n, "."+base+".gen-"):
			errs = append(errs, wipeTree(filepath.Join(parent, n)))
			errs = append(errs, os.RemoveAll(filepath.Join(parent, n)))
		case strings.HasPrefix(n, "."+base+".link-"):
			errs = append(errs, os.Remove(filepath.Join(parent, n)))
		}
	}
	errs = append(errs, atomicfile.SyncDir(parent))
	return errors.Join(errs...)
}

// wipeTree overwrites every regular file under root with zeros, in place,
// and fsyncs it.
func wipeTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return atomicfile.WipeFile(path)
	})
}
