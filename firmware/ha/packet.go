package ha

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Wire format of a heartbeat, version 1 (big-endian, 51 to 83 bytes):
//
//	off len field
//	  0   4 magic "SHHA"
//	  4   1 version (1)
//	  5   1 role (State: 0 init, 1 standby, 2 active, 3 frozen)
//	  6   1 configured priority (1..255)
//	  7   1 effective priority (0..configured)
//	  8   1 health bits (HealthWAN 0x01, HealthTunnel 0x02, HealthDC 0x04, HealthLAN 0x08)
//	  9   1 flags (flagYield 0x01)
//	 10   1 unit id length n (1..32)
//	 11   8 boot id (random per start, never 0)
//	 19   8 sequence number (1, 2, … within a boot)
//	 27   8 sender's monotonic clock, ns since its start
//	 35   n unit id ([A-Za-z0-9._-])
//	35+n 16 HMAC-SHA256 over bytes [0, 35+n), keyed by the pair secret,
//	        truncated to its first 16 bytes
//
// The MAC is truncated to 128 bits as in IPsec's HMAC-SHA-256-128 (RFC
// 4868; RFC 2104 §5 allows keeping at least half the output): forging one
// heartbeat means guessing 2^128 values online, and the pair rejects a
// forgery at a few microseconds each, so even line-rate guessing on a
// gigabit LAN (about 2^21 packets a second) needs 2^106 seconds. The 16
// bytes saved keep a heartbeat well under 100 bytes (10 kB/s at 10 ms).
// Unknown health or flag bits, an unknown role or version, a bad length
// and an effective priority above the configured one are all malformed:
// a new field means a new version, not a silent reinterpretation.
const (
	magic       = "SHHA"
	version     = 1
	headerLen   = 35
	macLen      = 16
	MaxUnitID   = 32
	minPacket   = headerLen + 1 + macLen
	maxPacket   = headerLen + MaxUnitID + macLen
	flagYield   = 0x01
	knownFlags  = flagYield
	MinSecret   = 16 // bytes of pair secret at least
	knownHealth = HealthOK
)

// Sentinel errors of Decode; the returned error wraps one of them with
// the detail.
var (
	// ErrMalformed: not a heartbeat of this version, or one whose
	// authenticated fields are out of range.
	ErrMalformed = errors.New("ha: malformed heartbeat")
	// ErrForged: the MAC does not match (a forgery, a corrupted packet or
	// a peer with a different pair secret).
	ErrForged = errors.New("ha: heartbeat MAC does not match (forged, or the peer has another pair secret)")
)

// Health is a unit's health as bits: each set bit is a check that passes.
type Health uint8

const (
	// HealthWAN: the WAN link is up and its gateway answers.
	HealthWAN Health = 1 << iota
	// HealthTunnel: the active's tunnel is up; for a standby, whose
	// tunnel is down on purpose, that it could bring it up (WireGuard
	// device created, site key loaded).
	HealthTunnel
	// HealthDC: the datacenter probes pass (through the tunnel on the
	// active; to the datacenter's public endpoints over the WAN on the
	// standby).
	HealthDC
	// HealthLAN: the LAN link (towards the office) has carrier. A unit
	// without it cannot serve the office: it is not eligible, and an
	// active one steps down at once (its tunnel would only fight the
	// peer's for the datacenter's endpoint).
	HealthLAN

	// HealthOK is every check passing.
	HealthOK = HealthWAN | HealthTunnel | HealthDC | HealthLAN

	eligibleBits = HealthWAN | HealthTunnel | HealthLAN
)

// Eligible reports whether a unit with this health may become active:
// never with a broken WAN, tunnel or LAN link.
func (h Health) Eligible() bool { return h&eligibleBits == eligibleBits }

// Sick reports whether any check fails.
func (h Health) Sick() bool { return h&HealthOK != HealthOK }

// Failed counts the failing checks.
func (h Health) Failed() int {
	n := 0
	for _, b := range []Health{HealthWAN, HealthTunnel, HealthDC, HealthLAN} {
		if h&b == 0 {
			n++
		}
	}
	return n
}

// String lists the checks, failing ones with a "!": "wan,!tunnel,dc".
func (h Health) String() string {
	var parts []string
	for _, c := range []struct {
		b    Health
		name string
	}{{HealthWAN, "wan"}, {HealthTunnel, "tunnel"}, {HealthDC, "dc"}, {HealthLAN, "lan"}} {
		if h&c.b == 0 {
			parts = append(parts, "!"+c.name)
		} else {
			parts = append(parts, c.name)
		}
	}
	return strings.Join(parts, ",")
}

// Broken names the failing checks that make a unit ineligible, for
// messages: "WAN link down", "tunnel down", "WAN link and tunnel down".
func (h Health) Broken() string {
	var parts []string
	if h&HealthLAN == 0 {
		parts = append(parts, "LAN link down")
	}
	switch {
	case h&HealthWAN == 0 && h&HealthTunnel == 0:
		parts = append(parts, "WAN link and tunnel down")
	case h&HealthWAN == 0:
		parts = append(parts, "WAN link down")
	case h&HealthTunnel == 0:
		parts = append(parts, "tunnel down")
	case h&HealthDC == 0 && len(parts) == 0:
		parts = append(parts, "datacenter probes failing")
	}
	if len(parts) == 0 {
		return "healthy"
	}
	return strings.Join(parts, ", ")
}

