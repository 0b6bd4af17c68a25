package sitepack

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The refusals of Open (and of Install for the rollback and site checks).
// Each is returned wrapped in a message naming the field at fault.
var (
	ErrTruncated     = errors.New("site pack is truncated")
	ErrMalformed     = errors.New("site pack is malformed")
	ErrVersion       = errors.New("site pack format version is not supported")
	ErrOversized     = errors.New("site pack field is too large")
	ErrTampered      = errors.New("site pack signature does not match its contents")
	ErrUnknownSigner = errors.New("site pack is signed by an untrusted key")
	ErrWrongSite     = errors.New("site pack is for another site")
	ErrRollback      = errors.New("site pack is older than the one installed")
	ErrDecrypt       = errors.New("site pack cannot be decrypted")
)

// Format constants.
const (
	Magic   = "shisapk\n"
	Version = 1

	// MaxPackSize bounds a whole pack file; read no more than this.
	MaxPackSize = 320 << 10
	// MaxConfig bounds site.yaml.
	MaxConfig = 128 << 10
	// MaxSecret bounds the pair secret and the API token.
	MaxSecret = 1024
	// MinSecret is the shortest pair secret or token (as config requires).
	MinSecret = 32
	// MaxPayload bounds the age ciphertext: the plaintext plus age's
	// header and per-chunk overhead.
	MaxPayload = MaxConfig + 4 + 32 + 2*(2+MaxSecret) + 2 + MaxPassword + 1 + ed25519.SeedSize + 1 + CertSize + 8<<10

	// CertSize is the length of an export key's certificate: an ed25519
	// signature by a trusted (datacenter) key. See Certify.
	CertSize = ed25519.SignatureSize

	// MaxPassword bounds the UPS (NUT) password.
	MaxPassword = 256

	maxID = 63
)

// Sealing says how the secrets are encrypted.
type Sealing byte

// The sealings.
const (
	SealPassphrase Sealing = 1 // age scrypt recipient
	SealX25519     Sealing = 2 // age X25519 recipient (the receiving unit)
)

func (s Sealing) String() string {
	switch s {
	case SealPassphrase:
		return "passphrase"
	case SealX25519:
		return "unit key"
	}
	return fmt.Sprintf("sealing(%d)", byte(s))
}

// header is the clear part of a pack.
type header struct {
	sealing Sealing
	site    string
	unit    string
	serial  uint64
	created int64
	payload []byte
	signer  ed25519.PublicKey
	cert    []byte // empty, or CertSize: the signer's certificate
	sig     []byte
	signed  []byte // every byte before sig
}

// validID checks a site or unit id: 1..63 of [a-z0-9-].
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validSecret checks a pair secret or token: empty, or MinSecret..MaxSecret
// printable ASCII without spaces. The error never shows the secret.
func validSecret(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if len(b) < MinSecret {
		return fmt.Errorf("%d bytes; at least %d are needed", len(b), MinSecret)
	}
	if len(b) > MaxSecret {
		return fmt.Errorf("%d bytes, over the limit of %d: %w", len(b), MaxSecret, ErrOversized)
	}
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return errors.New("holds whitespace or non-printable characters")
		}
	}
	return nil
}

// validPassword checks the UPS password: empty, or 1..MaxPassword
// printable ASCII (spaces allowed). The error never shows it.
func validPassword(b []byte) error {
	if len(b) > MaxPassword {
		return fmt.Errorf("%d bytes, over the limit of %d: %w", len(b), MaxPassword, ErrOversized)
	}
	for _, c := range b {
		if c < ' ' || c > '~' {
			return errors.New("holds a line break or non-printable characters")
		}
	}
	return nil
}

// reader reads fields from a byte slice, never past its end.
type reader struct {
	b   []byte
	off int
}

