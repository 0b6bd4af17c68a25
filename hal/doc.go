// Package hal is the board: the GPIO lines (through periph.io), the UPS
// (dry contacts of either polarity, or a NUT server for a USB UPS), the
// three LEDs (power, tunnel, fault), the technician button, and power-off
// with wake or return; beside them, a simulated board for tests and the
// rootless demo.
//
// hal does, it never decides: each capability is a small interface owned
// here, with a real implementation and a fake beside it, so the packages
// under firmware are tested without a board. hal never imports firmware.
package hal
