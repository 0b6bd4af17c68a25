package hal_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

func TestContacts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := halsim.NewBoard()
		kill := newPin("GPIO20", gpio.High)
		killOut := hal.NewOutput(kill, true) // active low kill line
		ups, err := hal.NewContacts(hal.ContactsConfig{
			OnBattery:  b.Line("ups-onbatt"),
			LowBattery: b.Line("ups-lowbatt"),
			Kill:       killOut,
			KillPulse:  2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ups.Close()

		st, err := ups.State(t.Context())
		if err != nil || !st.Online || st.OnBattery || st.LowBattery || st.Stale || st.ChargePct != -1 {
			t.Fatalf("initial state %v, %v", st, err)
		}
		for _, step := range []struct {
			line   string
			active bool
			want   string
		}{
			{"ups-onbatt", true, "OB"},
			{"ups-lowbatt", true, "OB LB"},
			{"ups-onbatt", false, "OL LB"},
			{"ups-lowbatt", false, "OL"},
		} {
			b.Set(step.line, step.active)
			synctest.Wait()
			select {
			case st := <-ups.Events():
				if st.Status != step.want || st.OnBattery == st.Online {
					t.Fatalf("after %s=%v: event %v; want %s", step.line, step.active, st, step.want)
				}
			default:
				t.Fatalf("after %s=%v: no event", step.line, step.active)
			}
		}
		if ups.CanCutWithMains() {
			t.Error("CanCutWithMains() = true by default; contact UPSes usually cut only on battery")
		}

		done := make(chan error, 1)
		go func() { done <- ups.ArmReturn(t.Context(), 20*time.Second, 30*time.Second) }()
		time.Sleep(time.Second)
		if kill.Read() != gpio.Low {
			t.Fatal("kill line (active low) not driven low during the pulse")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if kill.Read() != gpio.High {
			t.Fatal("kill line not released after the pulse")
		}

		if err := ups.Close(); err != nil {
			t.Fatal(err)
		}
		if err := ups.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
		if _, ok := <-ups.Events(); ok {
			t.Fatal("Events not closed by Close")
		}
	})
}

func TestContactsWithoutKillLine(t *testing.T) {
	b := halsim.NewBoard()
	ups, err := hal.NewContacts(hal.ContactsConfig{OnBattery: b.Line("ups-onbatt")})
	if err != nil {
		t.Fatal(err)
	}
	defer ups.Close()
	err = ups.ArmReturn(context.Background(), time.Second, 2*time.Second)
	if !errors.Is(err, hal.ErrArmUnsupported) {
		t.Fatalf("err = %v; want ErrArmUnsupported", err)
	}
	if _, err := hal.NewContacts(hal.ContactsConfig{}); err == nil {
		t.Fatal("NewContacts without an on-battery input: no error")
	}
}

func TestUPSStateLost(t *testing.T) {
	ob := hal.Unknown("x")
	ob.OnBattery = true
	if l := ob.Lost("gone"); !l.LowBattery || !l.Stale || !l.OnBattery || !l.ShouldShutDown() {
		t.Fatalf("lost on battery: %v; want stale and low battery", l)
	}
	ol := hal.Unknown("x")
	ol.Online = true
	if l := ol.Lost("gone"); l.LowBattery || !l.Stale || l.ShouldShutDown() {
		t.Fatalf("lost online: %v; want stale, nothing else", l)
	}
	if l := hal.Unknown("x").Lost("never seen"); l.ShouldShutDown() {
		t.Fatalf("never seen: %v; want no shutdown", l)
	}
}
