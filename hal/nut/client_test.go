package nut_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/nut"
	"github.com/shisa-gw/shisa/hal/nut/nuttest"
)

func newServer(t *testing.T) *nuttest.Server {
	t.Helper()
	s, err := nuttest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func opts() nut.Options {
	return nut.Options{UPS: "ups", User: "shisa", Password: "secret", Timeout: 2 * time.Second, ConfirmTimeout: 300 * time.Millisecond}
}

func dial(t *testing.T, s *nuttest.Server, o nut.Options) *nut.Client {
	t.Helper()
	c, err := nut.Dial(t.Context(), s.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientState(t *testing.T) {
	s := newServer(t)
	c := dial(t, s, opts())
	st, err := c.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Online || st.OnBattery || st.ChargePct != 100 || st.RuntimeS != 1800 || st.Stale || !strings.HasPrefix(st.Source, "nut:ups@127.0.0.1:") {
		t.Fatalf("state %+v", st)
	}
	s.Set("ups.status", "FSD OB LB")
	s.Set("battery.charge", "garbage")
	st, err = c.State(t.Context())
	if err != nil || !st.OnBattery || !st.LowBattery || !st.ForcedShutdown || st.ChargePct != -1 {
		t.Fatalf("state %+v, %v", st, err)
	}
	if v, err := c.Get(t.Context(), "device.model"); err != nil || v != `Fake UPS "1500"` {
		t.Fatalf("Get = %q, %v", v, err)
	}
	s.Lock()
	logins := s.Logins
	s.Unlock()
	if logins != 1 {
		t.Fatalf("logins = %d; want 1 (LOGIN registers the box with upsd)", logins)
	}
}

// Every reply class of the protocol maps to a typed error with a message.
func TestClientErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*nuttest.Server, *nut.Options)
		call  func(context.Context, *nut.Client) error
		want  error
		text  string
	}{
		{name: "bad password", setup: func(_ *nuttest.Server, o *nut.Options) { o.Password = "wrong" }, want: nut.ErrAccessDenied, text: "upsd.users"},
		{name: "unknown user", setup: func(_ *nuttest.Server, o *nut.Options) { o.User = "nobody" }, want: nut.ErrAccessDenied},
		{name: "unknown ups", setup: func(_ *nuttest.Server, o *nut.Options) { o.UPS = "other" }, want: nut.ErrUnknownUPS, text: "ups.conf"},
		{name: "data stale", setup: func(s *nuttest.Server, _ *nut.Options) { s.Err = "DATA-STALE" }, call: state, want: nut.ErrDataStale, text: "check the UPS's cable"},
		{name: "driver gone", setup: func(s *nuttest.Server, _ *nut.Options) { s.Err = "DRIVER-NOT-CONNECTED" }, call: state, want: nut.ErrDriverNotConnected},
		{name: "var not supported", call: func(ctx context.Context, c *nut.Client) error { _, err := c.Get(ctx, "ups.nothing"); return err }, want: nut.ErrVarNotSupported},
		{name: "cmd not supported", call: func(ctx context.Context, c *nut.Client) error { return c.InstCmd(ctx, "beeper.on", "") }, want: nut.ErrCmdNotSupported},
		{name: "read only", call: func(ctx context.Context, c *nut.Client) error { return c.SetVar(ctx, "battery.charge", "5") }, want: nut.ErrReadOnly},
		{name: "instcmd failed in driver", setup: func(s *nuttest.Server, _ *nut.Options) { s.Result = "ERR FAILED" },
			call: func(ctx context.Context, c *nut.Client) error { return c.InstCmd(ctx, "load.off", "") }, want: nut.ErrInstCmdFailed, text: "driver reported ERR FAILED"},
		{name: "set failed in driver", setup: func(s *nuttest.Server, _ *nut.Options) { s.Result = "ERR INVALID-ARGUMENT" },
			call: func(ctx context.Context, c *nut.Client) error { return c.SetVar(ctx, "ups.delay.start", "x") }, want: nut.ErrSetFailed},
		{name: "not confirmed", setup: func(s *nuttest.Server, _ *nut.Options) { s.Result = "PENDING" },
			call: func(ctx context.Context, c *nut.Client) error { return c.InstCmd(ctx, "load.off", "") }, want: nut.ErrNotConfirmed},
		{name: "garbage reply", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) { return "VAR ups \"unterminated\n", strings.HasPrefix(l, "LIST") }
		}, call: state, want: nut.ErrProtocol},
		{name: "escape sequence in reply", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) { return "OK \x1b]0;pwned\a\n", strings.HasPrefix(l, "INSTCMD") }
		}, call: func(ctx context.Context, c *nut.Client) error { return c.InstCmd(ctx, "load.off", "") }, want: nut.ErrConnLost},
		{name: "overlong reply", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) { return strings.Repeat("x", 100000) + "\n", strings.HasPrefix(l, "GET") }
		}, call: func(ctx context.Context, c *nut.Client) error { _, err := c.Get(ctx, "ups.status"); return err }, want: nut.ErrProtocol},
		{name: "wrong variable in reply", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) { return "VAR ups ups.other \"OL\"\n", strings.HasPrefix(l, "GET") }
		}, call: func(ctx context.Context, c *nut.Client) error { _, err := c.Get(ctx, "ups.status"); return err }, want: nut.ErrProtocol},
		{name: "ERR inside a list", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) {
				return "BEGIN LIST VAR ups\nERR DATA-STALE\n", strings.HasPrefix(l, "LIST")
			}
		}, call: state, want: nut.ErrConnLost},
		{name: "endless list", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) {
				return "BEGIN LIST VAR ups\n" + strings.Repeat("VAR ups a \"b\"\n", 10001), strings.HasPrefix(l, "LIST")
			}
		}, call: state, want: nut.ErrProtocol},
		{name: "silent server", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) { return "", strings.HasPrefix(l, "LIST") }
		}, call: state, want: nut.ErrConnLost, text: "timeout"},
		{name: "server hangs up", setup: func(s *nuttest.Server, _ *nut.Options) {
			s.Override = func(l string) (string, bool) {
				if strings.HasPrefix(l, "LIST") {
					go s.Drop()
					return "", true
				}
				return "", false
			}
		}, call: state, want: nut.ErrConnLost},
		{name: "unknown command", call: func(ctx context.Context, c *nut.Client) error { return c.SetVar(ctx, "x y", "1") }, text: "not a valid NUT name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			o := opts()
			o.Timeout = 300 * time.Millisecond
			if tc.setup != nil {
				s.Lock()
				tc.setup(s, &o)
				s.Unlock()
			}
			c, err := nut.Dial(t.Context(), s.Addr(), o)
			if err == nil {
				defer c.Close()
				if tc.call == nil {
					t.Fatal("Dial succeeded")
				}
				err = tc.call(t.Context(), c)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %q; want it to say %q", err, tc.text)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "wrong") {
				t.Fatalf("the password leaked into the error: %v", err)
			}
			t.Log(err)
		})
	}
}