// MarshalText makes Health print as its String in JSON.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads what MarshalText wrote ("wan,!tunnel,dc"), so that
// shisactl can decode the daemon's status.
func (h *Health) UnmarshalText(b []byte) error {
	var v Health
	for part := range strings.SplitSeq(string(b), ",") {
		name, failing := strings.CutPrefix(part, "!")
		var bit Health
		switch name {
		case "wan":
			bit = HealthWAN
		case "tunnel":
			bit = HealthTunnel
		case "dc":
			bit = HealthDC
		case "lan":
			bit = HealthLAN
		default:
			return fmt.Errorf("ha: unknown health check %q in %q", name, b)
		}
		if !failing {
			v |= bit
		}
	}
	*h = v
	return nil
}

// Heartbeat is one heartbeat's content.
type Heartbeat struct {
	UnitID    string
	BootID    uint64
	Seq       uint64
	Role      State
	Priority  uint8 // configured
	Effective uint8 // lowered by tracking
	Health    Health
	// Yield: the sender hands the active role over (manual handover, or
	// shutting down) and will not preempt back.
	Yield bool
	// SentAt is the sender's monotonic clock since it started; only
	// meaningful between two heartbeats of the same boot.
	SentAt time.Duration
}

// ValidUnitID checks a unit id: 1 to 32 bytes of letters, digits, '.',
// '_' and '-'.
func ValidUnitID(id string) error {
	if err := validUnitID(id); err != nil {
		return fmt.Errorf("ha: %w", err)
	}
	return nil
}

func validUnitID(id string) error {
	if id == "" || len(id) > MaxUnitID {
		return fmt.Errorf("unit id %q must be 1 to %d characters", id, MaxUnitID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("unit id %q: character %q not allowed (letters, digits, '.', '_', '-')", id, c)
		}
	}
	return nil
}

func (h *Heartbeat) validate() error {
	if err := validUnitID(h.UnitID); err != nil {
		return err
	}
	switch {
	case h.Role > Frozen:
		return fmt.Errorf("unknown role %d", h.Role)
	case h.Priority == 0:
		return errors.New("priority 0")
	case h.Effective > h.Priority:
		return fmt.Errorf("effective priority %d above configured %d", h.Effective, h.Priority)
	case h.Health&^knownHealth != 0:
		return fmt.Errorf("unknown health bits %#x", uint8(h.Health&^knownHealth))
	case h.BootID == 0:
		return errors.New("boot id 0")
	case h.Seq == 0:
		return errors.New("sequence number 0")
	case h.SentAt < 0:
		return errors.New("negative send time")
	}
	return nil
}

// Encode appends the heartbeat, authenticated with key, to dst.
func Encode(dst []byte, key []byte, h *Heartbeat) ([]byte, error) {
	if err := h.validate(); err != nil {
		return dst, fmt.Errorf("ha: encoding heartbeat: %w", err)
	}
	start := len(dst)
	dst = append(dst, magic...)
	var flags byte
	if h.Yield {
		flags |= flagYield
	}
	dst = append(dst, version, byte(h.Role), h.Priority, h.Effective, byte(h.Health), flags, byte(len(h.UnitID)))
	dst = binary.BigEndian.AppendUint64(dst, h.BootID)
	dst = binary.BigEndian.AppendUint64(dst, h.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.SentAt))
	dst = append(dst, h.UnitID...)
	return append(dst, mac(key, dst[start:])...), nil
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)[:macLen]
}

// Decode parses and authenticates one heartbeat. Packets are untrusted:
// the framing is checked first (ErrMalformed), then the MAC in constant
// time (ErrForged), and only then the fields.
func Decode(key []byte, b []byte) (Heartbeat, error) {
	var h Heartbeat
	if len(b) < minPacket || len(b) > maxPacket {
		return h, fmt.Errorf("%w: %d bytes (want %d to %d)", ErrMalformed, len(b), minPacket, maxPacket)
	}
	if string(b[:4]) != magic {
		return h, fmt.Errorf("%w: bad magic %q", ErrMalformed, b[:4])
	}
	if b[4] != version {
		return h, fmt.Errorf("%w: version %d (this unit speaks %d; are both units on the same firmware?)", ErrMalformed, b[4], version)
	}
	n := int(b[10])
	if len(b) != headerLen+n+macLen {
		return h, fmt.Errorf("%w: unit id length %d does not match packet length %d", ErrMalformed, n, len(b))
	}
	body := b[:headerLen+n]
	if !hmac.Equal(mac(key, body), b[headerLen+n:]) {
		return h, ErrForged
	}
	flags := b[9]
	if flags&^knownFlags != 0 {
		return h, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags&^knownFlags)
	}
	sent := binary.BigEndian.Uint64(b[27:35])
	if sent > 1<<63-1 {
		return h, fmt.Errorf("%w: send time out of range", ErrMalformed)
	}
	h = Heartbeat{
		Role:      State(b[5]),
		Priority:  b[6],
		Effective: b[7],
		Health:    Health(b[8]),
		Yield:     flags&flagYield != 0,
		BootID:    binary.BigEndian.Uint64(b[11:19]),
		Seq:       binary.BigEndian.Uint64(b[19:27]),
		SentAt:    time.Duration(sent),
		UnitID:    string(b[headerLen : headerLen+n]),
	}
	if err := h.validate(); err != nil {
		return Heartbeat{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return h, nil
}
