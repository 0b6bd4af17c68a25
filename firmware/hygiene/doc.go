// Package hygiene holds tests over the whole repository rather than one
// package: every package has a doc comment, every Go file is gofmt'ed, the
// lower folders (hal, netctl, watchdog, image) never import firmware, and
// the binaries that ship on the box pull in none of the heavy modules we
// refuse. It also proves that the ARM stage of `make test` really runs the
// tests on 32-bit ARM, where an unaligned 64-bit atomic panics.
//
// It has no code of its own; this file exists for the doc comment it asks
// of every other package.
package hygiene
