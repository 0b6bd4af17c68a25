package ha

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// UDP is the Transport on the LAN: a socket bound to this unit's LAN
// address sending unicast to the peer's. Packets from any other source
// address are dropped before they are parsed. Heartbeats go out marked
// CS6 (network control) so a busy LAN switch queues them first.
type UDP struct {
	conn *net.UDPConn
	peer netip.AddrPort
	ch   chan []byte
	wg   sync.WaitGroup
	once sync.Once

	// Foreign counts packets from addresses other than the peer's;
	// Overflow counts packets dropped because the election was not
	// reading (its queue was full).
	Foreign  atomic.Uint64
	Overflow atomic.Uint64
}

var _ Transport = (*UDP)(nil)

// udpQueue is how many packets wait for the election: 64 intervals.
const udpQueue = 64

// ListenUDP binds local (this unit's LAN address and the heartbeat port)
// and sends to peer.
func ListenUDP(local, peer netip.AddrPort) (*UDP, error) {
	if !local.IsValid() || !peer.IsValid() || peer.Port() == 0 {
		return nil, fmt.Errorf("ha: heartbeat addresses: local %v, peer %v: need address:port for both", local, peer)
	}
	if local.Addr().Is4() != peer.Addr().Is4() {
		return nil, fmt.Errorf("ha: heartbeat addresses: local %v and peer %v are not the same IP version", local, peer)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("ha: binding the heartbeat socket to %v (is it this unit's LAN address?): %w", local, err)
	}
	const cs6 = 0xc0
	if local.Addr().Is4() {
		_ = ipv4.NewConn(conn).SetTOS(cs6) // best effort: marking only
	} else {
		_ = ipv6.NewConn(conn).SetTrafficClass(cs6)
	}
	u := &UDP{conn: conn, peer: peer, ch: make(chan []byte, udpQueue)}
	u.wg.Go(u.read)
	return u, nil
}

// LocalAddr is the bound address (its port when local's was 0).
func (u *UDP) LocalAddr() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (u *UDP) read() {
	defer close(u.ch)
	buf := make([]byte, 2048)
	want := u.peer.Addr().Unmap()
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP-induced errors (peer port unreachable): keep reading
		}
		if from.Addr().Unmap() != want {
			u.Foreign.Add(1)
			continue
		}
		p := make([]byte, n)
		copy(p, buf[:n])
		select {
		case u.ch <- p:
		default:
			u.Overflow.Add(1)
		}
	}
}

// Send sends one packet to the peer.
func (u *UDP) Send(b []byte) error {
	_, err := u.conn.WriteToUDPAddrPort(b, u.peer)
	return err
}

// Recv delivers the peer's packets; closed after Close.
func (u *UDP) Recv() <-chan []byte { return u.ch }

// Close closes the socket and waits for the reader; it may be called
// twice.
func (u *UDP) Close() error {
	var err error
	u.once.Do(func() {
		err = u.conn.Close()
		u.wg.Wait()
	})
	return err
}
