package netctl

import "net/netip"

// ICMPSocketIsRaw reports whether p's socket for src is a raw socket, and
// whether p has a socket for src at all.
func ICMPSocketIsRaw(p *ICMPPinger, src netip.Addr) (raw, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.socks[src]
	if s == nil {
		return false, false
	}
	return s.raw, true
}

// ICMPInFlight returns the number of pings from src waiting for a reply.
func ICMPInFlight(p *ICMPPinger, src netip.Addr) int {
	p.mu.Lock()
	s := p.socks[src]
	p.mu.Unlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}
