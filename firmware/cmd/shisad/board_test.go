package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/watchdog"
)

// TestHandoverNotifier: systemd hears STOPPING=1 only once shisad's
// context has ended, not when it turns from spare to site or back (which
// would make systemd kill it TimeoutStopSec later).
func TestHandoverNotifier(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	ctx, cancel := context.WithCancel(context.Background())
	n := handoverNotifier{ctx: ctx, inner: watchdog.SystemdNotifier{}}
	read := func() string {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		b := make([]byte, 256)
		k, _, err := conn.ReadFromUnix(b)
		if err != nil {
			return ""
		}
		return string(b[:k])
	}
	require.NoError(t, n.Notify(watchdog.StateStopping))
	assert.Equal(t, "", read(), "STOPPING=1 sent while shisad goes on")
	require.NoError(t, n.Notify("READY=1"))
	assert.Equal(t, "READY=1", read())
	cancel()
	require.NoError(t, n.Notify(watchdog.StateStopping))
	assert.Equal(t, watchdog.StateStopping, read())
}

func TestSpareModeAndThePreviousLayout(t *testing.T) {
	etc := t.TempDir()
	cfg := filepath.Join(etc, "site", "site.yaml")
	assert.True(t, spareMode(cfg), "no site installed: a spare")
	assert.False(t, spareMode(filepath.Join(etc, "other.yaml")), "only site.yaml makes a spare")
	assert.Equal(t, "", previousLayout(cfg))

	old := filepath.Join(etc, "site.yaml")
	require.NoError(t, os.WriteFile(old, []byte("site: a\n"), 0o644))
	assert.Equal(t, old, previousLayout(cfg), "an upgraded box must not come up as a spare")

	require.NoError(t, os.MkdirAll(filepath.Dir(cfg), 0o755))
	require.NoError(t, os.WriteFile(cfg, []byte("site: a\n"), 0o644))
	assert.False(t, spareMode(cfg))
	assert.Equal(t, "", previousLayout(cfg), "the new layout is there")
}
