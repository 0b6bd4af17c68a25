package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/board"
	"github.com/shisa-gw/shisa/watchdog"
)

// theBoard is what main opens of the board for the spare and the daemon:
// the LEDs and the technician button.
type theBoard struct {
	leds   hal.LEDs
	button hal.Input // nil when none
}

// openBoard opens the LEDs named by leds ("POWER,TUNNEL,FAULT" LED class
// names, or "none") and the button's GPIO line (or "none").
func openBoard(leds, button string) (theBoard, error) {
	var b theBoard
	if leds != "none" && leds != "" {
		names := strings.Split(leds, ",")
		if len(names) != 3 {
			return b, fmt.Errorf("-leds: want three LED class names POWER,TUNNEL,FAULT or none, got %q", leds)
		}
		l, err := hal.OpenLEDs("/sys/class/leds", names[0], names[1], names[2])
		if err != nil {
			return b, fmt.Errorf("-leds: %w", err)
		}
		b.leds = l
	}
	if button != "none" && button != "" {
		reg, err := board.Open()
		if err != nil {
			return b, fmt.Errorf("-button %s: %w", button, err)
		}
		in, err := hal.OpenInput(reg, hal.Line{Name: "button", Pin: button, ActiveLow: true, Debounce: 50 * time.Millisecond})
		if err != nil {
			return b, fmt.Errorf("-button: %w", err)
		}
		b.button = in
	}
	return b, nil
}

// spareMode: no site is installed. Only a config named site.yaml (the
// layout a site pack installs) that does not exist makes a spare; any
// other missing file is the configuration error it always was.
func spareMode(cfgPath string) bool {
	if filepath.Base(cfgPath) != sitepack.ConfigFile {
		return false
	}
	_, err := os.Stat(cfgPath)
	return errors.Is(err, fs.ErrNotExist)
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// previousLayout returns the config of the layout before site packs
// (/etc/shisa/site.yaml beside the site directory) when it exists and
// cfgPath does not: shisad must not come up as a spare and drop the
// office's tunnel after an upgrade.
func previousLayout(cfgPath string) string {
	if !spareMode(cfgPath) {
		return ""
	}
	old := filepath.Join(filepath.Dir(filepath.Dir(cfgPath)), sitepack.ConfigFile)
	if _, err := os.Stat(old); err != nil {
		return ""
	}
	return old
}

// handoverNotifier passes everything to systemd except STOPPING=1 while
// shisad goes on (its context not ended): a spare that becomes the site's
// daemon, or a daemon that becomes a spare, is one service to systemd.
type handoverNotifier struct {
	ctx   context.Context
	inner watchdog.SystemdNotifier
}

func (n handoverNotifier) Notify(state string) error {
	if state == watchdog.StateStopping && n.ctx.Err() == nil {
		return nil
	}
	return n.inner.Notify(state)
}

// WatchdogTimeout is systemd's (the supervisors pick their interval from it).
func (n handoverNotifier) WatchdogTimeout() (time.Duration, error) {
	return n.inner.WatchdogTimeout()
}
