package itest

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/watchdog/watchdogtest"
)

// TestSystemdNotifyProtocol runs the real shisad as systemd would (a
// NOTIFY_SOCKET and WATCHDOG_USEC in its environment), reads READY, STATUS
// and the watchdog pings off the socket, then freezes the tunnel job (a
// test hook in builds with the shisa_testhooks tag: SIGUSR2) and sees the
// pings stop, the stuck job named in the journal, and the pings resume
// when it thaws. SIGTERM ends with STOPPING=1.
func TestSystemdNotifyProtocol(t *testing.T) {
	s := newSite(t, siteOptions{TestHooks: true})
	sock, msgs := watchdogtest.ListenNotify(t)
	// WATCHDOG_USEC=2s: shisad pets every second while all jobs report.
	p, _ := s.startShisad("NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=2000000")
	tl := newTimeline()
	defer func() { t.Logf("timeline:\n%s", tl) }()

	next := func(what string, within time.Duration, match func(string) bool) string {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case m := <-msgs:
				if match(m) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %s on NOTIFY_SOCKET within %s\n%s", what, within, p.Output())
			case <-p.Done():
				t.Fatalf("shisad exited waiting for %s: %v\n%s", what, p.Wait(), p.Output())
			}
		}
	}
	ready := next("READY=1", 10*time.Second, func(m string) bool { return strings.Contains(m, "READY=1") })
	tl.now("%q", ready)
	if !strings.Contains(ready, "STATUS=") {
		t.Errorf("READY=1 came without a STATUS line: %q", ready)
	}
	st := next("STATUS with the tunnel up", 10*time.Second, func(m string) bool { return strings.Contains(m, "STATUS=active; tunnel up via dc1") })
	tl.now("%q", st)

	// Pings arrive about every second while every job reports in.
	pings := countPings(msgs, 3500*time.Millisecond)
	tl.now("%d pings in 3.5 s", pings)
	if pings < 2 {
		t.Fatalf("only %d WATCHDOG=1 in 3.5 s with WATCHDOG_USEC=2s", pings)
	}

	cursor := s.cursor()
	if err := p.Kill(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	tl.now("tunnel job frozen (SIGUSR2)")
	// The tunnel check's deadline is max(10 × interval, 5 s) = 5 s; after
	// it, one more interval at most and the pings stop for good.
	stuck := s.waitEvent(p, cursor, 15*time.Second, "watchdog.stuck", func(r journal.Record) bool { return field(r, "job") == "tunnel" })
	tl.at(stuck.Time, "journal: %s", stuck.Msg)
	drainUntil(msgs, time.Now().Add(1500*time.Millisecond))
	if n := countPings(msgs, 4*time.Second); n != 0 {
		t.Fatalf("%d WATCHDOG=1 pings while the tunnel job was frozen", n)
	}
	tl.now("no pings for 4 s while frozen (%s after the freeze)", time.Since(frozen).Round(time.Millisecond))
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	stat, err := s.api.Status(sctx)
	cancel()
	if err != nil || len(stat.Stuck) != 1 || stat.Stuck[0] != "tunnel" {
		t.Errorf("status while frozen: stuck %v, err %v; want [tunnel]", statusStuck(stat), err)
	}

	if err := p.Kill(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	tl.now("tunnel job thawed")
	if n := countPings(msgs, 3*time.Second); n < 1 {
		t.Fatalf("pings did not resume after the job thawed")
	}
	tl.now("pings resumed")

	if err := p.Kill(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1", 10*time.Second, func(m string) bool { return strings.Contains(m, "STOPPING=1") })
	tl.now("STOPPING=1")
	<-p.Done()
	if err := p.Wait(); err != nil {
		t.Errorf("shisad exit after SIGTERM: %v", err)
	}
}

func statusStuck(st *api.Status) []string {
	if st == nil {
		return nil
	}
	return st.Stuck
}

// countPings counts WATCHDOG=1 datagrams for d.
func countPings(msgs <-chan string, d time.Duration) int {
	n := 0
	end := time.After(d)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, "WATCHDOG=1") {
				n++
			}
		case <-end:
			return n
		}
	}
}

// drainUntil discards datagrams until t (a ping already in flight when a job
// went stale is not a failure).
func drainUntil(msgs <-chan string, t time.Time) {
	end := time.After(time.Until(t))
	for {
		select {
		case <-msgs:
		case <-end:
			return
		}
	}
}

// TestCrashLoopBecomesSafeMode runs shisad until its start is healthy (its
// config becomes the last good one), breaks the config as a bad update
// would, and starts it again and again as systemd's Restart=always does:
// each start fails, and after watchdog.safe_mode_after failures the next
// start runs in safe mode with the last good config, the tunnel up, and a
// loud event for the datacenter.
func TestCrashLoopBecomesSafeMode(t *testing.T) {
	s := newSite(t, siteOptions{Extra: "watchdog:\n  good_after: 1s\n  safe_mode_after: 3\n"})
	p, _ := s.startShisad()
	s.mustStatus(p, "tunnel up via dc1", upVia("dc1"))
	s.waitEvent(p, 0, 15*time.Second, "daemon.healthy", nil)
	if err := stopShisad(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	good, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	// A bad update: a key this firmware does not know.
	if err := os.WriteFile(s.config, append(good, []byte("frobnicate: yes\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		p, _ := s.startShisad()
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("start %d with the broken config did not exit", i)
		}
		if err := p.Wait(); err == nil || !strings.Contains(p.Output(), "frobnicate") {
			t.Fatalf("start %d: exit %v, want a failure naming the bad key:\n%s", i, err, p.Output())
		}
	}

	p, _ = s.startShisad()
	st := s.mustStatus(p, "safe mode with the tunnel up", func(st *api.Status) bool {
		return st.SafeMode != "" && st.Tunnel.State.String() == "up"
	})
	if !strings.Contains(st.SafeMode, "3 starts") {
		t.Errorf("safe mode reason %q does not count the failed starts", st.SafeMode)
	}
	ev := s.waitEvent(p, 0, 5*time.Second, "daemon.safe_mode", nil)
	if !strings.Contains(field(ev, "config"), "last-good") {
		t.Errorf("safe mode runs %q, want the last good config", field(ev, "config"))
	}
	t.Logf("safe mode: %s (%s)", ev.Msg, st.SafeMode)
	if err := stopShisad(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
