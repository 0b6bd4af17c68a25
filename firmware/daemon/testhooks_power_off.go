//go:build !shisa_testhooks

package daemon

import "github.com/shisa-gw/shisa/hal"

// testPower returns nothing: production builds power off through systemd.
func (d *Daemon) testPower() (hal.Power, hal.ShutdownInhibitor, string) { return nil, nil, "" }