func (r *reader) take(n int, field string) ([]byte, error) {
	if n < 0 || len(r.b)-r.off < n {
		return nil, fmt.Errorf("%w: ends inside %s (at byte %d)", ErrTruncated, field, r.off)
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, nil
}

func (r *reader) u8(field string) (int, error) {
	b, err := r.take(1, field)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

func (r *reader) u64(field string) (uint64, error) {
	b, err := r.take(8, field)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

// bytes reads a length-prefixed field of width 1, 2 or 4 bytes, refusing
// a length over max before taking anything.
func (r *reader) bytes(width, min, max int, field string) ([]byte, error) {
	lb, err := r.take(width, field+" length")
	if err != nil {
		return nil, err
	}
	var n uint64
	for _, c := range lb {
		n = n<<8 | uint64(c)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrOversized, field, n, max)
	}
	if n < uint64(min) {
		return nil, fmt.Errorf("%w: %s is %d bytes, at least %d are needed", ErrMalformed, field, n, min)
	}
	return r.take(int(n), field)
}

func (r *reader) id(field string) (string, error) {
	b, err := r.bytes(1, 1, maxID, field)
	if err != nil {
		return "", err
	}
	if !validID(string(b)) {
		return "", fmt.Errorf("%w: %s is not 1 to 63 of a-z, 0-9 and '-'", ErrMalformed, field)
	}
	return string(b), nil
}

func (r *reader) end(what string) error {
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %d bytes after the %s", ErrMalformed, len(r.b)-r.off, what)
	}
	return nil
}

// parseHeader splits a pack into its fields without verifying anything but
// the framing.
func parseHeader(data []byte) (*header, error) {
	if len(data) > MaxPackSize {
		return nil, fmt.Errorf("%w: the file is %d bytes, the limit is %d", ErrOversized, len(data), MaxPackSize)
	}
	r := &reader{b: data}
	magic, err := r.take(len(Magic), "magic")
	if err != nil {
		if strings.HasPrefix(Magic, string(data)) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: not a site pack (no %q header)", ErrMalformed, strings.TrimSpace(Magic))
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("%w: not a site pack (no %q header)", ErrMalformed, strings.TrimSpace(Magic))
	}
	v, err := r.u8("version")
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, fmt.Errorf("%w: version is %d; this firmware reads version %d", ErrVersion, v, Version)
	}
	h := &header{}
	s, err := r.u8("sealing")
	if err != nil {
		return nil, err
	}
	h.sealing = Sealing(s)
	if h.sealing != SealPassphrase && h.sealing != SealX25519 {
		return nil, fmt.Errorf("%w: sealing is %d, want 1 (passphrase) or 2 (unit key)", ErrMalformed, s)
	}
	if h.site, err = r.id("site"); err != nil {
		return nil, err
	}
	if h.unit, err = r.id("unit"); err != nil {
		return nil, err
	}
	if h.serial, err = r.u64("serial"); err != nil {
		return nil, err
	}
	if h.serial == 0 {
		return nil, fmt.Errorf("%w: serial is 0; serials start at 1", ErrMalformed)
	}
	c, err := r.u64("created")
	if err != nil {
		return nil, err
	}
	h.created = int64(c)
	if h.payload, err = r.bytes(4, 1, MaxPayload, "payload"); err != nil {
		return nil, err
	}
	signer, err := r.take(ed25519.PublicKeySize, "signer")
	if err != nil {
		return nil, err
	}
	h.signer = ed25519.PublicKey(signer)
	n, err := r.u8("cert length")
	if err != nil {
		return nil, err
	}
	if n != 0 && n != CertSize {
		return nil, fmt.Errorf("%w: cert is %d bytes, want 0 or %d", ErrMalformed, n, CertSize)
	}
	if h.cert, err = r.take(n, "cert"); err != nil {
		return nil, err
	}
	h.signed = data[:r.off]
	if h.sig, err = r.take(ed25519.SignatureSize, "signature"); err != nil {
		return nil, err
	}
	if err := r.end("signature"); err != nil {
		return nil, err
	}
	return h, nil
}

// appendHeader appends everything up to and including the cert: the
// signed bytes.
func appendHeader(b []byte, h *header) []byte {
	b = append(b, Magic...)
	b = append(b, Version, byte(h.sealing))
	b = append(b, byte(len(h.site)))
	b = append(b, h.site...)
	b = append(b, byte(len(h.unit)))
	b = append(b, h.unit...)
	b = binary.BigEndian.AppendUint64(b, h.serial)
	b = binary.BigEndian.AppendUint64(b, uint64(h.created))
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.payload)))
	b = append(b, h.payload...)
	b = append(b, h.signer...)
	b = append(b, byte(len(h.cert)))
	return append(b, h.cert...)
}

