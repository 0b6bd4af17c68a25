package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Power holds the safe shutdown before a power cut, planned or not (issue 4).
type Power struct {
	// Grace is how long the box stays up on UPS battery before it shuts
	// down (a flicker shorter than this does nothing), unless the battery
	// is low first. 1s to 1h. Default 2m.
	Grace Duration `yaml:"grace"`
	// Lead is how long before a planned outage's start the box shuts down.
	// 1s to 24h. Default 5m.
	Lead Duration `yaml:"lead"`
	// StepTimeout is each shutdown step's deadline. 100ms to 1m.
	// Default 5s.
	StepTimeout Duration `yaml:"step_timeout"`
	// Budget bounds the whole shutdown sequence; keep it well inside the
	// UPS's runtime. More than step_timeout, at most 10m. Default 30s.
	Budget Duration `yaml:"budget"`
	// RebootAfter is when the box powers itself on again (RTC wake alarm)
	// after an unplanned shutdown whose return the UPS cannot make. 10s to
	// 24h. Default 2m.
	RebootAfter Duration `yaml:"reboot_after"`
	// StateDir holds the outage schedule (outages.json) and the shutdown
	// record read after the next boot. A relative path is relative to the
	// config file's directory. Default: "power" beside journal.dir
	// (/var/lib/shisa/power).
	StateDir string `yaml:"state_dir"`
	// WakeAlarm is the RTC's wake alarm file, or none. Default
	// /sys/class/rtc/rtc0/wakealarm (a board without it is told at run
	// time, and the box reboots instead of waking later).
	WakeAlarm string `yaml:"wake_alarm"`
}

// UPS sources.
const (
	UPSNone     = "none"
	UPSNUT      = "nut"
	UPSContacts = "contacts"
)

// UPS describes the box's uninterruptible power supply.
type UPS struct {
	// Source is where the UPS's state comes from: nut (a NUT server),
	// contacts (dry contacts on GPIO lines) or none. Default none.
	Source string `yaml:"source"`
	// OffDelay is how long after the return is armed the UPS cuts the
	// load; the box must be halted by then. Whole seconds, 1s to 10m, less
	// than on_delay. Default 20s.
	OffDelay Duration `yaml:"off_delay"`
	// OnDelay is how long after the cut the UPS restores the load once
	// mains is present. Whole seconds, at most 1h. Default 30s.
	OnDelay Duration `yaml:"on_delay"`
	// NUT is the NUT server, for source nut.
	NUT NUT `yaml:"nut"`
	// Contacts are the GPIO lines, for source contacts.
	Contacts Contacts `yaml:"contacts"`
}

// NUT is a NUT server (upsd) that watches the UPS.
type NUT struct {
	// Address is upsd's host:port. Default 127.0.0.1:3493.
	Address string `yaml:"address"`
	// Name is the UPS's name on the server (its ups.conf section).
	// Required for source nut.
	Name string `yaml:"name"`
	// User logs in to upsd (an upsmon secondary user with instcmds for
	// shutdown.return). Default: none (read only; the return cannot be
	// armed).
	User string `yaml:"user"`
	// PasswordFile holds User's password, one line, mode 0600 or 0400. A
	// relative path is relative to the config file's directory. Required
	// with user.
	PasswordFile string `yaml:"password_file"`
	// Interval between polls of the UPS, 100ms to 1m. Default 1s (a
	// low battery is seen within it; NUT's upsmon polls every 5s).
	Interval Duration `yaml:"interval"`
}

