package hal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeUnits struct {
	started []string
	err     error
}

func (f *fakeUnits) StartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error) {
	f.started = append(f.started, name+" "+mode)
	return 1, f.err
}

type fakeLogin struct {
	dir   string
	taken []string
}

func (f *fakeLogin) Inhibit(what, who, why, mode string) (*os.File, error) {
	f.taken = append(f.taken, strings.Join([]string{what, who, why, mode}, "|"))
	return os.Create(filepath.Join(f.dir, "fd"))
}

type fakeWake struct {
	set   []time.Time
	clear int
	err   error
}

func (w *fakeWake) SetWakeAlarm(t time.Time) error { w.set = append(w.set, t); return w.err }
func (w *fakeWake) ClearWakeAlarm() error          { w.clear++; return nil }

func TestSystemdPowerOff(t *testing.T) {
	wakeAt := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name      string
		sh        Shutdown
		wake      *fakeWake
		unitErr   error
		wantUnits string
		wantErr   error
		wantSet   int
		wantClear int
	}{
		{name: "poweroff", sh: Shutdown{Reason: "low battery"}, wantUnits: "poweroff.target replace-irreversibly"},
		{name: "reboot", sh: Shutdown{Reboot: true}, wantUnits: "reboot.target replace-irreversibly"},
		{name: "wake", sh: Shutdown{WakeAt: wakeAt}, wake: &fakeWake{}, wantUnits: "poweroff.target replace-irreversibly", wantSet: 1},
		{name: "wake without alarm", sh: Shutdown{WakeAt: wakeAt}, wantErr: ErrNoWakeAlarm},
		{name: "wake alarm fails", sh: Shutdown{WakeAt: wakeAt}, wake: &fakeWake{err: errors.New("EBUSY")}, wantSet: 1, wantErr: errors.New("arm the wake alarm")},
		{name: "systemd refuses", sh: Shutdown{WakeAt: wakeAt}, wake: &fakeWake{}, unitErr: errors.New("access denied"), wantUnits: "poweroff.target replace-irreversibly", wantSet: 1, wantClear: 1, wantErr: errors.New("start poweroff.target: access denied")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &fakeUnits{err: tc.unitErr}
			opts := SystemdOptions{}
			if tc.wake != nil {
				opts.Wake = tc.wake
			}
			s := newSystemd(u, &fakeLogin{dir: t.TempDir()}, opts)
			err := s.PowerOff(t.Context(), tc.sh)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatal(err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr) && (err == nil || !strings.Contains(err.Error(), tc.wantErr.Error())):
				t.Fatalf("err = %v; want %v", err, tc.wantErr)
			}
			if got := strings.Join(u.started, ","); got != tc.wantUnits {
				t.Errorf("started %q; want %q", got, tc.wantUnits)
			}
			if tc.wake != nil && (len(tc.wake.set) != tc.wantSet || tc.wake.clear != tc.wantClear) {
				t.Errorf("wake alarm set %d cleared %d; want %d, %d", len(tc.wake.set), tc.wake.clear, tc.wantSet, tc.wantClear)
			}
		})
	}
}

func TestSystemdInhibit(t *testing.T) {
	l := &fakeLogin{dir: t.TempDir()}
	s := newSystemd(&fakeUnits{}, l, SystemdOptions{Who: "shisad-test"})
	release, err := s.Inhibit(t.Context(), "flushing state")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(l.taken, ","), "shutdown|shisad-test|flushing state|delay"; got != want {
		t.Fatalf("Inhibit(%q); want %q", got, want)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := release(); err != nil {
		t.Fatal("second release:", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
