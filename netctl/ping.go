package netctl

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ErrPingerClosed is returned by Ping after Close.
var ErrPingerClosed = errors.New("netctl: pinger closed")

// ICMPPinger is a [Pinger] on kernel ICMP sockets.
//
// It keeps one socket per source address, bound to it, so that probes
// leave with the tunnel address whatever the routing table would pick,
// and one goroutine per socket that reads replies and hands each to the
// Ping waiting for it. It prefers an unprivileged ICMP datagram socket
// (allowed by net.ipv4.ping_group_range) and falls back to a raw socket
// (root or CAP_NET_RAW). With a datagram socket the kernel chooses the
// echo identifier, so replies are matched by sequence number and a random
// token in the payload; with a raw socket, by identifier too.
//
// Close stops the readers and waits for them.
type ICMPPinger struct {
	wg sync.WaitGroup // one per socket reader

	mu     sync.Mutex
	closed bool
	socks  map[netip.Addr]*icmpSocket // by source address; guarded by mu
}

var _ Pinger = (*ICMPPinger)(nil)

// NewICMPPinger returns a pinger. Sockets are opened on the first Ping from
// each source address.
func NewICMPPinger() (*ICMPPinger, error) {
	return &ICMPPinger{socks: map[netip.Addr]*icmpSocket{}}, nil
}

// icmpSocket is one socket bound to one source address, with its reader.
type icmpSocket struct {
	conn *icmp.PacketConn
	src  netip.Addr
	raw  bool   // raw socket: we choose the identifier
	id   uint16 // echo identifier, raw sockets only

	mu      sync.Mutex
	seq     uint16                 // last sequence number used
	waiting map[uint16]*echoWaiter // by sequence number
	err     error                  // set when the reader stopped
}

type echoWaiter struct {
	dst   netip.Addr
	token uint64
	reply chan time.Time // buffered 1: when the reply was read
}

// Ping implements [Pinger]. src must be an address on this machine (the
// tunnel address); an invalid src lets the kernel choose.
func (p *ICMPPinger) Ping(ctx context.Context, src, dst netip.Addr) (time.Duration, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !dst.IsValid() {
		return 0, fmt.Errorf("netctl: ping: no destination address")
	}
	if !src.IsValid() {
		if dst.Is4() {
			src = netip.IPv4Unspecified()
		} else {
			src = netip.IPv6Unspecified()
		}
	}
	if src.Is4() != dst.Is4() {
		return 0, fmt.Errorf("netctl: ping %s from %s: source and destination are of different families", dst, src)
	}
	s, err := p.socket(src)
	if err != nil {
		return 0, err
	}
	return s.ping(ctx, dst)
}

// socket returns the socket for src, opening it and starting its reader.
func (p *ICMPPinger) socket(src netip.Addr) (*icmpSocket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPingerClosed
	}
	if s := p.socks[src]; s != nil {
		return s, nil
	}
	s, err := openICMPSocket(src)
	if err != nil {
		return nil, err
	}
	p.socks[src] = s
	p.wg.Go(func() {
		s.read()
		// The reader stops when the socket is closed or broken; forget a
		// broken socket so that the next Ping opens a new one.
		p.mu.Lock()
		if p.socks[src] == s {
			delete(p.socks, src)
		}
		p.mu.Unlock()
	})
	return s, nil
}

// Close closes the sockets, fails the pings in flight with ErrPingerClosed
// and waits for the readers to stop. It may be called more than once.
func (p *ICMPPinger) Close() error {
	p.mu.Lock()
	p.closed = true
	var errs []error
	for src, s := range p.socks {
		if err := s.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("netctl: close ICMP socket on %s: %w", src, err))
		}
		delete(p.socks, src)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return errors.Join(errs...)
}

