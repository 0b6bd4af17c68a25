package sitepack

import (
	"crypto/ed25519"
	"fmt"
	"time"
)

// Info is what a pack says about itself outside its encrypted part.
type Info struct {
	Site    string
	Unit    string // the exporting box, or DatacenterUnit
	Serial  uint64
	Created time.Time
	Sealing Sealing
	Signer  ed25519.PublicKey
	// Authority is the trusted key that vouched (Signer, or its cert's
	// maker); Certified: signed by a certified export key.
	Authority ed25519.PublicKey
	Certified bool
}

// Inspect checks data's framing, signer and signature against trusted,
// as Open does, and returns what the pack says about itself without
// decrypting anything: `shisactl site show` uses it to tell a technician
// which pack is on the stick before anyone types a passphrase.
func Inspect(data []byte, trusted []ed25519.PublicKey) (*Info, error) {
	h, authority, err := verifyHeader(data, trusted)
	if err != nil {
		return nil, fmt.Errorf("sitepack: %w", err)
	}
	return &Info{
		Site: h.site, Unit: h.unit, Serial: h.serial, Created: time.Unix(h.created, 0).UTC(), Sealing: h.sealing,
		Signer:    append(ed25519.PublicKey(nil), h.signer...),
		Authority: append(ed25519.PublicKey(nil), authority...),
		Certified: len(h.cert) != 0,
	}, nil
}

// verifyHeader is the part of Open before anything is decrypted: the
// framing, the signer (trusted, or certified by a trusted key for the
// pack's site) and the signature. It returns the header and the trusted
// key that vouched.
func verifyHeader(data []byte, trusted []ed25519.PublicKey) (*header, ed25519.PublicKey, error) {
	h, err := parseHeader(data)
	if err != nil {
		return nil, nil, err
	}
	authority, err := vouch(h, trusted)
	if err != nil {
		return nil, nil, err
	}
	if !ed25519.Verify(h.signer, h.signed, h.sig) {
		return nil, nil, fmt.Errorf("%w: the file was changed after signing (or damaged)", ErrTampered)
	}
	return h, authority, nil
}
