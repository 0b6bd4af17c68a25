// Package board opens the real board's GPIO through periph.io's host
// drivers. It is the only package of hal that imports periph.io/x/host/v3,
// so that tests and the simulated board do not link the host drivers; main
// calls Open once and passes the registry down.
package board

import (
	"fmt"

	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/shisa-gw/shisa/hal"
)

// Open loads periph's host drivers (gpiochip character devices, sysfs) and
// returns the registry of the pins they found, for hal.OpenInput and
// hal.OpenOutput.
func Open() (hal.Registry, error) {
	state, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("board: load the periph host drivers: %w", err)
	}
	if len(state.Loaded) == 0 {
		return nil, fmt.Errorf("board: no periph host driver loaded (no /dev/gpiochip*? failed: %v)", state.Failed)
	}
	return hal.RegistryFunc(gpioreg.ByName), nil
}
