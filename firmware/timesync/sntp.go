package timesync

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// DialFunc opens a connection; net.Dialer.DialContext and
// (*netstack.Net).DialContext both fit.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// PacketSize is the size of an NTP packet without extension fields.
const PacketSize = 48

// Modes of an NTP packet (RFC 5905 figure 10).
const (
	ModeClient = 3
	ModeServer = 4
)

// Sentinel errors of a rejected reply; Query's error wraps one of them.
var (
	ErrShort       = errors.New("timesync: reply shorter than 48 bytes")
	ErrMode        = errors.New("timesync: reply is not in server mode (4)")
	ErrVersion     = errors.New("timesync: reply has an unknown NTP version")
	ErrOrigin      = errors.New("timesync: reply does not answer our request (origin timestamp differs)")
	ErrKissOfDeath = errors.New("timesync: server sent kiss-of-death")
	ErrStratum     = errors.New("timesync: server stratum outside 1–15 (unsynchronised)")
	ErrLeap        = errors.New("timesync: server's leap indicator says it is unsynchronised")
	ErrZeroTime    = errors.New("timesync: reply carries zero timestamps")
	ErrNoAnswer    = errors.New("timesync: no valid reply")
)

// Timestamp is an NTP timestamp: seconds since 1900-01-01 UTC in the high
// 32 bits, the fraction in the low 32 bits. It wraps every 136 years (the
// next era starts in 2036); differences of timestamps less than 68 years
// apart are right across the wrap, which is how offsets are computed.
type Timestamp uint64

// ntpEpochOffset is the number of seconds from 1900-01-01 to 1970-01-01.
const ntpEpochOffset = 2208988800

// ToTimestamp converts t to an NTP timestamp (era folded).
func ToTimestamp(t time.Time) Timestamp {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return Timestamp(sec<<32 | frac)
}

// Time converts ts to the time nearest to pivot (the era that puts it
// within 68 years of pivot).
func (ts Timestamp) Time(pivot time.Time) time.Time {
	return pivot.Add(ts.Sub(ToTimestamp(pivot)))
}

// Sub returns ts − u as a duration, right when the two are less than 68
// years apart, across an era wrap too.
func (ts Timestamp) Sub(u Timestamp) time.Duration {
	d := int64(uint64(ts) - uint64(u)) // 32.32 fixed point, signed
	sec := d >> 32
	frac := d & 0xffffffff
	return time.Duration(sec)*time.Second + time.Duration((frac*1e9)>>32)
}

// Packet is an NTP packet's header (extension fields and MAC ignored).
type Packet struct {
	Leap      uint8 // 0 no warning, 1/2 leap second pending, 3 unsynchronised
	Version   uint8
	Mode      uint8
	Stratum   uint8
	Poll      int8
	Precision int8
	// RootDelay and RootDispersion are 16.16 fixed-point seconds.
	RootDelay      uint32
	RootDispersion uint32
	RefID          [4]byte
	Reference      Timestamp
	Origin         Timestamp // T1 as the client sent it
	Receive        Timestamp // T2, server's clock
	Transmit       Timestamp // T3, server's clock
}

// Decode parses an NTP packet. It checks only the length: use Validate to
// decide whether to believe it.
func Decode(b []byte) (Packet, error) {
	if len(b) < PacketSize {
		return Packet{}, fmt.Errorf("%w (got %d)", ErrShort, len(b))
	}
	var p Packet
	p.Leap = b[0] >> 6
	p.Version = (b[0] >> 3) & 7
	p.Mode = b[0] & 7
	p.Stratum = b[1]
	p.Poll = int8(b[2])
	p.Precision = int8(b[3])
	p.RootDelay = binary.BigEndian.Uint32(b[4:])
	p.RootDispersion = binary.BigEndian.Uint32(b[8:])
	copy(p.RefID[:], b[12:16])
	p.Reference = Timestamp(binary.BigEndian.Uint64(b[16:]))
	p.Origin = Timestamp(binary.BigEndian.Uint64(b[24:]))
	p.Receive = Timestamp(binary.BigEndian.Uint64(b[32:]))
	p.Transmit = Timestamp(binary.BigEndian.Uint64(b[40:]))
	return p, nil
}

// Encode writes p as a 48-byte packet.
func (p Packet) Encode() []byte {
	b := make([]byte, PacketSize)
	b[0] = p.Leap<<6 | (p.Version&7)<<3 | p.Mode&7
	b[1] = p.Stratum
	b[2] = byte(p.Poll)
	b[3] = byte(p.Precision)
	binary.BigEndian.PutUint32(b[4:], p.RootDelay)
	binary.BigEndian.PutUint32(b[8:], p.RootDispersion)
	copy(b[12:16], p.RefID[:])
	binary.BigEndian.PutUint64(b[16:], uint64(p.Reference))
	binary.BigEndian.PutUint64(b[24:], uint64(p.Origin))
	binary.BigEndian.PutUint64(b[32:], uint64(p.Receive))
	binary.BigEndian.PutUint64(b[40:], uint64(p.Transmit))
	return b
}

// KissCode returns the kiss-of-death code ("RATE", "DENY", "RSTR", …) of a
// stratum-0 packet, printable characters only.
func (p Packet) KissCode() string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, string(p.RefID[:]))
}

