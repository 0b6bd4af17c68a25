package sim

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Relay forwards UDP between clients and one target on loopback, and can cut
// the path (drop everything, both ways) or drop a share of the packets.
// Every client gets its own upstream socket, so the target sees distinct
// source ports, as it would see distinct hosts.
type Relay struct {
	ln     *net.UDPConn
	target netip.AddrPort
	cut    atomic.Bool
	loss   atomic.Uint64 // drop probability × 1e6

	mu      sync.Mutex // guards clients
	clients map[netip.AddrPort]*net.UDPConn

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewRelay listens on a free loopback port and forwards to target.
func NewRelay(target netip.AddrPort) (*Relay, error) {
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("sim: relay: %w", err)
	}
	r := &Relay{ln: ln, target: target, clients: map[netip.AddrPort]*net.UDPConn{}}
	r.wg.Go(r.fromClients)
	return r, nil
}

// Addr is the relay's address: send here to reach the target.
func (r *Relay) Addr() netip.AddrPort { return r.ln.LocalAddr().(*net.UDPAddr).AddrPort() }

// Cut drops every packet in both directions while on.
func (r *Relay) Cut(on bool) { r.cut.Store(on) }

// SetLoss drops each packet with probability p (0..1).
func (r *Relay) SetLoss(p float64) { r.loss.Store(uint64(p * 1e6)) }

func (r *Relay) drop() bool {
	if r.cut.Load() {
		return true
	}
	l := r.loss.Load()
	return l > 0 && rand.Uint64N(1e6) < l
}

func (r *Relay) fromClients() {
	buf := make([]byte, 65535)
	for {
		n, from, err := r.ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if r.drop() {
			continue
		}
		up, err := r.upstream(from)
		if err != nil {
			continue
		}
		_, _ = up.Write(buf[:n])
	}
}

func (r *Relay) upstream(client netip.AddrPort) (*net.UDPConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if up, ok := r.clients[client]; ok {
		return up, nil
	}
	up, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(r.target))
	if err != nil {
		return nil, err
	}
	r.clients[client] = up
	r.wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if r.drop() {
				continue
			}
			_, _ = r.ln.WriteToUDPAddrPort(buf[:n], client)
		}
	})
	return up, nil
}

// Close stops the relay; it may be called more than once.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.ln.Close()
		r.mu.Lock()
		for _, up := range r.clients {
			up.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return nil
}

func serveSink(c net.Conn) {
	defer c.Close()
	h := sha256.New()
	n, err := io.Copy(h, bufio.NewReaderSize(c, 64<<10))
	if err != nil {
		return
	}
	fmt.Fprintf(c, "%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
}
