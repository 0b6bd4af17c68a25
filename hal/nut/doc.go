// Package nut is a small client of the NUT (Network UPS Tools) network
// protocol, spoken by upsd on TCP port 3493, and a hal.UPS source built on
// it.
//
// Client is one connection: Dial logs in (USERNAME, PASSWORD, LOGIN, so that
// a NUT primary counts the box among its secondaries and waits for it before
// cutting the power), then Get, Vars, RW, Commands, SetVar, InstCmd and
// ArmReturn, and Close logs out. Where upsd tracks commands (NUT 2.8:
// SET TRACKING ON), SetVar and InstCmd wait for the driver's own result.
//
// Source polls the UPS every Options.Interval (2 s by default), reconnects
// with backoff, and applies upsmon's rule when the UPS is lost (connection
// down, DATA-STALE, DRIVER-NOT-CONNECTED): the state turns Stale, keeps its
// last known flags, and a UPS last seen on battery counts as low battery.
//
// Every reply is untrusted input: lines are bounded (MaxLine), control
// characters are refused, lists are bounded, and anything unexpected
// breaks the connection (ErrConnLost, ErrProtocol) rather than being
// guessed at. upsd's ERR replies are *Error values matching the Err…
// sentinels, with a message saying what to check. The password is never
// logged nor put in an error.
//
// ArmReturn sets ups.delay.shutdown and ups.delay.start where writable and
// runs shutdown.return; a UPS without that command (Debian's dummy-ups
// offers only load.off) gives a *ReturnUnsupportedError matching
// hal.ErrArmUnsupported, before anything is changed.
//
// Package nuttest beside it is a fake upsd for tests.
package nut
