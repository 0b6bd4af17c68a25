package timesync_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/firmware/timesync"
	"github.com/shisa-gw/shisa/firmware/timesync/timesynctest"
)

// events records the checker's events as "kind ok=… server=…" lines.
type events struct {
	mu   sync.Mutex
	got  []string
	msgs []string
}

func (e *events) Event(kind, msg string, f map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.msgs = append(e.msgs, msg)
	e.got = append(e.got, fmt.Sprintf("%s ok=%v server=%v stratum=%v synced=%v", kind, f["ok"], f["server"], f["stratum"], f["system_synced"]))
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.got
	e.got = nil
	return g
}

func expect(t *testing.T, ev *events, want ...string) {
	t.Helper()
	got := ev.take()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// dialer routes server names to fakes in memory; unknown names fail as an
// unreachable network would.
type dialer map[string]*timesynctest.Server

func (d dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	if s := d[host]; s != nil {
		return s.Dial(ctx, network, addr)
	}
	return nil, fmt.Errorf("dial %s %s: %w", network, addr, errors.New("network is unreachable"))
}

// TestCheckerSchedule runs the job in a bubble: the first check 10 s after
// the start, then every interval; events on every check and on each change.
func TestCheckerSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ntp1, ntp2 := timesynctest.NewMem(), timesynctest.NewMem()
		ntp2.Set(func(s *timesynctest.Server) { s.Stratum = 3 })
		sys := timesynctest.NewSystem(true)
		ev := &events{}
		var alive atomic.Int32
		c, err := timesync.New(timesync.Options{
			Servers:   []string{"ntp1", "ntp2:123"},
			MaxOffset: 500 * time.Millisecond,
			Interval:  15 * time.Minute,
			Dial:      dialer{"ntp1": ntp1, "ntp2": ntp2}.dial,
			System:    sys,
			Events:    ev,
			Alive:     func() { alive.Add(1) },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()

		// step moves past the next check; a check waits up to 3 s for
		// each silent server, hence the slack.
		step := func() {
			time.Sleep(15*time.Minute + 10*time.Second)
			synctest.Wait()
		}
		synctest.Wait()
		if c.Last() != nil {
			t.Fatal("Last before the first check is not nil")
		}
		time.Sleep(10 * time.Second) // fake time: the first check
		synctest.Wait()
		expect(t, ev, "timesync.check ok=true server=ntp1 stratum=2 synced=true")
		if st := c.Last(); st == nil || !st.OK || st.Server != "ntp1" || st.At.IsZero() || st.MaxOffset != 0.5 {
			t.Fatalf("Last = %+v", st)
		}

		// ntp1 says our clock is 3 hours behind: degraded, once.
		ntp1.Set(func(s *timesynctest.Server) { s.Offset = 3 * time.Hour })
		step()
		expect(t, ev,
			"timesync.check ok=false server=ntp1 stratum=2 synced=true",
			"timesync.degraded ok=false server=ntp1 stratum=2 synced=true")
		if st := c.Last(); st.OK || math.Abs(st.Offset+3*3600) > 0.001 {
			t.Errorf("Last = %+v", st)
		}
		step()
		expect(t, ev, "timesync.check ok=false server=ntp1 stratum=2 synced=true")

		// ntp1 goes silent: the next server in order answers, good again.
		ntp1.Set(func(s *timesynctest.Server) { s.Silent = true })
		step()
		expect(t, ev,
			"timesync.check ok=true server=ntp2:123 stratum=3 synced=true",
			"timesync.ok ok=true server=ntp2:123 stratum=3 synced=true")
		if st := c.Last(); st.Error != "" || st.Server != "ntp2:123" {
			t.Errorf("Last = %+v", st)
		}

		// Nobody answers and the kernel says unsynchronised: degraded.
		ntp2.Set(func(s *timesynctest.Server) { s.Silent = true })
		sys.SetSynced(false)
		step()
		expect(t, ev,
			"timesync.check ok=false server= stratum=0 synced=false",
			"timesync.degraded ok=false server= stratum=0 synced=false")
		if st := c.Last(); st.Server != "" || !strings.Contains(st.Error, "ntp1: timesync: no valid reply") || !strings.Contains(st.Error, "ntp2:123") {
			t.Errorf("Last = %+v", st)
		}

		// Nobody answers but the kernel is synchronised (chrony has other
		// sources): good.
		sys.SetSynced(true)
		step()
		expect(t, ev,
			"timesync.check ok=true server= stratum=0 synced=true",
			"timesync.ok ok=true server= stratum=0 synced=true")

		if n := alive.Load(); n < 5 {
			t.Errorf("Alive called %d times", n)
		}
		before := alive.Load()
		time.Sleep(time.Minute) // between checks the loop still reports in
		synctest.Wait()
		if n := alive.Load() - before; n < 2 {
			t.Errorf("Alive called %d times in a minute without checks", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestCheckerVerdicts covers the verdict table with one check each.
func TestCheckerVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers []string
		offset  time.Duration
		silent  bool
		synced  bool
		sysErr  bool
		ok      bool
		detail  string
	}{
		{"within the limit", []string{"ntp1"}, 120 * time.Millisecond, false, true, false, true, "clock within 120 ms of ntp1 (stratum 2)"},
		{"within the limit, kernel unsynced", []string{"ntp1"}, 120 * time.Millisecond, false, false, false, false, "clock within 120 ms of ntp1 (stratum 2), but the system clock reports unsynchronised (is chronyd or systemd-timesyncd running?)"},
		{"beyond the limit ahead", []string{"ntp1"}, 600 * time.Millisecond, false, true, false, false, "clock off by 600 ms against ntp1 (limit 500ms)"},
		{"beyond the limit behind", []string{"ntp1"}, -2 * time.Second, false, true, false, false, "clock off by 2.0 s against ntp1 (limit 500ms)"},
		{"silent, kernel synced", []string{"ntp1"}, 0, true, true, false, true, "no NTP server answered; the system clock reports synchronised"},
		{"silent, kernel unsynced", []string{"ntp1"}, 0, true, false, false, false, "no NTP server answered; the system clock reports unsynchronised (is chronyd or systemd-timesyncd running?)"},
		{"unreachable, kernel unknown", []string{"nowhere"}, 0, false, true, true, false, "no NTP server answered; the system clock's state is unknown"},
		{"no servers, kernel synced", nil, 0, false, true, false, true, "no NTP servers configured; the system clock reports synchronised"},
		{"no servers, kernel unsynced", nil, 0, false, false, false, false, "no NTP servers configured; the system clock reports unsynchronised (is chronyd or systemd-timesyncd running?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ntp := timesynctest.NewMem()
				ntp.Set(func(s *timesynctest.Server) { s.Offset, s.Silent = tc.offset, tc.silent })
				sys := timesynctest.NewSystem(tc.synced)
				if tc.sysErr {
					sys.Err = errors.New("adjtimex: operation not permitted")
				}
				ev := &events{}
				c, err := timesync.New(timesync.Options{Servers: tc.servers, Dial: dialer{"ntp1": ntp}.dial, System: sys, Events: ev})
				if err != nil {
					t.Fatal(err)
				}
				st := c.Check(t.Context())
				if detail := ev.msgs[0]; st.OK != tc.ok || detail != tc.detail {
					t.Errorf("ok=%v %q, want ok=%v %q", st.OK, detail, tc.ok, tc.detail)
				}
				if want := -tc.offset.Seconds(); math.Abs(st.Offset-want) > 0.001 {
					t.Errorf("offset %v s, want %v s (our clock minus the server's)", st.Offset, want)
				}
				if (st.Server == "") != (st.Error != "") {
					t.Errorf("server %q and error %q: want exactly one", st.Server, st.Error)
				}
			})
		})
	}
}

