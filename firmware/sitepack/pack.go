package sitepack

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"filippo.io/age"
)

// scryptMaxWorkFactor is the most Open accepts (log2 of N): 2^16 costs
// 64 MiB of memory.
const scryptMaxWorkFactor = 16

// scryptWorkFactor is what Seal uses: 2^15, 32 MiB. A variable only so
// the tests, which seal hundreds of packs under the race detector, can
// make it cheap.
var scryptWorkFactor = 15

// DatacenterUnit is the unit id of a pack the datacenter built.
const DatacenterUnit = "datacenter"

// Contents is what a pack carries.
type Contents struct {
	Site    string    // site id, as site.yaml's site
	Unit    string    // the exporting unit's id, or DatacenterUnit
	Serial  uint64    // >= 1, higher than any earlier pack of the site
	Created time.Time // kept to the second

	Config       []byte   // site.yaml
	WireGuardKey [32]byte // the site's WireGuard private key
	PairSecret   []byte   // empty if the site is not a pair
	APIToken     []byte   // empty if the management API has no token
	UPSPassword  []byte   // the NUT password; empty if none

	// ExportKey is the site's export key, with which this unit signs
	// the pack `site export` makes; empty if the unit may not export.
	// Stored in the pack as its seed.
	ExportKey ed25519.PrivateKey
	// ExportCert is ExportKey's certificate from the datacenter (see
	// Certify); set exactly when ExportKey is.
	ExportCert []byte
}

// String describes the contents without any secret.
func (c Contents) String() string {
	return fmt.Sprintf("site pack %s serial %d from %s at %s (site.yaml %d bytes, pair secret %t, API token %t, UPS password %t, export key %t)",
		c.Site, c.Serial, c.Unit, c.Created.UTC().Format(time.RFC3339), len(c.Config), len(c.PairSecret) > 0, len(c.APIToken) > 0, len(c.UPSPassword) > 0, len(c.ExportKey) > 0)
}

// GoString is String, so %#v does not print the secrets either.
func (c Contents) GoString() string { return c.String() }

// Pack is a verified, decrypted pack as Open returns it.
type Pack struct {
	Contents
	Signer ed25519.PublicKey
	// Authority is the trusted key that vouched for the pack: Signer
	// itself, or the key that made the signer's certificate.
	Authority ed25519.PublicKey
	// Certified is true if Signer is a site's export key with a
	// certificate from Authority (a pack a unit exported), false if
	// Signer is itself trusted (a pack the datacenter signed).
	Certified bool
	Sealing   Sealing
}

// SealOptions says who signs a pack and how its secrets are encrypted.
// Exactly one of Passphrase and Recipient is set.
type SealOptions struct {
	Signer ed25519.PrivateKey
	// Cert is the signer's certificate if the signer is an export key
	// (`site export`: Contents.ExportCert), nil if the signer is a
	// trusted (datacenter) key.
	Cert []byte
	// Passphrase is compared in lower case without dashes and spaces;
	// at least 16 characters then. See NewPassphrase.
	Passphrase string
	Recipient  string // the receiving unit's age X25519 recipient, "age1…"
}

