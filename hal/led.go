package hal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Pattern is what an LED shows.
type Pattern int

const (
	Off       Pattern = iota // dark
	On                       // lit
	BlinkSlow                // 1 Hz: 500 ms on, 500 ms off
	BlinkFast                // 4 Hz: 125 ms on, 125 ms off
)

func (p Pattern) String() string {
	switch p {
	case Off:
		return "off"
	case On:
		return "on"
	case BlinkSlow:
		return "slow"
	case BlinkFast:
		return "fast"
	}
	return "Pattern(" + strconv.Itoa(int(p)) + ")"
}

// blinkMS is the on and off time of a blinking pattern, in milliseconds.
func (p Pattern) blinkMS() (on, off int, ok bool) {
	switch p {
	case BlinkSlow:
		return 500, 500, true
	case BlinkFast:
		return 125, 125, true
	}
	return 0, 0, false
}

// LED is one of the board's LEDs.
type LED interface {
	// Set shows p until the next Set.
	Set(p Pattern) error
}

// SysfsLED is an LED of the Linux LED class, a directory such as
// /sys/class/leds/NAME. Off and On write "none" to trigger, then "0" or the
// LED's max_brightness ("1" when that cannot be read) to brightness; the
// blinking patterns hand the blinking to the kernel: "timer" to trigger,
// then delay_on and delay_off in milliseconds.
//
// The files are written in place, one write each (sysfs attributes are not
// files to replace). Set writes nothing when p is the pattern it last
// showed; after a failed write it writes everything again next time.
type SysfsLED struct {
	Dir string

	mu    sync.Mutex
	shown bool    // last is on the LED
	last  Pattern // the pattern last shown
}

var _ LED = (*SysfsLED)(nil)

// NewSysfsLED returns the LED of the class directory dir
// (/sys/class/leds/NAME). It does not touch the LED.
func NewSysfsLED(dir string) *SysfsLED { return &SysfsLED{Dir: dir} }

// Set implements LED.
func (l *SysfsLED) Set(p Pattern) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shown && l.last == p {
		return nil
	}
	l.shown = false
	var err error
	switch p {
	case Off:
		err = l.writeAll("trigger", "none", "brightness", "0")
	case On:
		err = l.writeAll("trigger", "none", "brightness", l.maxBrightness())
	case BlinkSlow, BlinkFast:
		on, off, _ := p.blinkMS()
		// The kernel creates delay_on and delay_off when the timer trigger
		// is set, so they are written after it.
		err = l.writeAll("trigger", "timer", "delay_on", strconv.Itoa(on), "delay_off", strconv.Itoa(off))
	default:
		return fmt.Errorf("hal: LED %s: unknown pattern %s", l.Dir, p)
	}
	if err != nil {
		return err
	}
	l.shown, l.last = true, p
	return nil
}

// writeAll writes file, value pairs in order and stops at the first error.
func (l *SysfsLED) writeAll(kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := writeAttr(filepath.Join(l.Dir, kv[i]), kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// maxBrightness is the LED's max_brightness, or "1" when it cannot be read
// or is not a positive number.
func (l *SysfsLED) maxBrightness() string {
	b, err := os.ReadFile(filepath.Join(l.Dir, "max_brightness"))
	if err != nil {
		return "1"
	}
	s := strings.TrimSpace(string(b))
	if n, err := strconv.Atoi(s); err != nil || n <= 0 {
		return "1"
	}
	return s
}

// writeAttr writes v to the existing file path in one write, as sysfs
// attributes want; it never creates the file.
func writeAttr(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("hal: writing %q to %s: %w", v, path, pathErr(err))
	}
	_, werr := f.Write([]byte(v))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("hal: writing %q to %s: %w", v, path, pathErr(err))
	}
	return nil
}

// pathErr drops the path from an *fs.PathError, which the caller names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LEDs are the board's three LEDs. A nil one is not fitted and is skipped.
type LEDs struct {
	Power, Tunnel, Fault LED
}

// Show sets the three LEDs. It sets every one even when one fails, and
// returns the failures joined, each naming its LED.
func (l LEDs) Show(power, tunnel, fault Pattern) error {
	var errs []error
	for _, x := range []struct {
		name string
		led  LED
		p    Pattern
	}{{"power", l.Power, power}, {"tunnel", l.Tunnel, tunnel}, {"fault", l.Fault, fault}} {
		if x.led == nil {
			continue
		}
		if err := x.led.Set(x.p); err != nil {
			errs = append(errs, fmt.Errorf("%s LED: %w", x.name, err))
		}
	}
	return errors.Join(errs...)
}

// OpenLEDs returns the LEDs named power, tunnel and fault in the LED class
// directory classDir (/sys/class/leds). An empty name leaves that LED nil
// (not fitted). A name with no directory is an error naming the directory;
// the error joins every missing one. The LEDs are not touched.
func OpenLEDs(classDir string, power, tunnel, fault string) (LEDs, error) {
	var (
		leds LEDs
		errs []error
	)
	for _, x := range []struct {
		role, name string
		led        *LED
	}{{"power", power, &leds.Power}, {"tunnel", tunnel, &leds.Tunnel}, {"fault", fault, &leds.Fault}} {
		if x.name == "" {
			continue
		}
		dir := filepath.Join(classDir, x.name)
		fi, err := os.Stat(dir)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("hal: %s LED %q: %s: %w (ls %s for the board's LEDs)", x.role, x.name, dir, pathErr(err), classDir))
			continue
		case !fi.IsDir():
			errs = append(errs, fmt.Errorf("hal: %s LED %q: %s is not a directory", x.role, x.name, dir))
			continue
		}
		*x.led = NewSysfsLED(dir)
	}
	if err := errors.Join(errs...); err != nil {
		return LEDs{}, err
	}
	return leds, nil
}
