package watchdog_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/watchdog"
	"github.com/shisa-gw/shisa/watchdog/watchdogtest"
)

// logBuf collects a text log for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the log lines containing every one of subs.
func (l *logBuf) lines(subs ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// stuckRecorder records OnStuck calls.
type stuckRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *stuckRecorder) onStuck(name string, silentFor time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name+" "+silentFor.String())
}

func (r *stuckRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// job runs a job's loop: every period it does its work and reports, unless
// frozen, which models a job stuck in its work.
func job(ctx context.Context, c *watchdog.Check, period time.Duration, frozen *atomic.Bool) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !frozen.Load() {
				c.Report()
			}
		}
	}
}

// sleepUntil advances the bubble's fake clock to start+d and lets every
// goroutine of the bubble settle.
func sleepUntil(start time.Time, d time.Duration) {
	time.Sleep(time.Until(start.Add(d)))
	synctest.Wait()
}

func TestSupervisorPetsOnlyWhileEveryCheckIsFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var logs logBuf
		var stuck stuckRecorder
		n := watchdogtest.NewFakeNotifier(10 * time.Second) // WatchdogSec=10s
		ff := watchdogtest.NewFakeFile(60)
		dev, err := watchdog.NewHardwareDevice("/dev/watchdog", ff, 30*time.Second)
		require.NoError(t, err)
		s := watchdog.New(watchdog.Options{Notifier: n, Device: dev, Logger: logs.logger(), OnStuck: stuck.onStuck})
		require.Equal(t, 5*time.Second, s.Interval(), "half of WATCHDOG_USEC, shorter than a third of the device's 30s")

		tunnel := s.Register("tunnel", 12*time.Second)
		power := s.Register("power", 12*time.Second)
		jobCtx, stopJobs := context.WithCancel(t.Context())
		var tunnelFrozen, powerFrozen atomic.Bool
		go job(jobCtx, tunnel, 2*time.Second, &tunnelFrozen)
		go job(jobCtx, power, 2*time.Second, &powerFrozen)

		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()

		pets := func() int {
			w := n.Count(watchdog.StateWatchdog)
			_, k, _, _ := ff.State()
			require.Equal(t, w, k, "systemd and the device are petted together")
			return w
		}

		// Both report: a pet at start and at every interval (0, 5, …, 20s).
		sleepUntil(start, 20*time.Second+time.Second/2)
		assert.Equal(t, 5, pets())
		assert.Empty(t, s.Stale())

		// power freezes after its report at 20s. It is fresh up to 32s, so
		// the ticks at 25 and 30s pet; the tick at 35s does not, which is
		// within its deadline plus one interval of its last report.
		powerFrozen.Store(true)
		sleepUntil(start, 35*time.Second+time.Second/2)
		assert.Equal(t, 7, pets())
		assert.Equal(t, []string{"power"}, s.Stale())
		assert.Equal(t, []string{"power 15s"}, stuck.get())
		stuckLines := logs.lines("check stuck", "check=power")
		require.Len(t, stuckLines, 1)
		assert.Contains(t, stuckLines[0], "level=ERROR")
		assert.Contains(t, stuckLines[0], "job=watchdog")
		assert.Contains(t, stuckLines[0], "silent_for=15s")

		// Still stuck: no pets, no second OnStuck, no second log line.
		sleepUntil(start, 50*time.Second+time.Second/2)
		assert.Equal(t, 7, pets())
		assert.Len(t, stuck.get(), 1)
		assert.Len(t, logs.lines("check stuck"), 1)

		// power reports again at 52s: the tick at 55s pets, logs recovery.
		powerFrozen.Store(false)
		sleepUntil(start, 55*time.Second+time.Second/2)
		assert.Equal(t, 8, pets())
		assert.Empty(t, s.Stale())
		assert.Len(t, logs.lines("check recovered", "check=power"), 1)
		assert.Len(t, logs.lines("pets resumed", "withheld_for=20s"), 1)
		assert.Len(t, stuck.get(), 1)

		// A clean stop: the jobs end on purpose, then the supervisor.
		stopJobs()
		tunnel.Unregister()
		power.Unregister()
		cancel()
		require.NoError(t, <-errc)
		sent := n.Sent()
		assert.Equal(t, watchdog.StateStopping, sent[len(sent)-1])
		calls, _, armed, closed := ff.State()
		assert.Equal(t, []string{`write "V"`, "close"}, calls[len(calls)-2:])
		assert.False(t, armed, "magic close disarms the device")
		assert.True(t, closed)
	})
}