// TestCheckerOverUDP is one check against the fake server on a real
// loopback socket with the default (kernel) dialer.
func TestCheckerOverUDP(t *testing.T) {
	s := newServer(t)
	s.Set(func(s *timesynctest.Server) { s.Offset = -2 * time.Second })
	c, err := timesync.New(timesync.Options{Servers: []string{s.Addr()}, System: timesynctest.NewSystem(true)})
	if err != nil {
		t.Fatal(err)
	}
	st := c.Check(t.Context())
	// Our clock is 2 s ahead of the server's; the round trip on a loaded
	// machine blurs that by up to half of it.
	if st.OK || st.Server != s.Addr() || math.Abs(st.Offset-2) > 0.5 {
		t.Errorf("status %+v", st)
	}
}

func TestNewRejectsBadServer(t *testing.T) {
	if _, err := timesync.New(timesync.Options{Servers: []string{"host:"}}); err == nil {
		t.Error("New accepted server \"host:\"")
	}
}

// countHandler counts log records by level.
type countHandler struct {
	mu    sync.Mutex
	warns int
	infos int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countHandler) WithGroup(string) slog.Handler            { return h }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		h.warns++
	} else {
		h.infos++
	}
	return nil
}

// TestCheckerLogsSparingly: a clock that stays bad is logged when it goes
// bad and then at most once an hour, not on every check; the recovery is
// logged once.
func TestCheckerLogsSparingly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ntp := timesynctest.NewMem()
		ntp.Set(func(s *timesynctest.Server) { s.Offset = time.Minute })
		h := &countHandler{}
		c, err := timesync.New(timesync.Options{Servers: []string{"ntp1"}, Dial: dialer{"ntp1": ntp}.dial,
			System: timesynctest.NewSystem(true), Logger: slog.New(h), Interval: 15 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 { // 10 checks over 2 h 15 min
			c.Check(t.Context())
			time.Sleep(15 * time.Minute)
		}
		ntp.Set(func(s *timesynctest.Server) { s.Offset = 0 })
		c.Check(t.Context())
		c.Check(t.Context())
		if h.warns != 3 || h.infos != 1 {
			t.Errorf("%d warnings and %d infos, want 3 (at 0, 1 h, 2 h) and 1", h.warns, h.infos)
		}
	})
}

