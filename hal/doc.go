// Package hal is the board: the GPIO lines (through periph.io), the UPS
// (dry contacts of either polarity, or a NUT server for a USB UPS), the
// three LEDs (power, tunnel, fault), the technician button, and power-off
// with wake or return; beside them, a simulated board for tests and the
// rootless demo.
//
// hal does, it never decides: each capability is a small interface owned
// here, with a real implementation and a fake beside it, so the packages
// under firmware are tested without a board. hal never imports firmware.
//
// # The pieces
//
//   - GPIO: a Line names a pin, its polarity and its debounce. OpenInput and
//     OpenOutput resolve it in a Registry (on the board, package hal/board
//     over periph.io/x/host/v3; in tests, a PinMap of gpiotest pins) and
//     return an Input (Active, WaitForEdge(ctx)) or an Output (Set, Pulse)
//     in logical terms. Waits are always finite (EdgePoll at a time): periph's
//     gpiochip driver returns at once from WaitForEdge(-1).
//   - UPS: one interface over every source. Contacts reads on-battery and
//     low-battery inputs and pulses a kill-power output; package hal/nut is a
//     client of NUT's upsd; package hal/halsim is set by hand. UPSState's
//     Stale flag and the lost-UPS rule (a UPS lost while on battery counts as
//     low battery) are the same for all.
//   - LEDs: a Pattern (Off, On, BlinkSlow at 1 Hz, BlinkFast at 4 Hz) on an
//     LED. SysfsLED drives one of the Linux LED class (/sys/class/leds/NAME),
//     leaving the blinking to the kernel's timer trigger and writing nothing
//     when the pattern is unchanged; OpenLEDs opens the power, tunnel and
//     fault LEDs by name into LEDs, whose Show sets all three (an LED not
//     fitted is nil); package hal/halsim has one that records its patterns.
//   - The technician button: an Input like any other. WaitHold returns once
//     it has been held continuously for a given time, calling back about
//     every 250 ms while it is held so that an LED can show the progress.
//   - Power: PowerOff with a way back (Shutdown.Reboot, Shutdown.WakeAt on
//     the RTC's wake alarm), and ShutdownInhibitor for a logind delay lock
//     while state is flushed. Systemd implements both over D-Bus.
//
// # For the power state machine
//
// Watch UPS.Events (the newest state, coalesced) and call UPS.State for a
// fresh read. ShouldShutDown (low battery or FSD) skips the grace period.
// ArmReturn's error matching ErrArmUnsupported, or CanCutWithMains false
// while mains is back, means the UPS will not power-cycle the box: shut
// down with Shutdown{Reboot: true} (or a WakeAt) instead of halting for good.
//
// Pins are resolved once, in main, and passed down; hal keeps no
// package-level state.
package hal
