package nut_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/nut"
	"github.com/shisa-gw/shisa/hal/nut/nuttest"
)

// next waits for an event satisfying ok, failing after a few seconds.
func next(t *testing.T, ups hal.UPS, what string, ok func(hal.UPSState) bool) hal.UPSState {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st, open := <-ups.Events():
			if !open {
				t.Fatalf("waiting for %s: events closed", what)
			}
			if ok(st) {
				return st
			}
		case <-timeout:
			st, err := ups.State(t.Context())
			t.Fatalf("no event with %s; state now %v, %v", what, st, err)
		}
	}
}

func newSource(t *testing.T, s *nuttest.Server) *nut.Source {
	t.Helper()
	o := opts()
	o.Interval = 20 * time.Millisecond
	o.RetryMin, o.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	o.Timeout = 500 * time.Millisecond
	src, err := nut.NewSource(s.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestSourceFollowsTheUPS(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newServer(t)
	src := newSource(t, s)
	next(t, src, "online", func(st hal.UPSState) bool { return st.Online && !st.Stale })
	s.Set("ups.status", "OB DISCHRG")
	next(t, src, "on battery", func(st hal.UPSState) bool { return st.OnBattery && !st.LowBattery })
	s.Set("ups.status", "OB DISCHRG LB")
	st := next(t, src, "low battery", func(st hal.UPSState) bool { return st.LowBattery })
	if !st.ShouldShutDown() || st.Stale {
		t.Fatalf("state %v", st)
	}
	s.Set("ups.status", "FSD OB LB")
	next(t, src, "forced shutdown", func(st hal.UPSState) bool { return st.ForcedShutdown })

	if err := src.ArmReturn(t.Context(), 10*time.Second, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if !src.CanCutWithMains() {
		t.Fatal("CanCutWithMains() = false by default")
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	for range src.Events() {
	}
	s.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close; %d before", n, before)
	}
}

// NUT's rule: a UPS lost while on battery counts as low battery; lost while
// online, nothing happens.
func TestSourceLostUPS(t *testing.T) {
	for _, tc := range []struct {
		status, lose string
		wantLB       bool
	}{
		{"OB", "DATA-STALE", true},
		{"OB", "DRIVER-NOT-CONNECTED", true},
		{"OB", "drop", true},
		{"OL", "DATA-STALE", false},
		{"OL", "drop", false},
	} {
		t.Run(tc.status+"/"+tc.lose, func(t *testing.T) {
			s := newServer(t)
			s.Set("ups.status", tc.status)
			src := newSource(t, s)
			next(t, src, tc.status, func(st hal.UPSState) bool { return st.Status == tc.status && !st.Stale })
			if tc.lose == "drop" {
				addr := s.Addr()
				s.Close()
				st := next(t, src, "stale", func(st hal.UPSState) bool { return st.Stale })
				if st.LowBattery != tc.wantLB || st.ShouldShutDown() != tc.wantLB {
					t.Fatalf("lost: %v; want LowBattery=%v", st, tc.wantLB)
				}
				// upsd comes back on the same port: the source reconnects.
				s2, err := nuttest.NewServerAt(addr)
				if err != nil {
					t.Skipf("cannot listen on %s again: %v", addr, err)
				}
				defer s2.Close()
				s2.Set("ups.status", "OL")
				next(t, src, "back online", func(st hal.UPSState) bool { return st.Online && !st.Stale && !st.LowBattery })
				return
			}
			s.SetErr(tc.lose)
			st := next(t, src, "stale", func(st hal.UPSState) bool { return st.Stale })
			if st.LowBattery != tc.wantLB {
				t.Fatalf("lost: %v; want LowBattery=%v", st, tc.wantLB)
			}
			if got, err := src.State(t.Context()); err == nil || !got.Stale {
				t.Fatalf("State() = %v, %v; want stale with the error", got, err)
			}
			s.SetErr("")
			s.Set("ups.status", "OL")
			next(t, src, "fresh again", func(st hal.UPSState) bool { return !st.Stale && st.Online && !st.LowBattery })
		})
	}
}

func TestSourceBadCredentials(t *testing.T) {
	s := newServer(t)
	o := opts()
	o.Password = "wrong"
	o.RetryMin, o.RetryMax = 10*time.Millisecond, 20*time.Millisecond
	src, err := nut.NewSource(s.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st := next(t, src, "access denied", func(st hal.UPSState) bool { return st.Stale && st.Reason != "not polled yet" })
	if st.ShouldShutDown() {
		t.Fatalf("never-seen UPS asks for a shutdown: %v", st)
	}
	_, err = src.State(t.Context())
	if err == nil {
		t.Fatal("State: no error")
	}
	t.Log(st.Reason)
}
