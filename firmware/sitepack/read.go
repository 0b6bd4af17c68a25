package sitepack

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// ReadFile reads a pack file, refusing one larger than MaxPackSize before
// reading it all.
// Only a regular file is read: a FIFO or a device that a USB stick may
// carry under a pack's name is refused without blocking.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s, not a site pack file", path, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxPackSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPackSize {
		return nil, fmt.Errorf("%s is larger than %d KiB: not a site pack: %w", path, MaxPackSize>>10, ErrOversized)
	}
	return b, nil
}
