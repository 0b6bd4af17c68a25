//go:build !shisa_testhooks

package daemon

// testHooks returns nil: production builds have no test hooks.
func (d *Daemon) testHooks() func() { return nil }