// Validate decides whether a client may believe reply p to the request
// whose transmit timestamp was sent (RFC 4330 section 5 and RFC 5905's
// client checks).
func Validate(p Packet, sent Timestamp) error {
	switch {
	case p.Mode != ModeServer:
		return fmt.Errorf("%w (mode %d)", ErrMode, p.Mode)
	case p.Version < 1 || p.Version > 4:
		return fmt.Errorf("%w (%d)", ErrVersion, p.Version)
	case p.Origin != sent:
		return ErrOrigin
	case p.Stratum == 0:
		return fmt.Errorf("%w %q", ErrKissOfDeath, p.KissCode())
	case p.Stratum > 15:
		return fmt.Errorf("%w (%d)", ErrStratum, p.Stratum)
	case p.Leap == 3:
		return ErrLeap
	case p.Transmit == 0 || p.Receive == 0:
		return ErrZeroTime
	}
	return nil
}

// Result is one answered query.
type Result struct {
	// Server is the server as configured; Addr is the address that answered.
	Server string `json:"server"`
	Addr   string `json:"addr"`
	// Offset is how far the server's clock is ahead of ours (positive:
	// ours is behind).
	Offset time.Duration `json:"offset"`
	// RTT is the round-trip delay without the server's processing time.
	RTT            time.Duration `json:"rtt"`
	Stratum        int           `json:"stratum"`
	Leap           int           `json:"leap"`
	RefID          string        `json:"ref_id"`
	RootDelay      time.Duration `json:"root_delay"`
	RootDispersion time.Duration `json:"root_dispersion"`
	// At is the local time the reply arrived.
	At time.Time `json:"at"`
}

// Exchange computes offset and round-trip delay from the four timestamps
// of one exchange (RFC 5905 section 8): t1 request sent (ours), t2 request
// received (server's), t3 reply sent (server's), t4 reply received (ours).
func Exchange(t1, t2, t3, t4 Timestamp) (offset, rtt time.Duration) {
	offset = (t2.Sub(t1) + t3.Sub(t4)) / 2
	rtt = t4.Sub(t1) - t3.Sub(t2)
	return offset, rtt
}

func short16(v uint32) time.Duration {
	return time.Duration((uint64(v) * uint64(time.Second)) >> 16)
}

// DefaultPort is NTP's UDP port.
const DefaultPort = "123"

// serverAddr adds the default port to a server written without one
// ("ntp.example", "192.0.2.1", "2001:db8::1", "[2001:db8::1]").
func serverAddr(server string) (string, error) {
	if server == "" {
		return "", errors.New("timesync: empty server name")
	}
	if host, port, err := net.SplitHostPort(server); err == nil {
		if host == "" || port == "" {
			return "", fmt.Errorf("timesync: server %q: want host or host:port", server)
		}
		return server, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(server, "["), "]")
	return net.JoinHostPort(host, DefaultPort), nil
}

// Query makes one SNTP exchange with server (host or host:port, port 123
// by default) over a UDP connection from dial, and returns the result of
// the first valid reply. Replies that fail Validate are dropped and the
// wait goes on until ctx ends; the error then names the last rejection.
// Without a deadline in ctx Query gives up after 5 s.
//
// The request carries a random transmit timestamp rather than the clock
// (as chrony does): the server echoes it, so it authenticates the reply
// against blind spoofing and does not reveal the clock.
func Query(ctx context.Context, dial DialFunc, server string) (Result, error) {
	return query(ctx, dial, server, time.Now)
}

func query(ctx context.Context, dial DialFunc, server string, now func() time.Time) (Result, error) {
	addr, err := serverAddr(server)
	if err != nil {
		return Result{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	conn, err := dial(ctx, "udp", addr)
	if err != nil {
		return Result{}, fmt.Errorf("timesync: %s: %w", server, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return Result{}, fmt.Errorf("timesync: %s: %w", server, err)
		}
	}
	// Cancellation unblocks the read.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	sent := Timestamp(binary.BigEndian.Uint64(nonce[:]))
	req := Packet{Version: 4, Mode: ModeClient, Transmit: sent}
	t1 := now()
	if _, err := conn.Write(req.Encode()); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Result{}, fmt.Errorf("timesync: %s: sending: %w", server, err)
	}
	buf := make([]byte, 512)
	rejected := error(nil)
	for {
		n, err := conn.Read(buf)
		t4 := now()
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return Result{}, fmt.Errorf("timesync: %s: %w", server, ctx.Err())
			}
			if ctx.Err() != nil || isTimeout(err) {
				if rejected != nil {
					return Result{}, fmt.Errorf("timesync: %s: %w; last reply rejected: %w", server, ErrNoAnswer, rejected)
				}
				return Result{}, fmt.Errorf("timesync: %s: %w within the timeout", server, ErrNoAnswer)
			}
			// ECONNREFUSED (port unreachable) and the like.
			return Result{}, fmt.Errorf("timesync: %s: %w", server, err)
		}
		p, err := Decode(buf[:n])
		if err == nil {
			err = Validate(p, sent)
		}
		if err != nil {
			rejected = err
			continue
		}
		// t1 and t4 are ours; the server's t2, t3 are in its own era.
		off, rtt := Exchange(ToTimestamp(t1), p.Receive, p.Transmit, ToTimestamp(t4))
		if rtt < 0 {
			rtt = 0 // the server's clock resolution; it cannot be negative
		}
		return Result{
			Server:         server,
			Addr:           conn.RemoteAddr().String(),
			Offset:         off,
			RTT:            rtt,
			Stratum:        int(p.Stratum),
			Leap:           int(p.Leap),
			RefID:          refID(p),
			RootDelay:      short16(p.RootDelay),
			RootDispersion: short16(p.RootDispersion),
			At:             t4,
		}, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// refID prints the reference id: four ASCII letters for stratum 1 ("GPS",
// "PPS"), an IPv4 address for higher strata.
func refID(p Packet) string {
	if p.Stratum == 1 {
		return p.KissCode()
	}
	return net.IP(p.RefID[:]).String()
}