// Contacts are a UPS's dry contacts wired to GPIO lines.
type Contacts struct {
	// OnBattery is the pin (as periph names it, e.g. GPIO17) active while
	// the UPS runs from its battery. Required for source contacts.
	OnBattery string `yaml:"on_battery"`
	// LowBattery is the pin active when the battery is low. Default: none.
	LowBattery string `yaml:"low_battery"`
	// Kill is the kill-power output pin. Default: none (the return cannot
	// be armed; the box reboots itself after reboot_after).
	Kill string `yaml:"kill"`
	// ActiveLow: the lines are active at the low level (contacts closing
	// to ground against a pull-up). Default true.
	ActiveLow *bool `yaml:"active_low"`
	// Debounce: an input must be quiet this long before its new level
	// counts. 0 to 1s. Default 50ms.
	Debounce Duration `yaml:"debounce"`
	// KillPulse is how long the kill output is held active. 100ms to 10s.
	// Default 1s.
	KillPulse Duration `yaml:"kill_pulse"`
	// CutsWithMains: the UPS cuts the load on a kill signal even with
	// mains present. Default false (most contact-closure UPSes do not).
	CutsWithMains *bool `yaml:"cuts_with_mains"`
}

// Power and UPS defaults, as documented in README.md and the example.
const (
	DefaultPowerGrace       = Duration(2 * time.Minute)
	DefaultPowerLead        = Duration(5 * time.Minute)
	DefaultPowerStepTimeout = Duration(5 * time.Second)
	DefaultPowerBudget      = Duration(30 * time.Second)
	DefaultRebootAfter      = Duration(2 * time.Minute)
	DefaultWakeAlarm        = "/sys/class/rtc/rtc0/wakealarm"
	DefaultUPSSource        = UPSNone
	DefaultUPSOffDelay      = Duration(20 * time.Second)
	DefaultUPSOnDelay       = Duration(30 * time.Second)
	DefaultNUTAddress       = "127.0.0.1:3493"
	DefaultNUTInterval      = Duration(time.Second)
	DefaultContactsDebounce = Duration(50 * time.Millisecond)
	DefaultKillPulse        = Duration(time.Second)
)

