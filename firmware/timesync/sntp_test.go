package timesync_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/timesync"
	"github.com/shisa-gw/shisa/firmware/timesync/timesynctest"
)

func newServer(t *testing.T) *timesynctest.Server {
	t.Helper()
	s, err := timesynctest.NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func kernelDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func query(t *testing.T, s *timesynctest.Server, timeout time.Duration) (timesync.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return timesync.Query(ctx, kernelDial, s.Addr())
}

// TestQueryOffset asks the fake server on loopback, with its clock set
// ahead and behind ours, and checks the offset the client measures.
func TestQueryOffset(t *testing.T) {
	s := newServer(t)
	for _, off := range []time.Duration{0, 250 * time.Millisecond, -2 * time.Second, 3 * time.Hour, -40 * 24 * time.Hour} {
		s.Set(func(s *timesynctest.Server) { s.Offset = off })
		r, err := query(t, s, 2*time.Second)
		if err != nil {
			t.Fatalf("offset %s: %v", off, err)
		}
		// An exchange cannot tell where in the round trip the server read
		// its clock: the error is at most half the round trip.
		if d := (r.Offset - off).Abs(); d > r.RTT/2+time.Millisecond {
			t.Errorf("server %s ahead: measured offset %s (error %s, round trip %s)", off, r.Offset, d, r.RTT)
		}
		if r.Stratum != 2 || r.Server != s.Addr() || r.RTT < 0 || r.RTT > time.Second {
			t.Errorf("result %+v", r)
		}
	}
}

// TestQueryRejects checks that replies a client must not believe are
// dropped, with the reason in the error.
func TestQueryRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(s *timesynctest.Server)
		want error
	}{
		{"kiss-of-death", func(s *timesynctest.Server) { s.Stratum, s.Kiss = 0, "RATE" }, timesync.ErrKissOfDeath},
		{"stratum 16", func(s *timesynctest.Server) { s.Stratum = 16 }, timesync.ErrStratum},
		{"leap 3", func(s *timesynctest.Server) { s.Leap = 3 }, timesync.ErrLeap},
		{"mode 3", func(s *timesynctest.Server) { s.Mode = 3 }, timesync.ErrMode},
		{"mode 5 broadcast", func(s *timesynctest.Server) { s.Mode = 5 }, timesync.ErrMode},
		{"wrong origin", func(s *timesynctest.Server) { s.WrongOrigin = true }, timesync.ErrOrigin},
		{"short", func(s *timesynctest.Server) { s.Short = true }, timesync.ErrShort},
		{"silent", func(s *timesynctest.Server) { s.Silent = true }, timesync.ErrNoAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.Set(tc.set)
			_, err := query(t, s, 150*time.Millisecond)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !errors.Is(err, timesync.ErrNoAnswer) {
				t.Errorf("err = %v, want it to wrap ErrNoAnswer too", err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestQuerySkipsBogusReply: a forged datagram before the real reply does
// not stop the client from taking the real one.
func TestQuerySkipsBogusReply(t *testing.T) {
	s := newServer(t)
	s.Set(func(s *timesynctest.Server) { s.Garbage = make([]byte, 48); s.Offset = time.Second })
	r, err := query(t, s, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if (r.Offset - time.Second).Abs() > r.RTT/2+time.Millisecond {
		t.Errorf("offset %s (round trip %s), want about 1s", r.Offset, r.RTT)
	}
}

func TestQueryPortUnreachable(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = timesync.Query(ctx, kernelDial, addr)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Logf("closed port: %v (not ECONNREFUSED)", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("took %s; port unreachable should end the query at once", time.Since(start))
	}
}

func TestQueryBadServer(t *testing.T) {
	for _, s := range []string{"", ":123", "host:"} {
		if _, err := timesync.Query(t.Context(), kernelDial, s); err == nil {
			t.Errorf("Query(%q) did not fail", s)
		}
	}
}

func TestQueryDefaultPort(t *testing.T) {
	for server, want := range map[string]string{
		"ntp.example":       "ntp.example:123",
		"192.0.2.1":         "192.0.2.1:123",
		"192.0.2.1:1123":    "192.0.2.1:1123",
		"2001:db8::1":       "[2001:db8::1]:123",
		"[2001:db8::1]":     "[2001:db8::1]:123",
		"[2001:db8::1]:124": "[2001:db8::1]:124",
	} {
		var got string
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			got = addr
			return nil, errors.New("no")
		}
		_, _ = timesync.Query(t.Context(), dial, server)
		if got != want {
			t.Errorf("%q dialled %q, want %q", server, got, want)
		}
	}
}

func TestTimestampEras(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 27, 8, 30, 0, 123456789, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC), // last second of era 0
		time.Date(2036, 2, 7, 6, 28, 16, 500_000_000, time.UTC),
		time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		ts := timesync.ToTimestamp(tm)
		if got := ts.Time(tm.Add(-30 * 24 * time.Hour)); got.Sub(tm).Abs() > time.Nanosecond {
			t.Errorf("%s → %#x → %s", tm, uint64(ts), got)
		}
	}
	// Offsets across the 2036 wrap.
	before := timesync.ToTimestamp(time.Date(2036, 2, 7, 6, 28, 10, 0, time.UTC))
	after := timesync.ToTimestamp(time.Date(2036, 2, 7, 6, 28, 20, 0, time.UTC))
	if after > before {
		t.Fatal("the test's timestamps do not straddle the era wrap")
	}
	if d := after.Sub(before); d != 10*time.Second {
		t.Errorf("across the wrap: %s, want 10s", d)
	}
	if d := before.Sub(after); d != -10*time.Second {
		t.Errorf("across the wrap: %s, want -10s", d)
	}
}

func TestExchange(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) timesync.Timestamp { return timesync.ToTimestamp(base.Add(d)) }
	// Server 3 s ahead, 10 ms each way, 1 ms in the server.
	off, rtt := timesync.Exchange(ts(0), ts(3*time.Second+10*time.Millisecond), ts(3*time.Second+11*time.Millisecond), ts(21*time.Millisecond))
	if (off-3*time.Second).Abs() > time.Microsecond || (rtt-20*time.Millisecond).Abs() > time.Microsecond {
		t.Errorf("offset %s rtt %s, want 3s and 20ms", off, rtt)
	}
}

func TestValidate(t *testing.T) {
	good := timesync.Packet{Version: 4, Mode: 4, Stratum: 1, Origin: 7, Receive: 1, Transmit: 2}
	if err := timesync.Validate(good, 7); err != nil {
		t.Fatalf("good packet: %v", err)
	}
	for _, tc := range []struct {
		mod  func(p *timesync.Packet)
		want error
	}{
		{func(p *timesync.Packet) { p.Version = 0 }, timesync.ErrVersion},
		{func(p *timesync.Packet) { p.Version = 5 }, timesync.ErrVersion},
		{func(p *timesync.Packet) { p.Transmit = 0 }, timesync.ErrZeroTime},
		{func(p *timesync.Packet) { p.Receive = 0 }, timesync.ErrZeroTime},
		{func(p *timesync.Packet) { p.Stratum = 0; copy(p.RefID[:], "DENY") }, timesync.ErrKissOfDeath},
		{func(p *timesync.Packet) { p.Origin = 0 }, timesync.ErrOrigin},
	} {
		p := good
		tc.mod(&p)
		if err := timesync.Validate(p, 7); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", p, err, tc.want)
		}
	}
}

func TestHumanOffset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		12 * time.Millisecond:             "12 ms",
		-12 * time.Millisecond:            "12 ms",
		3400 * time.Millisecond:           "3.4 s",
		3 * time.Hour:                     "3h",
		-(2*time.Hour + 5*time.Minute):    "2h5m",
		5*time.Minute + 10*time.Second:    "5m",
		49*time.Hour + 29*time.Second:     "49h",
		100*time.Millisecond + time.Hour:  "1h",
		999*time.Millisecond + 400*1e3:    "999 ms",
		90*time.Second + time.Millisecond: "2m",
	} {
		if got := timesync.HumanOffset(d); got != want {
			t.Errorf("HumanOffset(%s) = %q, want %q", d, got, want)
		}
	}
}