func TestQueryCanceled(t *testing.T) {
	s := newServer(t)
	s.Set(func(s *timesynctest.Server) { s.Silent = true })
	ctx, cancel := context.WithCancel(t.Context())
	// Cancelled once the socket is open: the wait for the reply ends.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := kernelDial(ctx, network, addr)
		cancel()
		return c, err
	}
	_, err := timesync.Query(ctx, dial, s.Addr())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// A skipped check (a hot-standby unit, whose servers are behind a tunnel
// it does not hold) measures nothing, journals nothing and keeps the last
// result; the schedule goes on, and the checks resume when Skip says so.
func TestCheckerSkip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ntp1 := timesynctest.NewMem()
		ev := &events{}
		var standby atomic.Bool
		c, err := timesync.New(timesync.Options{
			Servers: []string{"ntp1"}, Interval: 15 * time.Minute,
			Dial: dialer{"ntp1": ntp1}.dial, System: timesynctest.NewSystem(true), Events: ev,
			Skip: standby.Load,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		time.Sleep(10*time.Second + time.Second) // the first check
		synctest.Wait()
		expect(t, ev, "timesync.check ok=true server=ntp1 stratum=2 synced=true")
		first := c.Last()
		standby.Store(true)
		ntp1.Set(func(s *timesynctest.Server) { s.Offset = time.Hour }) // would be degraded
		time.Sleep(2 * 15 * time.Minute)
		synctest.Wait()
		expect(t, ev)
		if l := c.Last(); l == nil || !l.At.Equal(first.At) || l.OK != first.OK {
			t.Errorf("Last changed while skipped: %+v", c.Last())
		}
		standby.Store(false)
		time.Sleep(15 * time.Minute)
		synctest.Wait()
		expect(t, ev,
			"timesync.check ok=false server=ntp1 stratum=2 synced=true",
			"timesync.degraded ok=false server=ntp1 stratum=2 synced=true")
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