func TestNeverReportedCheckGoesStaleAfterItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var stuck stuckRecorder
		n := watchdogtest.NewFakeNotifier(0)
		s := watchdog.New(watchdog.Options{Notifier: n, Interval: time.Second, OnStuck: stuck.onStuck})
		s.Register("late", 10*time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()

		sleepUntil(start, 10*time.Second)
		assert.Empty(t, s.Stale(), "exactly the deadline is still fresh")
		assert.Equal(t, 11, n.Count(watchdog.StateWatchdog), "pets at 0, 1, …, 10s")
		sleepUntil(start, 10*time.Second+time.Second/10)
		assert.Equal(t, []string{"late"}, s.Stale(), "just past the deadline is stale")
		assert.Empty(t, stuck.get(), "the supervisor sees it at its next tick")

		sleepUntil(start, 11*time.Second+time.Second/2)
		assert.Equal(t, []string{"late"}, s.Stale())
		assert.Equal(t, 11, n.Count(watchdog.StateWatchdog))
		assert.Equal(t, []string{"late 11s"}, stuck.get())

		cancel()
		require.NoError(t, <-errc, "no device: a stop with a stale check only matters for the device")
	})
}

func TestUnregisterRemovesTheCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var logs logBuf
		n := watchdogtest.NewFakeNotifier(0)
		s := watchdog.New(watchdog.Options{Notifier: n, Interval: time.Second, Logger: logs.logger()})
		done := s.Register("oneshot", 2*time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()

		sleepUntil(start, 5*time.Second+time.Second/2)
		assert.Equal(t, []string{"oneshot"}, s.Stale())
		assert.Equal(t, 3, n.Count(watchdog.StateWatchdog), "pets at 0, 1 and 2s")

		done.Unregister()
		done.Unregister() // twice is harmless
		done.Report()     // so is a late report
		assert.Empty(t, s.Stale())
		sleepUntil(start, 6*time.Second+time.Second/2)
		assert.Equal(t, 4, n.Count(watchdog.StateWatchdog), "pets resume at 6s")
		assert.Len(t, logs.lines("check unregistered", "check=oneshot"), 1)

		cancel()
		require.NoError(t, <-errc)
	})
}

func TestReadyStatusStopping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := watchdogtest.NewFakeNotifier(0)
		s := watchdog.New(watchdog.Options{Notifier: n, Interval: time.Hour})
		s.Ready("spare, tunnel up via dc1, UPS on mains")
		s.Status("active,\ntunnel up")
		s.Ready("")
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()
		synctest.Wait()
		cancel()
		require.NoError(t, <-errc)
		assert.Equal(t, []string{
			"READY=1\nSTATUS=spare, tunnel up via dc1, UPS on mains",
			"STATUS=active, tunnel up",
			"READY=1",
			"WATCHDOG=1",
			"STOPPING=1",
		}, n.Sent())
		assert.ErrorIs(t, s.Run(t.Context()), watchdog.ErrRunning)
	})
}

func TestStopWithStaleCheckLeavesTheDeviceArmed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n := watchdogtest.NewFakeNotifier(0)
		ff := watchdogtest.NewFakeFile(30)
		dev, err := watchdog.NewHardwareDevice("/dev/watchdog", ff, 0)
		require.NoError(t, err)
		s := watchdog.New(watchdog.Options{Notifier: n, Device: dev})
		require.Equal(t, 10*time.Second, s.Interval(), "a third of the device's 30s")
		s.Register("hung", 5*time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()
		sleepUntil(start, 10*time.Second+time.Second/2)

		cancel()
		err = <-errc
		require.Error(t, err)
		assert.Contains(t, err.Error(), "stale checks hung")
		calls, keepalives, armed, closed := ff.State()
		assert.Equal(t, []string{"GETTIMEOUT", "KEEPALIVE", "close"}, calls)
		assert.Equal(t, 1, keepalives)
		assert.True(t, armed, "no magic close: the box resets")
		assert.True(t, closed)
		assert.Equal(t, watchdog.StateStopping, n.Sent()[len(n.Sent())-1])
	})
}

