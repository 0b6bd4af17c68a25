package hal_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shisa-gw/shisa/hal"
)

// ledDir makes classDir/name laid out like /sys/class/leds/NAME, with every
// attribute holding "-" so that a test sees which were written.
func ledDir(t *testing.T, classDir, name, maxBrightness string) string {
	t.Helper()
	dir := filepath.Join(classDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"trigger", "brightness", "delay_on", "delay_off"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("-"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if maxBrightness != "" {
		if err := os.WriteFile(filepath.Join(dir, "max_brightness"), []byte(maxBrightness), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// attrs reads the four written attributes as "trigger brightness delay_on
// delay_off".
func attrs(t *testing.T, dir string) string {
	t.Helper()
	var vals []string
	for _, f := range []string{"trigger", "brightness", "delay_on", "delay_off"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, string(b))
	}
	return strings.Join(vals, " ")
}

// reset marks every attribute unwritten again.
func reset(t *testing.T, dir string) {
	t.Helper()
	for _, f := range []string{"trigger", "brightness", "delay_on", "delay_off"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("-"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPatternString(t *testing.T) {
	for p, want := range map[hal.Pattern]string{hal.Off: "off", hal.On: "on", hal.BlinkSlow: "slow", hal.BlinkFast: "fast", 9: "Pattern(9)"} {
		if got := p.String(); got != want {
			t.Errorf("Pattern(%d).String() = %q; want %q", int(p), got, want)
		}
	}
}

func TestSysfsLEDWrites(t *testing.T) {
	for _, tc := range []struct {
		p    hal.Pattern
		max  string // max_brightness's content; "" for no file
		want string // trigger brightness delay_on delay_off
	}{
		{hal.On, "", "none 1 - -"},
		{hal.On, "255\n", "none 255 - -"},
		{hal.On, "junk", "none 1 - -"},
		{hal.Off, "255\n", "none 0 - -"},
		{hal.BlinkSlow, "1", "timer - 500 500"},
		{hal.BlinkFast, "1", "timer - 125 125"},
	} {
		t.Run(tc.p.String(), func(t *testing.T) {
			dir := ledDir(t, t.TempDir(), "shisa:green:power", tc.max)
			led := hal.NewSysfsLED(dir)
			if err := led.Set(tc.p); err != nil {
				t.Fatal(err)
			}
			if got := attrs(t, dir); got != tc.want {
				t.Errorf("Set(%s) with max_brightness %q wrote %q; want %q", tc.p, tc.max, got, tc.want)
			}
		})
	}
}

func TestSysfsLEDSkipsUnchanged(t *testing.T) {
	dir := ledDir(t, t.TempDir(), "fault", "1")
	led := hal.NewSysfsLED(dir)
	steps := []struct {
		p    hal.Pattern
		want string // after reset before the step
	}{
		{hal.BlinkSlow, "timer - 500 500"},
		{hal.BlinkSlow, "- - - -"}, // unchanged: nothing written
		{hal.BlinkFast, "timer - 125 125"},
		{hal.On, "none 1 - -"},
		{hal.On, "- - - -"},
		{hal.Off, "none 0 - -"},
		{hal.Off, "- - - -"},
	}
	for i, s := range steps {
		reset(t, dir)
		if err := led.Set(s.p); err != nil {
			t.Fatalf("step %d: Set(%s): %v", i, s.p, err)
		}
		if got := attrs(t, dir); got != s.want {
			t.Errorf("step %d: Set(%s) wrote %q; want %q", i, s.p, got, s.want)
		}
	}
}

// A failed write names the file, and the next Set writes again.
func TestSysfsLEDWriteError(t *testing.T) {
	dir := ledDir(t, t.TempDir(), "tunnel", "1")
	led := hal.NewSysfsLED(dir)
	if err := os.Remove(filepath.Join(dir, "delay_on")); err != nil {
		t.Fatal(err)
	}
	err := led.Set(hal.BlinkSlow)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "delay_on")) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Set with no delay_on: %v; want an error naming %s", err, filepath.Join(dir, "delay_on"))
	}
	if _, err := os.Stat(filepath.Join(dir, "delay_on")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("delay_on was created: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "delay_on"), []byte("-"), 0o644); err != nil {
		t.Fatal(err)
	}
	reset(t, dir)
	if err := led.Set(hal.BlinkSlow); err != nil {
		t.Fatal(err)
	}
	if got := attrs(t, dir); got != "timer - 500 500" {
		t.Errorf("Set after a failed one wrote %q; want everything again", got)
	}
	if err := led.Set(hal.Pattern(42)); err == nil {
		t.Error("Set(Pattern(42)) = nil; want an error")
	}
}

func TestOpenLEDs(t *testing.T) {
	class := t.TempDir()
	power := ledDir(t, class, "pwr", "1")
	fault := ledDir(t, class, "flt", "1")
	leds, err := hal.OpenLEDs(class, "pwr", "", "flt")
	if err != nil {
		t.Fatal(err)
	}
	if leds.Tunnel != nil {
		t.Fatalf("Tunnel = %#v; want nil for an empty name", leds.Tunnel)
	}
	if err := leds.Show(hal.On, hal.BlinkFast, hal.BlinkSlow); err != nil {
		t.Fatal(err)
	}
	if got := attrs(t, power); got != "none 1 - -" {
		t.Errorf("power LED: %q", got)
	}
	if got := attrs(t, fault); got != "timer - 500 500" {
		t.Errorf("fault LED: %q", got)
	}

	_, err = hal.OpenLEDs(class, "pwr", "tun", "nope")
	for _, name := range []string{filepath.Join(class, "tun"), filepath.Join(class, "nope")} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("OpenLEDs with missing LEDs: %v; want an error naming %s", err, name)
		}
	}
}

type failingLED struct{ err error }

func (f failingLED) Set(hal.Pattern) error { return f.err }

// Show sets every LED even when one fails, and names the failing ones.
func TestLEDsShowJoinsErrors(t *testing.T) {
	dir := ledDir(t, t.TempDir(), "tunnel", "1")
	boom := errors.New("boom")
	leds := hal.LEDs{Power: failingLED{boom}, Tunnel: hal.NewSysfsLED(dir), Fault: failingLED{boom}}
	err := leds.Show(hal.On, hal.On, hal.On)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "power LED") || !strings.Contains(err.Error(), "fault LED") {
		t.Fatalf("Show = %v; want both failures named", err)
	}
	if got := attrs(t, dir); got != "none 1 - -" {
		t.Errorf("tunnel LED between two failing ones: %q; want set", got)
	}
	if err := (hal.LEDs{Power: hal.NewSysfsLED(dir)}).Show(hal.On, hal.On, hal.On); err != nil {
		t.Fatalf("LEDs with tunnel and fault not fitted (nil): %v", err)
	}
}