// secrets is the age plaintext.
type secrets struct {
	config     []byte
	key        [32]byte
	pairSecret []byte
	apiToken   []byte
	upsPass    []byte
	exportKey  ed25519.PrivateKey // nil, or a key (stored as its seed)
	exportCert []byte             // nil, or CertSize bytes
}

func (s *secrets) marshal() []byte {
	b := make([]byte, 0, 4+len(s.config)+32+6+len(s.pairSecret)+len(s.apiToken)+len(s.upsPass)+2+ed25519.SeedSize+len(s.exportCert))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.config)))
	b = append(b, s.config...)
	b = append(b, s.key[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.pairSecret)))
	b = append(b, s.pairSecret...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.apiToken)))
	b = append(b, s.apiToken...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.upsPass)))
	b = append(b, s.upsPass...)
	if len(s.exportKey) == 0 {
		b = append(b, 0)
	} else {
		b = append(b, ed25519.SeedSize)
		b = append(b, s.exportKey.Seed()...)
	}
	b = append(b, byte(len(s.exportCert)))
	return append(b, s.exportCert...)
}

func parseSecrets(data []byte) (*secrets, error) {
	r := &reader{b: data}
	s := &secrets{}
	var err error
	if s.config, err = r.bytes(4, 1, MaxConfig, "site.yaml"); err != nil {
		return nil, err
	}
	k, err := r.take(32, "WireGuard key")
	if err != nil {
		return nil, err
	}
	copy(s.key[:], k)
	if s.key == ([32]byte{}) {
		return nil, fmt.Errorf("%w: the WireGuard key is all zeros", ErrMalformed)
	}
	if s.pairSecret, err = r.bytes(2, 0, MaxSecret, "pair secret"); err != nil {
		return nil, err
	}
	if err := validSecret(s.pairSecret); err != nil {
		return nil, fmt.Errorf("%w: pair secret: %w", ErrMalformed, err)
	}
	if s.apiToken, err = r.bytes(2, 0, MaxSecret, "API token"); err != nil {
		return nil, err
	}
	if err := validSecret(s.apiToken); err != nil {
		return nil, fmt.Errorf("%w: API token: %w", ErrMalformed, err)
	}
	if s.upsPass, err = r.bytes(2, 0, MaxPassword, "UPS password"); err != nil {
		return nil, err
	}
	if err := validPassword(s.upsPass); err != nil {
		return nil, fmt.Errorf("%w: UPS password: %w", ErrMalformed, err)
	}
	seed, err := r.bytes(1, 0, ed25519.SeedSize, "export key")
	if err != nil {
		return nil, err
	}
	if len(seed) != 0 && len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: export key is %d bytes, want 0 or %d", ErrMalformed, len(seed), ed25519.SeedSize)
	}
	if s.exportCert, err = r.bytes(1, 0, CertSize, "export cert"); err != nil {
		return nil, err
	}
	if len(s.exportCert) != 0 && len(s.exportCert) != CertSize {
		return nil, fmt.Errorf("%w: export cert is %d bytes, want 0 or %d", ErrMalformed, len(s.exportCert), CertSize)
	}
	if (len(seed) == 0) != (len(s.exportCert) == 0) {
		return nil, fmt.Errorf("%w: an export key needs its cert and a cert its key; the pack has one without the other", ErrMalformed)
	}
	if err := r.end("export cert"); err != nil {
		return nil, err
	}
	if len(seed) != 0 {
		s.exportKey = ed25519.NewKeyFromSeed(seed)
	}
	// Copy out of the decrypted buffer so the caller owns the slices.
	s.config = append([]byte(nil), s.config...)
	s.pairSecret = append([]byte(nil), s.pairSecret...)
	s.apiToken = append([]byte(nil), s.apiToken...)
	s.upsPass = append([]byte(nil), s.upsPass...)
	s.exportCert = append([]byte(nil), s.exportCert...)
	return s, nil
}