func openICMPSocket(src netip.Addr) (*icmpSocket, error) {
	dgram, raw := "udp4", "ip4:icmp"
	if src.Is6() {
		dgram, raw = "udp6", "ip6:ipv6-icmp"
	}
	s := &icmpSocket{src: src, waiting: map[uint16]*echoWaiter{}, seq: uint16(rand.Uint32())}
	c, derr := icmp.ListenPacket(dgram, src.String())
	if derr == nil {
		s.conn = c
		return s, nil
	}
	c, rerr := icmp.ListenPacket(raw, src.String())
	if rerr == nil {
		s.conn, s.raw, s.id = c, true, uint16(rand.Uint32())
		return s, nil
	}
	hint := "allow unprivileged ping with sysctl net.ipv4.ping_group_range, or run with CAP_NET_RAW"
	if errors.Is(derr, syscall.EADDRNOTAVAIL) || errors.Is(rerr, syscall.EADDRNOTAVAIL) {
		hint = "is " + src.String() + " an address of this machine? (the tunnel address must be on the tunnel link)"
	}
	return nil, fmt.Errorf("netctl: open ICMP socket on %s: datagram: %w; raw: %w (%s)", src, derr, rerr, hint)
}

// echoPayload is a token that ties a reply to its request, then a marker
// that says who sent it to anyone watching with tcpdump.
func echoPayload(token uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, token)
	return append(b, "shisa-probe"...)
}

func (s *icmpSocket) ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	w := &echoWaiter{dst: dst, token: rand.Uint64(), reply: make(chan time.Time, 1)}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return 0, err
	}
	if len(s.waiting) >= 1<<16-1 {
		s.mu.Unlock()
		return 0, fmt.Errorf("netctl: ping %s from %s: too many pings in flight", dst, s.src)
	}
	s.seq++
	for s.waiting[s.seq] != nil {
		s.seq++
	}
	seq := s.seq
	s.waiting[seq] = w
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, seq)
		s.mu.Unlock()
	}()

	var typ icmp.Type = ipv4.ICMPTypeEcho
	if dst.Is6() {
		typ = ipv6.ICMPTypeEchoRequest
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(s.id), Seq: int(seq), Data: echoPayload(w.token)}}
	b, err := msg.Marshal(nil) // the kernel fills in the ICMPv6 checksum
	if err != nil {
		return 0, fmt.Errorf("netctl: ping %s from %s: %w", dst, s.src, err)
	}
	var to net.Addr = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if s.raw {
		to = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	start := time.Now()
	if _, err := s.conn.WriteTo(b, to); err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = ErrPingerClosed
		}
		return 0, fmt.Errorf("netctl: ping %s from %s: send: %w (check the route to %s)", dst, s.src, err, dst)
	}
	select {
	case t, ok := <-w.reply:
		if !ok {
			s.mu.Lock()
			err := s.err
			s.mu.Unlock()
			return 0, fmt.Errorf("netctl: ping %s from %s: %w", dst, s.src, err)
		}
		return t.Sub(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("netctl: ping %s from %s: no reply: %w", dst, s.src, ctx.Err())
	}
}

// read reads replies until the socket is closed or fails, then fails the
// pings still waiting.
func (s *icmpSocket) read() {
	proto := 1 // ICMPv4
	reply := icmp.Type(ipv4.ICMPTypeEchoReply)
	if s.src.Is6() {
		proto, reply = 58, ipv6.ICMPTypeEchoReply
	}
	buf := make([]byte, 1500)
	var err error
	for {
		var n int
		var peer net.Addr
		n, peer, err = s.conn.ReadFrom(buf)
		if err != nil {
			break
		}
		now := time.Now()
		m, perr := icmp.ParseMessage(proto, buf[:n])
		if perr != nil || m.Type != reply {
			continue // our own request seen by a raw socket, another ping's traffic, junk
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || len(echo.Data) < 8 || (s.raw && uint16(echo.ID) != s.id) {
			continue
		}
		from := addrOf(peer)
		token := binary.BigEndian.Uint64(echo.Data)
		s.mu.Lock()
		w := s.waiting[uint16(echo.Seq)]
		if w != nil && w.token == token && from == w.dst.WithZone("") && bytes.Equal(echo.Data, echoPayload(token)) {
			select {
			case w.reply <- now:
			default: // a duplicate reply
			}
		}
		s.mu.Unlock()
	}
	if errors.Is(err, net.ErrClosed) {
		err = ErrPingerClosed
	} else {
		err = fmt.Errorf("netctl: ICMP socket on %s failed: %w", s.src, err)
	}
	s.mu.Lock()
	s.err = err
	for seq, w := range s.waiting {
		close(w.reply)
		delete(s.waiting, seq)
	}
	s.mu.Unlock()
	_ = s.conn.Close() // a broken socket; already closed when err is ErrPingerClosed
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
