//go:build shisa_testhooks

package daemon

import (
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// testHooks, in builds with the shisa_testhooks tag only (the integration
// tests), lets SIGUSR2 freeze and thaw the tunnel job's loop, so a test can
// show that one stuck job stops the watchdog pings.
func (d *Daemon) testHooks() func() {
	var frozen atomic.Bool
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	go func() {
		for range c {
			frozen.Store(!frozen.Load())
			d.log.Warn("test hook: tunnel job frozen", "frozen", frozen.Load())
		}
	}()
	return func() {
		for frozen.Load() {
			time.Sleep(20 * time.Millisecond)
		}
	}
}