// Seal validates c and returns the signed, encrypted pack.
func Seal(c Contents, o SealOptions) ([]byte, error) {
	if !validID(c.Site) {
		return nil, errors.New("sitepack: site: want 1 to 63 of a-z, 0-9 and '-'")
	}
	if !validID(c.Unit) {
		return nil, errors.New("sitepack: unit: want 1 to 63 of a-z, 0-9 and '-'")
	}
	if c.Serial == 0 {
		return nil, errors.New("sitepack: serial: must be at least 1")
	}
	if c.Created.IsZero() {
		return nil, errors.New("sitepack: created: not set")
	}
	if len(c.Config) == 0 || len(c.Config) > MaxConfig {
		return nil, fmt.Errorf("sitepack: config: %d bytes; want 1 to %d", len(c.Config), MaxConfig)
	}
	if c.WireGuardKey == ([32]byte{}) {
		return nil, errors.New("sitepack: WireGuard key: not set")
	}
	if err := validSecret(c.PairSecret); err != nil {
		return nil, fmt.Errorf("sitepack: pair secret: %w", err)
	}
	if err := validSecret(c.APIToken); err != nil {
		return nil, fmt.Errorf("sitepack: API token: %w", err)
	}
	if err := validPassword(c.UPSPassword); err != nil {
		return nil, fmt.Errorf("sitepack: UPS password: %w", err)
	}
	if err := validExportKey(c.ExportKey, c.ExportCert); err != nil {
		return nil, fmt.Errorf("sitepack: %w", err)
	}
	if len(o.Signer) != ed25519.PrivateKeySize {
		return nil, errors.New("sitepack: signer: not an ed25519 private key")
	}
	if len(o.Cert) != 0 && len(o.Cert) != CertSize {
		return nil, fmt.Errorf("sitepack: cert: %d bytes; want none or %d", len(o.Cert), CertSize)
	}
	signer := o.Signer.Public().(ed25519.PublicKey)
	if len(o.Cert) == 0 && len(c.ExportKey) != 0 && signer.Equal(c.ExportKey.Public()) {
		return nil, errors.New("sitepack: cert: the signer is the site's export key and no cert is set (use Contents.ExportCert)")
	}
	h := &header{site: c.Site, unit: c.Unit, serial: c.Serial, created: c.Created.Unix()}
	var rcpt age.Recipient
	switch {
	case o.Passphrase != "" && o.Recipient != "":
		return nil, errors.New("sitepack: set a passphrase or a recipient, not both")
	case o.Passphrase != "":
		pass := normPassphrase(o.Passphrase)
		if len(pass) < 16 {
			return nil, fmt.Errorf("sitepack: passphrase: %d characters without dashes and spaces; at least 16 are needed (use NewPassphrase)", len(pass))
		}
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			return nil, fmt.Errorf("sitepack: passphrase: %w", err)
		}
		r.SetWorkFactor(scryptWorkFactor)
		rcpt, h.sealing = r, SealPassphrase
	case o.Recipient != "":
		r, err := age.ParseX25519Recipient(o.Recipient)
		if err != nil {
			return nil, fmt.Errorf("sitepack: recipient: %w", err)
		}
		rcpt, h.sealing = r, SealX25519
	default:
		return nil, errors.New("sitepack: set a passphrase or a recipient to encrypt the secrets to")
	}
	s := &secrets{config: c.Config, key: c.WireGuardKey, pairSecret: c.PairSecret, apiToken: c.APIToken, upsPass: c.UPSPassword, exportKey: c.ExportKey, exportCert: c.ExportCert}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, rcpt)
	if err != nil {
		return nil, fmt.Errorf("sitepack: encrypt: %w", err)
	}
	if _, err := w.Write(s.marshal()); err != nil {
		return nil, fmt.Errorf("sitepack: encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("sitepack: encrypt: %w", err)
	}
	h.payload = ct.Bytes()
	if len(h.payload) > MaxPayload {
		return nil, fmt.Errorf("sitepack: payload: %d bytes, over the limit of %d: %w", len(h.payload), MaxPayload, ErrOversized)
	}
	h.signer, h.cert = signer, o.Cert
	b := appendHeader(nil, h)
	return append(b, ed25519.Sign(o.Signer, b)...), nil
}

// VerifyOptions says what Open accepts.
type VerifyOptions struct {
	// Trusted are the datacenter keys (LoadTrusted): a pack signed by
	// one of them, or by an export key one of them certified for the
	// pack's site, is accepted. Empty trusts nothing.
	Trusted []ed25519.PublicKey
	// Site, if set, is the only site accepted (the one installed).
	Site string
	// MinSerial refuses a pack with a lower serial (the installed one's).
	MinSerial uint64
	// Passphrase opens a pack sealed to a passphrase.
	Passphrase string
	// Identities open a pack sealed to this unit (its age X25519 identity).
	Identities []age.Identity
}

// Open verifies data and decrypts it. It writes nothing; on any refusal
// the error wraps one of the Err values and names what is wrong.
func Open(data []byte, o VerifyOptions) (*Pack, error) {
	p, err := open(data, o)
	if err != nil {
		return nil, fmt.Errorf("sitepack: %w", err)
	}
	return p, nil
}