func TestPetFailuresAreLoggedOncePerEpisode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var logs logBuf
		n := watchdogtest.NewFakeNotifier(0)
		n.Err = errors.New("connection refused")
		ff := watchdogtest.NewFakeFile(30)
		ff.FailOn["KEEPALIVE"] = errors.New("device gone")
		dev, err := watchdog.NewHardwareDevice("/dev/watchdog1", ff, 0)
		require.NoError(t, err)
		s := watchdog.New(watchdog.Options{Notifier: n, Device: dev, Interval: time.Second, Logger: logs.logger()})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()

		sleepUntil(start, 10*time.Second+time.Second/2)
		assert.Equal(t, 11, n.Count(watchdog.StateWatchdog))
		assert.Len(t, logs.lines("pet failed", "target=systemd", "connection refused"), 1)
		assert.Len(t, logs.lines("pet failed", "target=device", "/dev/watchdog1", "device gone"), 1)

		n.SetErr(nil)
		sleepUntil(start, 11*time.Second+time.Second/2)
		assert.Len(t, logs.lines("pet works again", "target=systemd"), 1)

		cancel()
		require.NoError(t, <-errc)
	})
}

// TestConcurrentUse runs Report, Register, Unregister, Stale and Status
// from many goroutines while Run ticks, for the race detector.
func TestConcurrentUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := watchdogtest.NewFakeNotifier(0)
		s := watchdog.New(watchdog.Options{Notifier: n, Interval: 10 * time.Millisecond, OnStuck: func(string, time.Duration) {}})
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				c := s.Register("job"+strconv.Itoa(i), 25*time.Millisecond)
				for j := range 200 {
					c.Report()
					if j%50 == 0 {
						s.Stale()
						s.Status("busy")
					}
					time.Sleep(time.Duration(i+1) * time.Millisecond)
				}
				c.Unregister()
			})
		}
		wg.Wait()
		cancel()
		require.NoError(t, <-errc)
		assert.Empty(t, s.Stale())
		assert.Positive(t, n.Count(watchdog.StateWatchdog))
	})
}

func TestIntervalDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		systemd  time.Duration // WATCHDOG_USEC
		device   int           // device timeout, s; 0 is no device
		interval time.Duration // Options.Interval
		want     time.Duration
		warns    bool
	}{
		{"systemd: half its timeout", 30 * time.Second, 0, 0, 15 * time.Second, false},
		{"device: a third of its timeout", 0, 60, 0, 20 * time.Second, false},
		{"both: the shorter", 30 * time.Second, 15, 0, 5 * time.Second, false},
		{"both: the shorter, systemd's", 8 * time.Second, 60, 0, 4 * time.Second, false},
		{"neither", 0, 0, 0, watchdog.DefaultInterval, false},
		{"explicit", 30 * time.Second, 60, 7 * time.Second, 7 * time.Second, false},
		{"explicit, too long for systemd", 10 * time.Second, 0, 10 * time.Second, 10 * time.Second, true},
		{"explicit, too long for the device", 0, 15, 20 * time.Second, 20 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuf
			opts := watchdog.Options{Notifier: watchdogtest.NewFakeNotifier(tc.systemd), Interval: tc.interval, Logger: logs.logger()}
			if tc.device > 0 {
				dev, err := watchdog.NewHardwareDevice("/dev/watchdog", watchdogtest.NewFakeFile(tc.device), 0)
				require.NoError(t, err)
				opts.Device = dev
			}
			s := watchdog.New(opts)
			assert.Equal(t, tc.want, s.Interval())
			warned := len(logs.lines("level=WARN", "interval is not shorter than the watchdog timeout")) > 0
			assert.Equal(t, tc.warns, warned, logs.String())
		})
	}
}

func TestRegisterRefusesANonPositiveDeadline(t *testing.T) {
	s := watchdog.New(watchdog.Options{Notifier: watchdogtest.NewFakeNotifier(0)})
	assert.PanicsWithValue(t, `watchdog: Register("x", 0s): deadline must be positive`, func() { s.Register("x", 0) })
}
