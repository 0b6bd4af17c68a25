package power

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/report"
)

// RecordFile is the Record's file name in the state directory.
const RecordFile = "power-shutdown.json"

// Record is written (atomically, fsynced) at the start of the sequence and
// read after the next boot: why the box went and when.
type Record struct {
	Reason string    `json:"reason"` // report.Shutdown…
	At     time.Time `json:"at"`     // when the shutdown was decided
	Window string    `json:"window,omitempty"`
	// End is the planned window's end, for a planned shutdown.
	End   time.Time `json:"end,omitzero"`
	Cause string    `json:"cause,omitempty"` // for people
}

// WriteRecord replaces the record at path.
func WriteRecord(path string, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("power: shutdown record: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("power: shutdown record: %w", err)
	}
	return nil
}

// ReadRecord reads the record at path; ok is false when there is none.
func ReadRecord(path string) (r Record, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("power: shutdown record: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, false, fmt.Errorf("power: shutdown record %s is corrupt (remove it; the last outage will be reported as a crash): %w", path, err)
	}
	return r, true, nil
}

// RemoveRecord removes the record at path, durably; no record is fine.
func RemoveRecord(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("power: shutdown record: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("power: shutdown record: %w", err)
	}
	return nil
}

// BackReport says how long the box was gone and why: the power.back event.
type BackReport struct {
	Gone   time.Duration
	Reason string // report.Shutdown…
	Window string // the planned window, if any
}

// Planned reports whether the outage was planned (a window or a restart).
func (b BackReport) Planned() bool {
	return b.Reason == report.ShutdownPlanned || b.Reason == report.ShutdownRestart
}

// Fields are the power.back event's fields: gone_s, reason, window.
func (b BackReport) Fields() map[string]any {
	f := map[string]any{
		"gone_s": math.Round(b.Gone.Seconds()*10) / 10,
		"reason": b.Reason,
	}
	if b.Window != "" {
		f["window"] = b.Window
	}
	return f
}

// Message is the power.back event's message.
func (b BackReport) Message() string {
	m := fmt.Sprintf("back after %s (shutdown reason %s", b.Gone.Round(time.Second), b.Reason)
	if b.Window != "" {
		m += ", window " + b.Window
	}
	return m + ")"
}

// Back computes, from the record left before the power-off, how long the box
// was gone at now and why. A clock that went backwards (no RTC battery, no
// NTP yet) gives zero, not a negative time.
func Back(prev Record, now time.Time) BackReport {
	return BackReport{Gone: max(now.Sub(prev.At), 0), Reason: prev.Reason, Window: prev.Window}
}