// power applies the defaults of power: and ups: and checks them.
func (o Options) power(s *Site, d *decoder, resolve func(string) string) {
	p := &s.Power
	dur := func(path string, v *Duration, def Duration, lo, hi time.Duration) {
		switch {
		case !d.has(path):
			*v = def
		case v.D() < lo || v.D() > hi:
			d.errorf(path, "%s is out of range (want %s to %s)", *v, Duration(lo), Duration(hi))
			*v = def
		}
	}
	dur("power.grace", &p.Grace, DefaultPowerGrace, time.Second, time.Hour)
	dur("power.lead", &p.Lead, DefaultPowerLead, time.Second, 24*time.Hour)
	dur("power.step_timeout", &p.StepTimeout, DefaultPowerStepTimeout, 100*time.Millisecond, time.Minute)
	dur("power.budget", &p.Budget, DefaultPowerBudget, 200*time.Millisecond, 10*time.Minute)
	dur("power.reboot_after", &p.RebootAfter, DefaultRebootAfter, 10*time.Second, 24*time.Hour)
	if p.Budget <= p.StepTimeout {
		d.errorf("power.budget", "%s leaves no time for the steps: it must be more than power.step_timeout (%s)", p.Budget, p.StepTimeout)
	}
	if d.has("power.state_dir") {
		p.StateDir = resolve(p.StateDir)
	} else {
		p.StateDir = filepath.Join(filepath.Dir(filepath.Clean(s.Journal.Dir)), "power")
	}
	switch {
	case !d.has("power.wake_alarm"):
		p.WakeAlarm = DefaultWakeAlarm
	case p.WakeAlarm == "none":
		p.WakeAlarm = ""
	case !filepath.IsAbs(p.WakeAlarm):
		d.errorf("power.wake_alarm", "%q is not an absolute path (want e.g. %s, or none)", p.WakeAlarm, DefaultWakeAlarm)
	}

	u := &s.UPS
	if !d.has("ups.source") {
		u.Source = DefaultUPSSource
	}
	switch u.Source {
	case UPSNone, UPSNUT, UPSContacts:
	default:
		d.errorf("ups.source", "%q is not a UPS source (want nut, contacts or none)", u.Source)
	}
	whole := func(path string, v *Duration, def Duration, lo, hi time.Duration) {
		dur(path, v, def, lo, hi)
		if v.D()%time.Second != 0 {
			d.errorf(path, "%s is not whole seconds (the UPS counts its delays in seconds)", *v)
			*v = def
		}
	}
	whole("ups.off_delay", &u.OffDelay, DefaultUPSOffDelay, time.Second, 10*time.Minute)
	whole("ups.on_delay", &u.OnDelay, DefaultUPSOnDelay, 2*time.Second, time.Hour)
	if u.OffDelay >= u.OnDelay {
		d.errorf("ups.on_delay", "%s must be longer than ups.off_delay (%s), or the UPS restores the load before cutting it", u.OnDelay, u.OffDelay)
	}

	n := &u.NUT
	if !d.has("ups.nut.address") {
		n.Address = DefaultNUTAddress
	} else {
		hp := n.Address
		if _, _, err := net.SplitHostPort(hp); err != nil {
			hp = net.JoinHostPort(hp, "3493")
		}
		if msg := checkHostPort(hp); msg != "" {
			d.errorf("ups.nut.address", "%s", msg)
		}
	}
	if strings.ContainsAny(n.Name, " \t\"\\") {
		d.errorf("ups.nut.name", "%q is not a NUT UPS name (no spaces, quotes or backslashes)", n.Name)
	}
	if u.Source == UPSNUT && d.has("ups.source") {
		d.required("ups.nut.name", "the UPS's name on the NUT server (its section in ups.conf), with ups.source nut")
	}
	dur("ups.nut.interval", &n.Interval, DefaultNUTInterval, 100*time.Millisecond, time.Minute)
	if d.has("ups.nut.password_file") {
		n.PasswordFile = resolve(n.PasswordFile)
		if n.User == "" {
			d.errorf("ups.nut.password_file", "set without ups.nut.user; name the user the password is for")
		}
		if u.Source == UPSNUT && !o.SkipFileChecks {
			if msg := checkPasswordFile(n.PasswordFile); msg != "" {
				d.errorf("ups.nut.password_file", "%s", msg)
			}
		}
	} else if n.User != "" && u.Source == UPSNUT {
		d.errorf("ups.nut.user", "set without ups.nut.password_file; upsd needs the password to log in")
	}

	c := &u.Contacts
	if u.Source == UPSContacts && d.has("ups.source") {
		d.required("ups.contacts.on_battery", "the GPIO pin active while the UPS runs on battery, with ups.source contacts")
	}
	for _, l := range []struct{ path, pin string }{
		{"ups.contacts.on_battery", c.OnBattery}, {"ups.contacts.low_battery", c.LowBattery}, {"ups.contacts.kill", c.Kill},
	} {
		if strings.ContainsAny(l.pin, " \t\\\"") {
			d.errorf(l.path, "%q is not a GPIO pin name (want a name such as GPIO17)", l.pin)
		}
	}
	if c.Kill != "" && (c.Kill == c.OnBattery || c.Kill == c.LowBattery) {
		d.errorf("ups.contacts.kill", "%s is also an input; the kill output needs its own pin", c.Kill)
	}
	if c.OnBattery != "" && c.OnBattery == c.LowBattery {
		d.errorf("ups.contacts.low_battery", "%s is also ups.contacts.on_battery; each input needs its own pin", c.LowBattery)
	}
	if c.ActiveLow == nil {
		c.ActiveLow = ptr(true)
	}
	if c.CutsWithMains == nil {
		c.CutsWithMains = ptr(false)
	}
	dur("ups.contacts.debounce", &c.Debounce, DefaultContactsDebounce, 0, time.Second)
	dur("ups.contacts.kill_pulse", &c.KillPulse, DefaultKillPulse, 100*time.Millisecond, 10*time.Second)
}

func ptr[T any](v T) *T { return &v }

// checkPasswordFile checks the NUT password file: a regular file, private
// (mode 0600 or 0400), not empty. The message never holds the password.
func checkPasswordFile(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Sprintf("cannot read the password file: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Sprintf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Sprintf("%s is readable by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("cannot read the password file: %v", err)
	}
	if first, _, _ := strings.Cut(string(b), "\n"); strings.TrimRight(first, "\r") == "" {
		return fmt.Sprintf("%s is empty; write the password on its first line", path)
	}
	return ""
}
