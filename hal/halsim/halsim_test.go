package halsim_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

func TestBoard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := halsim.NewBoard()
		btn := b.Line("button")
		got := make(chan bool, 1)
		go func() {
			a, err := btn.WaitForEdge(t.Context())
			if err != nil {
				t.Error(err)
			}
			got <- a
		}()
		b.Set("button", true)
		if !<-got || !btn.Active() {
			t.Fatal("button press not seen")
		}
		led := b.Line("led-fault")
		if err := led.Set(true); err != nil {
			t.Fatal(err)
		}
		if err := b.Line("ups-kill").Pulse(t.Context(), time.Second); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := b.Line("nothing").WaitForEdge(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}

		ups := b.NewUPS()
		st := ups.St
		st.Online, st.OnBattery, st.Status = false, true, "OB"
		ups.Set(st)
		if e := <-ups.Events(); !e.OnBattery {
			t.Fatalf("event %v", e)
		}
		ups.ArmErr = hal.ErrArmUnsupported
		if err := ups.ArmReturn(t.Context(), time.Second, 2*time.Second); !errors.Is(err, hal.ErrArmUnsupported) {
			t.Fatal(err)
		}
		p := b.NewPower()
		release, err := p.Inhibit(t.Context(), "flush")
		if err != nil {
			t.Fatal(err)
		}
		_ = release()
		_ = release()
		if p.Held != 0 {
			t.Fatalf("held = %d", p.Held)
		}
		if err := p.PowerOff(t.Context(), hal.Shutdown{Reboot: true, Reason: "mains back, UPS cannot cut"}); err != nil {
			t.Fatal(err)
		}
		want := `set button active
out led-fault active
pulse ups-kill 1s
ups sim: OB charge=100% runtime=1800s
ups arm-return off=1s on=2s: hal: the UPS cannot be armed to cut and restore the load
inhibit "flush"
release "flush"
power reboot reason="mains back, UPS cannot cut"
`
		if got := b.LogText(); got != want {
			t.Fatalf("log:\n%s\nwant:\n%s", got, want)
		}
		_ = ups.Close()
		_ = ups.Close()
	})
}
