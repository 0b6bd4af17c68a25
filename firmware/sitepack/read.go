package sitepack

import (
	"fmt"
	"io"
	"os"
)

// ReadFile reads a pack file, refusing one larger than MaxPackSize before
// reading it all.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPackSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPackSize {
		return nil, fmt.Errorf("%s is larger than %d KiB: not a site pack: %w", path, MaxPackSize>>10, ErrOversized)
	}
	return b, nil
}