func state(ctx context.Context, c *nut.Client) error { _, err := c.State(ctx); return err }

func TestClientConnectionRefused(t *testing.T) {
	s := newServer(t)
	addr := s.Addr()
	s.Close()
	_, err := nut.Dial(t.Context(), addr, opts())
	if !errors.Is(err, nut.ErrConnLost) || !strings.Contains(err.Error(), "is upsd running") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientReadOnlyNoTracking(t *testing.T) {
	s := newServer(t)
	s.NoTracking = true
	o := opts()
	o.User, o.Password = "", ""
	c := dial(t, s, o)
	if _, err := c.State(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.InstCmd(t.Context(), "load.off", ""); !errors.Is(err, nut.ErrAccessDenied) {
		t.Fatalf("INSTCMD without a user: %v; want ErrAccessDenied", err)
	}
}

func TestArmReturn(t *testing.T) {
	s := newServer(t)
	c := dial(t, s, opts())
	if err := c.ArmReturn(t.Context(), 20*time.Second, 1500*time.Millisecond); err == nil {
		t.Fatal("off delay longer than on delay accepted")
	}
	if err := c.ArmReturn(t.Context(), 15*time.Second, 90500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := []string{"SET ups.delay.shutdown=15", "SET ups.delay.start=91", "INSTCMD shutdown.return"}
	if got := s.Commands(); !slices.Equal(got, want) {
		t.Fatalf("ran %q; want %q", got, want)
	}

	// Without writable delays, the UPS's own apply.
	s.Lock()
	s.RW, s.Ran = nil, nil
	s.Unlock()
	if err := c.ArmReturn(t.Context(), 15*time.Second, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := s.Commands(); !slices.Equal(got, []string{"INSTCMD shutdown.return"}) {
		t.Fatalf("ran %q", got)
	}

	// Without shutdown.return: a clear, typed refusal, and nothing changed.
	s.Lock()
	s.Cmds, s.Ran, s.RW = []string{"load.off"}, nil, []string{"ups.delay.start"}
	s.Unlock()
	err := c.ArmReturn(t.Context(), 15*time.Second, 90*time.Second)
	var re *nut.ReturnUnsupportedError
	if !errors.Is(err, hal.ErrArmUnsupported) || !errors.Is(err, nut.ErrCmdNotSupported) || !errors.As(err, &re) {
		t.Fatalf("err = %v; want ReturnUnsupportedError matching hal.ErrArmUnsupported", err)
	}
	if !slices.Equal(re.Commands, []string{"load.off"}) || !strings.Contains(err.Error(), "reboot timer") {
		t.Fatalf("err = %v", err)
	}
	if got := s.Commands(); len(got) != 0 {
		t.Fatalf("ran %q before refusing", got)
	}
}

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nut.pw")
	if err := os.WriteFile(p, []byte("s3cret pw\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw, err := nut.ReadPasswordFile(p)
	if err != nil || pw != "s3cret pw" {
		t.Fatalf("ReadPasswordFile = %q, %v", pw, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := nut.ReadPasswordFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("mode 0644: err = %v", err)
	}
	if _, err := nut.ReadPasswordFile(filepath.Join(dir, "none")); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestOptionsNeverShowThePassword(t *testing.T) {
	o := opts()
	var b strings.Builder
	slogText(&b, o)
	if strings.Contains(b.String(), "secret") || !strings.Contains(b.String(), "password_set=true") {
		t.Fatalf("logged options: %s", b.String())
	}
	o.Password = "a\nb"
	if _, err := nut.Dial(t.Context(), "127.0.0.1:1", o); err == nil || strings.Contains(err.Error(), "a\nb") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientNoLogin(t *testing.T) {
	s := newServer(t)
	o := opts()
	o.NoLogin = true
	c := dial(t, s, o)
	s.Lock()
	logins := s.Logins
	s.Unlock()
	if logins != 0 {
		t.Fatalf("LOGIN sent with NoLogin")
	}
	if err := c.InstCmd(t.Context(), "load.off", ""); err != nil {
		t.Fatal(err)
	}
	o.Password = "wrong"
	c = dial(t, s, o)
	if err := c.InstCmd(t.Context(), "load.off", ""); !errors.Is(err, nut.ErrAccessDenied) {
		t.Fatalf("bad password with NoLogin: %v; want ErrAccessDenied at the command", err)
	}
}
