package sitepack

import "fmt"

// PeekSealing reads how a pack is sealed without verifying it, so that a
// tool can ask for a passphrase only when one is needed. Nothing it
// returns is trusted: Open checks everything again.
func PeekSealing(data []byte) (Sealing, error) {
	h, err := parseHeader(data)
	if err != nil {
		return 0, fmt.Errorf("sitepack: %w", err)
	}
	return h.sealing, nil
}
