// Package timesynctest holds fakes for package timesync's tests and the
// daemon's: an NTP server on a UDP socket whose clock, stratum and
// misbehaviour are set by the test, and a fake system clock state.
package timesynctest

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/timesync"
)

// Server is a fake NTP server. Set its exported fields under Lock; they
// apply to the next request.
type Server struct {
	conn net.PacketConn
	done chan struct{}

	mu sync.Mutex // guards the fields below
	// Offset is added to the host's clock to make the server's.
	Offset time.Duration
	// Stratum of replies; 0 sends kiss-of-death with Kiss as the code.
	Stratum uint8
	Kiss    string
	// Leap indicator of replies (3: unsynchronised).
	Leap uint8
	// Mode of replies (default 4, server).
	Mode uint8
	// WrongOrigin sends a reply whose origin timestamp is not the
	// request's (a stale or forged reply).
	WrongOrigin bool
	// Short sends a truncated reply.
	Short bool
	// Silent drops requests.
	Silent bool
	// Garbage is sent before the real reply (a bogus reply the client must
	// skip); nil for none.
	Garbage []byte
	// Requests counts the requests received.
	Requests int
}

// NewServer listens on addr ("127.0.0.1:0" for a free port) and serves
// until Close. The server answers correctly at stratum 2 until told
// otherwise.
func NewServer(addr string) (*Server, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{conn: c, done: make(chan struct{}), Stratum: 2, Mode: timesync.ModeServer}
	go s.serve()
	return s, nil
}

// NewMem returns a server without a socket, reached only through Dial
// (for tests under testing/synctest).
func NewMem() *Server {
	return &Server{Stratum: 2, Mode: timesync.ModeServer}
}

// Addr is the server's host:port ("" for a NewMem server).
func (s *Server) Addr() string {
	if s.conn == nil {
		return ""
	}
	return s.conn.LocalAddr().String()
}

// Set runs f with the server's fields locked.
func (s *Server) Set(f func(s *Server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// Count returns the number of requests received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Requests
}

// Close stops the server and waits for it; it may be called twice.
func (s *Server) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	<-s.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) serve() {
	defer close(s.done)
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		for _, out := range s.answer(buf[:n], time.Now()) {
			_, _ = s.conn.WriteTo(out, from)
		}
	}
}

// Dial is a timesync.DialFunc that ignores the address and connects to
// the server in memory (net.Pipe), for tests under testing/synctest where
// real sockets would not let the bubble's clock run.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		buf := make([]byte, 512)
		for {
			n, err := server.Read(buf)
			if err != nil {
				return
			}
			for _, out := range s.answer(buf[:n], time.Now()) {
				if _, err := server.Write(out); err != nil {
					return
				}
			}
		}
	}()
	return client, nil
}

// answer returns the datagrams to send for request b received at recv.
func (s *Server) answer(b []byte, recv time.Time) [][]byte {
	req, err := timesync.Decode(b)
	if err != nil || req.Mode != timesync.ModeClient {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Requests++
	if s.Silent {
		return nil
	}
	p := timesync.Packet{
		Leap:      s.Leap,
		Version:   4,
		Mode:      s.Mode,
		Stratum:   s.Stratum,
		Poll:      4,
		Precision: -20,
		RootDelay: 1 << 8, // about 4 ms
		Origin:    req.Transmit,
	}
	copy(p.RefID[:], "GPS\x00")
	if s.Stratum == 0 {
		p.RefID = [4]byte{}
		copy(p.RefID[:], s.Kiss)
	}
	if s.WrongOrigin {
		p.Origin++
	}
	p.Receive = timesync.ToTimestamp(recv.Add(s.Offset))
	p.Reference = p.Receive
	p.Transmit = timesync.ToTimestamp(time.Now().Add(s.Offset))
	out := p.Encode()
	if s.Short {
		out = out[:20]
	}
	if s.Garbage != nil {
		return [][]byte{s.Garbage, out}
	}
	return [][]byte{out}
}

// System is a fake [timesync.SystemClock].
type System struct {
	mu    sync.Mutex
	State timesync.SystemState
	Err   error
}

var _ timesync.SystemClock = (*System)(nil)

// NewSystem returns a fake system clock that is synced or not.
func NewSystem(synced bool) *System {
	return &System{State: timesync.SystemState{Synced: synced, MaxError: 16 * time.Millisecond, EstError: time.Millisecond}}
}

// SetSynced changes the fake's verdict.
func (f *System) SetSynced(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.State.Synced = v
}

// SyncState implements [timesync.SystemClock].
func (f *System) SyncState() (timesync.SystemState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.State, f.Err
}
