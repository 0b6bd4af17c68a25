package startguard

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCrashLoopBecomesSafeMode(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	opts := Options{Dir: dir, Limit: 3, Window: 10 * time.Minute, Now: c.now}
	for i := range 3 {
		_, d, err := Begin(opts)
		require.NoError(t, err)
		assert.False(t, d.SafeMode, "start %d", i+1)
		assert.Equal(t, i, d.Failed)
		c.t = c.t.Add(20 * time.Second) // crashed; systemd restarts it
	}
	_, d, err := Begin(opts)
	require.NoError(t, err)
	assert.True(t, d.SafeMode)
	assert.Equal(t, 3, d.Failed)
	assert.Contains(t, d.Reason, "3 starts")
}

func TestGoodStartClearsAndKeepsConfig(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	opts := Options{Dir: dir, Limit: 2, Now: c.now}
	cfg := filepath.Join(t.TempDir(), "site.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("site: a\n"), 0o644))

	g, _, err := Begin(opts)
	require.NoError(t, err)
	assert.Equal(t, "", g.LastGoodConfig())
	_, _, err = Begin(opts) // a crash before becoming good
	require.NoError(t, err)
	g, d, err := Begin(opts)
	require.NoError(t, err)
	require.True(t, d.SafeMode)
	require.NoError(t, g.Good(cfg, filepath.Dir(cfg)))

	lg := g.LastGoodConfig()
	require.NotEmpty(t, lg)
	b, err := os.ReadFile(lg)
	require.NoError(t, err)
	assert.Equal(t, "site: a\n", string(b))
	fi, _ := os.Stat(lg)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the config names the key file; keep it private")

	_, d, err = Begin(opts)
	require.NoError(t, err)
	assert.False(t, d.SafeMode, "a good start forgets the failures")
	assert.Equal(t, 0, d.Failed)
	assert.Equal(t, lg, d.LastGoodConfig)
	assert.Equal(t, filepath.Dir(cfg), d.LastGoodDir, "relative paths of the copy resolve where the original lived")

	// In safe mode the daemon runs the copy itself; marking it good again
	// keeps the original directory.
	require.NoError(t, g.Good(lg, d.LastGoodDir))
	_, d, err = Begin(opts)
	require.NoError(t, err)
	assert.Equal(t, filepath.Dir(cfg), d.LastGoodDir)
}

func TestOldAndFutureFailuresDoNotCount(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	opts := Options{Dir: dir, Limit: 2, Window: time.Minute, Now: c.now}
	for range 5 {
		_, _, err := Begin(opts)
		require.NoError(t, err)
		c.t = c.t.Add(2 * time.Minute) // crashes far apart: not a loop
	}
	_, d, err := Begin(opts)
	require.NoError(t, err)
	assert.False(t, d.SafeMode)
	// The clock steps back a day (no RTC, bad NTP): earlier records are
	// "in the future" and must not hold the box in safe mode.
	c.t = c.t.Add(-24 * time.Hour)
	_, d, err = Begin(opts)
	require.NoError(t, err)
	assert.Equal(t, 0, d.Failed)
}

func TestUnreadableRecordStartsAfresh(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, recordName), []byte("{torn"), 0o644))
	_, d, err := Begin(Options{Dir: dir})
	require.NoError(t, err)
	assert.False(t, d.SafeMode)
	assert.True(t, d.Reset, "the caller is told, to log it")
	b, _ := os.ReadFile(filepath.Join(dir, recordName))
	assert.Contains(t, string(b), `"failed":[`, "the record is rewritten whole")
}

func TestLimitsOfALostConfigAreRemembered(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	// A readable config said: safe mode after 2 failed starts.
	g, _, err := Begin(Options{Dir: dir, Limit: 2, Window: time.Hour, Now: c.now})
	require.NoError(t, err)
	require.NoError(t, g.Good("", ""))
	// Then the config breaks: the starts know no limit of their own.
	for range 2 {
		c.t = c.t.Add(time.Second)
		_, d, err := Begin(Options{Dir: dir, Now: c.now})
		require.NoError(t, err)
		assert.False(t, d.SafeMode)
	}
	_, d, err := Begin(Options{Dir: dir, Now: c.now})
	require.NoError(t, err)
	assert.True(t, d.SafeMode, "the limit of the last readable config (2) applies, not the default (5)")
}

func TestCleanStopIsNotAFailure(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	opts := Options{Dir: dir, Limit: 2, Now: c.now}
	for range 5 {
		g, d, err := Begin(opts)
		require.NoError(t, err)
		assert.False(t, d.SafeMode, "restarts by hand never lead to safe mode")
		require.NoError(t, g.Clean())
		c.t = c.t.Add(10 * time.Second)
	}
}

func TestForgetWipesTheLastGoodConfig(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	opts := Options{Dir: dir, Limit: 2, Now: c.now}
	cfg := filepath.Join(t.TempDir(), "site.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("site: a\n"), 0o644))
	g, _, err := Begin(opts)
	require.NoError(t, err)
	require.NoError(t, g.Good(cfg, filepath.Dir(cfg)))
	lg := g.LastGoodConfig()
	f, err := os.Open(lg) // held open: its contents must be zeroed, not only unlinked
	require.NoError(t, err)
	defer f.Close()
	_, _, err = Begin(opts) // a failed start, then the site is taken off
	require.NoError(t, err)

	require.NoError(t, g.Forget())
	assert.Equal(t, "", g.LastGoodConfig())
	b := make([]byte, 8)
	n, _ := f.ReadAt(b, 0)
	assert.Equal(t, make([]byte, n), b[:n], "the old config's bytes are still there")
	_, d, err := Begin(opts)
	require.NoError(t, err)
	assert.Equal(t, "", d.LastGoodConfig)
	assert.Equal(t, 0, d.Failed)
	assert.False(t, d.SafeMode)
}
