package watchdog_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/watchdog"
	"github.com/shisa-gw/shisa/watchdog/watchdogtest"
)

// next returns the next datagram, failing the test if none comes in time.
func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no sd_notify datagram within 10s")
		return ""
	}
}

// TestSystemdNotifierOverARealSocket speaks the sd_notify protocol for
// real: SystemdNotifier sends datagrams to $NOTIFY_SOCKET and the
// supervisor takes its interval from $WATCHDOG_USEC.
func TestSystemdNotifierOverARealSocket(t *testing.T) {
	path, msgs := watchdogtest.ListenNotify(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "4000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	assert.True(t, watchdog.UnderSystemd())

	timeout, err := watchdog.SystemdNotifier{}.WatchdogTimeout()
	require.NoError(t, err)
	assert.Equal(t, 4*time.Second, timeout)

	s := watchdog.New(watchdog.Options{}) // the real SystemdNotifier
	assert.Equal(t, 2*time.Second, s.Interval(), "half of WATCHDOG_USEC")
	s.Ready("active, tunnel up")
	assert.Equal(t, "READY=1\nSTATUS=active, tunnel up", next(t, msgs))

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	assert.Equal(t, "WATCHDOG=1", next(t, msgs), "the first pet is sent at once")
	s.Status("active, tunnel down")
	assert.Equal(t, "STATUS=active, tunnel down", next(t, msgs))
	cancel()
	require.NoError(t, <-errc)
	// A pet may have raced the status or the stop; STOPPING=1 comes last.
	var last string
	for last != "STOPPING=1" {
		last = next(t, msgs)
		require.Contains(t, []string{"WATCHDOG=1", "STOPPING=1"}, last)
	}
}

func TestSystemdWatchdogTimeoutForAnotherPID(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "4000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	timeout, err := watchdog.SystemdNotifier{}.WatchdogTimeout()
	require.NoError(t, err)
	assert.Zero(t, timeout, "WATCHDOG_USEC meant for another process")

	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "soon")
	_, err = watchdog.SystemdNotifier{}.WatchdogTimeout()
	require.ErrorContains(t, err, "watchdog: systemd watchdog settings")
	s := watchdog.New(watchdog.Options{})
	assert.Equal(t, watchdog.DefaultInterval, s.Interval(), "a bad WATCHDOG_USEC is ignored, with a warning")
}

func TestSystemdNotifierWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	assert.False(t, watchdog.UnderSystemd())
	require.NoError(t, watchdog.SystemdNotifier{}.Notify("READY=1"), "no systemd: nothing to tell")

	missing := t.TempDir() + "/gone.sock"
	t.Setenv("NOTIFY_SOCKET", missing)
	err := watchdog.SystemdNotifier{}.Notify("READY=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "watchdog: sd_notify to NOTIFY_SOCKET="+missing)
}