func open(data []byte, o VerifyOptions) (*Pack, error) {
	h, authority, err := verifyHeader(data, o.Trusted)
	if err != nil {
		return nil, err
	}
	// From here on the header is the signer's word.
	if o.Site != "" && h.site != o.Site {
		return nil, fmt.Errorf("%w: the pack is for site %q, this unit is site %q", ErrWrongSite, h.site, o.Site)
	}
	if h.serial < o.MinSerial {
		return nil, fmt.Errorf("%w: the pack's serial is %d, the installed pack's is %d", ErrRollback, h.serial, o.MinSerial)
	}
	var ids []age.Identity
	switch h.sealing {
	case SealPassphrase:
		if o.Passphrase == "" {
			return nil, fmt.Errorf("%w: the pack is sealed to a passphrase and none was given", ErrDecrypt)
		}
		id, err := age.NewScryptIdentity(normPassphrase(o.Passphrase))
		if err != nil {
			return nil, fmt.Errorf("%w: passphrase: %w", ErrDecrypt, err)
		}
		id.SetMaxWorkFactor(scryptMaxWorkFactor)
		ids = []age.Identity{id}
	case SealX25519:
		if len(o.Identities) == 0 {
			return nil, fmt.Errorf("%w: the pack is sealed to a unit key and this unit has none", ErrDecrypt)
		}
		ids = o.Identities
	}
	r, err := age.Decrypt(bytes.NewReader(h.payload), ids...)
	if err != nil {
		what := "wrong passphrase"
		if h.sealing == SealX25519 {
			what = "the pack is sealed to another unit"
		}
		// age's error names no secret; keep it for the detail.
		return nil, fmt.Errorf("%w: %s (%v)", ErrDecrypt, what, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, MaxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("%w: the encrypted secrets are damaged: %v", ErrDecrypt, err)
	}
	s, err := parseSecrets(plain)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	// The export key travels so this unit can export; a cert no trusted
	// key made would give packs no spare accepts. Better refused now.
	if s.exportKey != nil && certAuthority(o.Trusted, h.site, s.exportKey.Public().(ed25519.PublicKey), s.exportCert) == nil {
		return nil, fmt.Errorf("%w: the export key's cert verifies under none of the %d trusted keys for site %q; packs this unit exported would be refused", ErrMalformed, len(o.Trusted), h.site)
	}
	return &Pack{
		Contents: Contents{
			Site: h.site, Unit: h.unit, Serial: h.serial, Created: time.Unix(h.created, 0).UTC(),
			Config: s.config, WireGuardKey: s.key, PairSecret: s.pairSecret, APIToken: s.apiToken, UPSPassword: s.upsPass,
			ExportKey: s.exportKey, ExportCert: s.exportCert,
		},
		Signer:    append(ed25519.PublicKey(nil), h.signer...),
		Authority: append(ed25519.PublicKey(nil), authority...),
		Certified: len(h.cert) != 0,
		Sealing:   h.sealing,
	}, nil
}

// vouch returns the trusted key that vouches for h's signer: the signer
// itself if it is trusted (and then the pack must carry no cert), else
// the trusted key that certified the signer as h.site's export key.
func vouch(h *header, trusted []ed25519.PublicKey) (ed25519.PublicKey, error) {
	for _, k := range trusted {
		if k.Equal(h.signer) {
			if len(h.cert) != 0 {
				return nil, fmt.Errorf("%w: signer %s is a trusted key and also carries a cert; a trusted key signs without one", ErrMalformed, Fingerprint(h.signer))
			}
			return k, nil
		}
	}
	if len(h.cert) == 0 {
		return nil, fmt.Errorf("%w: signer %s is not among the %d trusted keys and the pack has no cert", ErrUnknownSigner, Fingerprint(h.signer), len(trusted))
	}
	if a := certAuthority(trusted, h.site, h.signer, h.cert); a != nil {
		return a, nil
	}
	// The cert is a bare signature: which of its three inputs is wrong
	// cannot be told apart.
	return nil, fmt.Errorf("%w: signer %s is not among the %d trusted keys and its cert does not verify under any of them for site %q and this signer (a cert made by an untrusted key, for another site or for another export key)", ErrUnknownSigner, Fingerprint(h.signer), len(trusted), h.site)
}

// validExportKey checks Contents.ExportKey and ExportCert: both empty, or
// a whole ed25519 key and a cert of CertSize. Only Open, which knows the
// trusted keys, can check the cert itself.
func validExportKey(k ed25519.PrivateKey, cert []byte) error {
	switch {
	case len(k) == 0 && len(cert) == 0:
		return nil
	case len(k) == 0:
		return errors.New("export key: not set, and the export cert is")
	case len(cert) == 0:
		return errors.New("export cert: not set, and the export key is")
	case len(k) != ed25519.PrivateKeySize:
		return fmt.Errorf("export key: %d bytes, not an ed25519 private key", len(k))
	case !ed25519.NewKeyFromSeed(k.Seed()).Equal(k):
		return errors.New("export key: its public half does not match its seed")
	case len(cert) != CertSize:
		return fmt.Errorf("export cert: %d bytes; want %d", len(cert), CertSize)
	}
	return nil
}

// Fingerprint is a short, printable name for a signer key: the first 8
// bytes in hex.
func Fingerprint(k ed25519.PublicKey) string {
	if len(k) < 8 {
		return "(none)"
	}
	return fmt.Sprintf("%x", []byte(k[:8]))
}

// passphraseAlphabet is Crockford's base32 in lower case: no i, l, o or
// u to mistake for 1, 0 or v.
const passphraseAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// normPassphrase is what is really sealed to and opened with: lower case,
// without the spaces and dashes a technician may or may not type.
func normPassphrase(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// NewPassphrase returns a random passphrase to seal a pack with: 20
// characters (100 bits) in groups of 4, to be read over the phone.
func NewPassphrase() string {
	var b [20]byte
	rand.Read(b[:])
	out := make([]byte, 0, 24)
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			out = append(out, '-')
		}
		out = append(out, passphraseAlphabet[c%32])
	}
	return string(out)
}
