package netctl

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// netstackRetry is how long NetstackPinger waits for a reply on one ICMP
// endpoint before it sends the echo again from a new endpoint.
//
// netstack's PingConn.ReadFrom always waits for a "readable" event before
// it reads, and gVisor raises that event only when an endpoint's receive
// queue goes from empty to non-empty. A reply that arrives before the
// reader starts waiting is therefore never read, and neither is anything
// after it: that endpoint is deaf for good. Ping starts its reader before
// sending, which makes this rare (measured: about 1 in 250 sequential pings
// without that), and retries on a fresh endpoint to recover when it
// happens anyway.
const netstackRetry = 250 * time.Millisecond

// NetstackPinger is a [Pinger] on a wireguard-go userspace netstack, for
// rootless runs. Each attempt opens its own ICMP endpoint in the netstack
// (which chooses the echo identifier, as the kernel does for unprivileged
// sockets), bound to src when src is valid (it must be an address of the
// netstack). An unanswered echo is sent again from a new endpoint every
// 250 ms until ctx ends (see netstackRetry); the round-trip time is that of
// the attempt that was answered.
type NetstackPinger struct {
	net *netstack.Net
	seq atomic.Uint32
}

var _ Pinger = (*NetstackPinger)(nil)

// NewNetstackPinger returns a pinger that sends through n.
func NewNetstackPinger(n *netstack.Net) *NetstackPinger {
	p := &NetstackPinger{net: n}
	p.seq.Store(rand.Uint32())
	return p
}

// Ping implements [Pinger].
func (p *NetstackPinger) Ping(ctx context.Context, src, dst netip.Addr) (time.Duration, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !dst.IsValid() {
		return 0, fmt.Errorf("netctl: netstack ping: no destination address")
	}
	if src.IsValid() && src.Is4() != dst.Is4() {
		return 0, fmt.Errorf("netctl: netstack ping %s from %s: source and destination are of different families", dst, src)
	}
	seq := uint16(p.seq.Add(1))
	payload := echoPayload(rand.Uint64())
	typ := icmp.Type(ipv4.ICMPTypeEcho)
	if dst.Is6() {
		typ = ipv6.ICMPTypeEchoRequest
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{Seq: int(seq), Data: payload}}
	b, err := msg.Marshal(nil) // netstack fills in the identifier and checksum
	if err != nil {
		return 0, fmt.Errorf("netctl: netstack ping %s: %w", dst, err)
	}

	retry := time.NewTicker(netstackRetry)
	defer retry.Stop()
	for {
		a, err := p.attempt(src, dst, b, seq, payload)
		if err != nil {
			return 0, err
		}
		select {
		case t := <-a.replied:
			a.stop()
			return t.Sub(a.sent), nil
		case <-ctx.Done():
			a.stop()
			return 0, fmt.Errorf("netctl: netstack ping %s from %s: no reply: %w", dst, src, ctx.Err())
		case <-retry.C:
			a.stop()
		}
	}
}

// echoAttempt is one echo sent from one endpoint, with the goroutine that
// waits for its reply.
type echoAttempt struct {
	sent    time.Time
	replied chan time.Time // buffered 1
	stop    func()         // closes the endpoint and waits for the reader
}

func (p *NetstackPinger) attempt(src, dst netip.Addr, b []byte, seq uint16, payload []byte) (*echoAttempt, error) {
	pc, err := p.net.DialPingAddr(src, dst)
	if err != nil {
		if src.IsValid() {
			err = fmt.Errorf("%w (is %s an address of the netstack?)", err, src)
		}
		return nil, fmt.Errorf("netctl: netstack ping %s from %s: %w", dst, src, err)
	}
	proto, replyType := 1, icmp.Type(ipv4.ICMPTypeEchoReply)
	if dst.Is6() {
		proto, replyType = 58, ipv6.ICMPTypeEchoReply
	}
	a := &echoAttempt{replied: make(chan time.Time, 1)}
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		close(ready) // about to wait: the echo may go
		for {
			// Read ends with os.ErrDeadlineExceeded once pc is closed
			// (Close fires the read deadline).
			n, err := pc.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || m.Type != replyType {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && uint16(e.Seq) == seq && bytes.Equal(e.Data, payload) {
				a.replied <- now
				return
			}
		}
	})
	a.stop = func() {
		pc.Close()
		wg.Wait()
	}
	<-ready
	a.sent = time.Now()
	if _, err := pc.Write(b); err != nil {
		a.stop()
		return nil, fmt.Errorf("netctl: netstack ping %s from %s: send: %w", dst, src, err)
	}
	return a, nil
}
