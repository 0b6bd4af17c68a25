package netnstest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends ICMP echo requests to dst from inside the namespace, one
// every 200 ms, and returns nil at the first reply, or an error when ctx
// ends first. It needs no ping binary (the rig's hosts may lack one): it
// opens a raw ICMP socket through Do.
func (ns *NS) Ping(ctx context.Context, dst netip.Addr) error {
	network, proto, typ := "ip4:icmp", 1, icmp.Type(ipv4.ICMPTypeEcho)
	listen := "0.0.0.0"
	if dst.Is6() {
		network, proto, typ = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest
		listen = "::"
	}
	var c *icmp.PacketConn
	err := ns.Do(func() error {
		var err error
		c, err = icmp.ListenPacket(network, listen)
		return err
	})
	if err != nil {
		return fmt.Errorf("netnstest: ns %s: ping %s: open socket: %w", ns.name, dst, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	id := rand.IntN(0xffff)
	to := &net.IPAddr{IP: dst.AsSlice()}
	buf := make([]byte, 1500)
	for seq := 1; ; seq++ {
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("netnstest")}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return fmt.Errorf("netnstest: ns %s: ping %s: %w", ns.name, dst, err)
		}
		if _, err := c.WriteTo(b, to); err != nil && ctx.Err() == nil {
			// Unreachable networks fail at once; keep trying until ctx ends.
			if !waitOrDone(ctx, 200*time.Millisecond) {
				return fmt.Errorf("netnstest: ns %s: ping %s: %w (last send: %w)", ns.name, dst, ctx.Err(), err)
			}
			continue
		}
		wait := time.Now().Add(200 * time.Millisecond)
		for ctx.Err() == nil {
			_ = c.SetReadDeadline(wait)
			if ctx.Err() != nil { // AfterFunc may have run before SetReadDeadline
				break
			}
			n, from, err := c.ReadFrom(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				return fmt.Errorf("netnstest: ns %s: ping %s: %w", ns.name, dst, err)
			}
			if ip, ok := from.(*net.IPAddr); !ok || !ip.IP.Equal(to.IP) {
				continue
			}
			rm, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil {
				continue
			}
			if e, ok := rm.Body.(*icmp.Echo); ok && e.ID == id &&
				(rm.Type == ipv4.ICMPTypeEchoReply || rm.Type == ipv6.ICMPTypeEchoReply) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("netnstest: ns %s: ping %s: no reply: %w", ns.name, dst, ctx.Err())
		}
	}
}

// waitOrDone waits d and reports whether ctx is still live.
func waitOrDone(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
