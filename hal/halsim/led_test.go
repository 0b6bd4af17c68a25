package halsim_test

import (
	"slices"
	"testing"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

func TestLED(t *testing.T) {
	var alone halsim.LED
	if alone.Pattern() != hal.Off || alone.History() != nil {
		t.Fatalf("zero LED: %s, %v; want off, no history", alone.Pattern(), alone.History())
	}
	b := halsim.NewBoard()
	fault := b.LED("led-fault")
	leds := hal.LEDs{Power: &alone, Fault: fault}
	for _, p := range []hal.Pattern{hal.BlinkFast, hal.On, hal.On} {
		if err := leds.Show(hal.On, hal.Off, p); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fault.History(), []hal.Pattern{hal.BlinkFast, hal.On, hal.On}; !slices.Equal(got, want) {
		t.Errorf("History() = %v; want %v", got, want)
	}
	if fault.Pattern() != hal.On || alone.Pattern() != hal.On {
		t.Errorf("Pattern() = %s, %s; want on, on", fault.Pattern(), alone.Pattern())
	}
	h := fault.History()
	h[0] = hal.Off
	if fault.History()[0] != hal.BlinkFast {
		t.Error("History() shares its slice")
	}
	if got, want := b.LogText(), "led led-fault fast\nled led-fault on\nled led-fault on\n"; got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}
