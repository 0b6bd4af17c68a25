package hal_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/hal"
)

func TestRTCWake(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wakealarm")
	if _, err := hal.OpenRTCWake(path); !errors.Is(err, hal.ErrNoWakeAlarm) {
		t.Fatalf("missing file: err = %v; want ErrNoWakeAlarm", err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := hal.OpenRTCWake(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 6, 0, 0, 0, time.FixedZone("JST", 9*3600))
	if err := w.SetWakeAlarm(at); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got, want := string(b), "1772312400\n"; got != want {
		t.Fatalf("wakealarm = %q; want %q (epoch seconds)", got, want)
	}
	if err := w.ClearWakeAlarm(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "0\n" {
		t.Fatalf("after clear: %q", b)
	}
}

func TestNewSystemdNoBus(t *testing.T) {
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err == nil {
		t.Skip("a system bus is running here; this test checks the error without one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := hal.NewSystemd(ctx, hal.SystemdOptions{})
	if !errors.Is(err, hal.ErrNoSystemBus) {
		t.Fatalf("err = %v; want ErrNoSystemBus", err)
	}
	t.Log(err)
}
