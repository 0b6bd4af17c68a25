package itest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/hal/nut"
	"github.com/shisa-gw/shisa/hal/nut/nuttest"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// nutBinary finds one of NUT's programs where Debian and others put them.
// Debian's /sbin/upsd is a shell wrapper that exits unless
// /etc/nut/nut.conf says MODE=standalone, so the real binaries in /lib/nut
// come first. (A copy of hal/nut's test helper: test files cannot be
// shared between packages.)
func nutBinary(name string) string {
	for _, dir := range []string{"/lib/nut", "/usr/lib/nut", "/usr/libexec/nut", "/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if b, err := os.ReadFile(p); err == nil && !strings.HasPrefix(string(b), "#!") {
			return p
		}
	}
	return ""
}

// nutRig is a real upsd with the dummy-ups driver, running inside a
// namespace (the unit's: shisad reaches it on 127.0.0.1), configured in a
// temporary directory, on a random port (never 3493).
type nutRig struct {
	t            *testing.T
	ns           *netnstest.NS
	dir, state   string
	addr         string // 127.0.0.1:port inside ns
	driver, upsd *netnstest.Proc
	writes       int
}

// The rig's upsd user.
const (
	nutUser     = "shisa"
	nutPassword = "s3cret pw"
)

func requireNUT(t *testing.T) (driver, upsd string) {
	t.Helper()
	driver, upsd = nutBinary("dummy-ups"), nutBinary("upsd")
	if driver == "" || upsd == "" {
		t.Skip("upsd or dummy-ups not found: install nut-server (scripts/deps.sh does) to run the NUT integration tests")
	}
	return driver, upsd
}

func (r *nutRig) run(bin string, args ...string) *netnstest.Proc {
	argv := append([]string{"NUT_CONFPATH=" + r.dir, "NUT_STATEPATH=" + r.state, bin}, args...)
	return r.ns.Start("env", argv...)
}

func (r *nutRig) startDriver() {
	r.t.Helper()
	drv, _ := requireNUT(r.t)
	r.driver = r.run(drv, "-a", "dummy", "-F", "-u", "root")
	sock := filepath.Join(r.state, "dummy-ups-dummy")
	r.waitFor("the dummy-ups socket", func() bool { _, err := os.Stat(sock); return err == nil }, r.driver)
}

func (r *nutRig) startUpsd() {
	r.t.Helper()
	_, bin := requireNUT(r.t)
	r.upsd = r.run(bin, "-F", "-u", "root")
	r.waitFor("upsd to listen on "+r.addr, func() bool {
		ctx, cancel := context.WithTimeout(r.t.Context(), time.Second)
		defer cancel()
		c, err := r.ns.DialTCP(ctx, r.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, r.upsd)
}

// stopUpsd kills upsd (a dropped connection for its clients).
func (r *nutRig) stopUpsd() {
	r.t.Helper()
	if err := r.upsd.Kill(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	<-r.upsd.Done()
}

func (r *nutRig) waitFor(what string, ok func() bool, p *netnstest.Proc) {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	r.t.Fatalf("timed out waiting for %s; log:\n%s", what, p.Output())
}

// writeDev sets the dummy UPS's state through its data file, which
// dummy-ups re-reads when the file's modification time changes.
func (r *nutRig) writeDev(status string) {
	r.t.Helper()
	dev := fmt.Sprintf("ups.status: %s\nbattery.charge: 87\nbattery.runtime: 1234\n", status)
	p := filepath.Join(r.dir, "dummy.dev")
	if err := os.WriteFile(p, []byte(dev), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.writes++
	mt := time.Now().Add(time.Duration(r.writes) * time.Minute)
	if err := os.Chtimes(p, mt, mt); err != nil {
		r.t.Fatal(err)
	}
}

// waitUPS waits until upsd serves the dummy UPS with status want.
func (r *nutRig) waitUPS(want string) {
	r.t.Helper()
	c := r.admin("dummy")
	got := ""
	r.waitFor("ups.status "+want, func() bool {
		got, _ = c.Get(r.t.Context(), "ups.status")
		return got == want
	}, r.driver)
}

// admin is a NUT client from inside the namespace, logged in as the rig's
// user (what upsrw does).
func (r *nutRig) admin(ups string) *nut.Client {
	r.t.Helper()
	c, err := nut.Dial(r.t.Context(), r.addr, nut.Options{UPS: ups, User: nutUser, Password: nutPassword, Timeout: 2 * time.Second,
		Dial: func(ctx context.Context, _, addr string) (net.Conn, error) { return r.ns.DialTCP(ctx, addr) }})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// powerConfig is the power:/ups: YAML for shisad against the UPS at addr.
func powerConfig(addr, ups, passwordFile, wakeAlarm, grace string) string {
	return fmt.Sprintf(`power:
  grace: %s
  step_timeout: 2s
  budget: 10s
  reboot_after: 2m
  wake_alarm: %s
ups:
  source: nut
  nut:
    address: %s
    name: %s
    user: %s
    password_file: %s
    interval: 200ms
`, grace, wakeAlarm, addr, ups, nutUser, passwordFile)
}

// writeSecret writes a 0600 file in dir.
func writeSecret(t *testing.T, path, v string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPowerNUTInNamespaces runs the real shisad (built with the test hook
// that records the power-off instead of calling systemd) against a real
// upsd with the dummy-ups driver in the unit's namespace:
//
//   - bad credentials: a clear error, the UPS stale, nothing shut down;
//   - DATA-STALE (the driver stopped) and a dropped connection (upsd
//     killed) while online: stale, nothing shut down, fresh again after;
//   - on battery, then low battery: the whole sequence in order, the
//     tunnel taken down, dummy-ups's refusal to arm the return reported
//     (it has no shutdown.return), and the fallback wake after
//     power.reboot_after asked of the controller;
//   - the next start reports "back after …, low_battery";
//   - upsd lost while on battery counts as low battery: the sequence runs.
func TestPowerNUTInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the power integration test (namespaces, upsd)")
	}
	netnstest.RequireRoot(t)
	requireNUT(t)
	secrets := t.TempDir()
	pwFile := filepath.Join(secrets, "nut.password")
	writeSecret(t, pwFile, "wrong password")
	wake := filepath.Join(secrets, "wakealarm") // an RTC wake alarm the test hook accepts
	writeSecret(t, wake, "0")

	// The address is known once the rig runs, and the rig needs the
	// site's namespace: the config names a fixed port chosen first.
	port := 20000 + rand.IntN(30000)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := newSite(t, siteOptions{TestHooks: true, Extra: powerConfig(addr, "dummy", pwFile, wake, "1h")})
	r := startNUT(t, s.unit, addr)
	env := "SHISA_TEST_POWER=record"

	// Bad credentials.
	p, _ := s.startShisad(env)
	st := s.mustStatus(p, "the UPS refused as stale", func(st *api.Status) bool {
		return st.UPS != nil && st.UPS.Stale && strings.Contains(st.UPS.Reason, "ACCESS-DENIED")
	})
	t.Logf("bad credentials: UPS %s: %s; power %s", st.UPS.State, st.UPS.Reason, st.Power)
	if st.Power != api.PowerOnline || st.UPS.State != api.UPSUnknown {
		t.Fatalf("bad credentials: power %s, UPS %s; want power online (nothing shut down), UPS unknown", st.Power, st.UPS.State)
	}
	if err := stopShisad(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Good credentials, online.
	writeSecret(t, pwFile, nutPassword)
	p, _ = s.startShisad(env)
	s.mustStatus(p, "tunnel up and the UPS online", func(st *api.Status) bool {
		return st.Tunnel.State.String() == "up" && st.UPS != nil && !st.UPS.Stale && strings.Contains(st.UPS.Flags, "OL")
	})
	since := s.cursor()

	// DATA-STALE while online: nothing shuts down.
	if err := r.driver.Kill(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	st = s.mustStatus(p, "the UPS stale (DATA-STALE)", func(st *api.Status) bool {
		return st.UPS != nil && st.UPS.Stale && strings.Contains(st.UPS.Reason, "DATA-STALE")
	})
	t.Logf("DATA-STALE while online: %s; power %s", st.UPS.Reason, st.Power)
	if st.Power != api.PowerOnline || st.UPS.State != api.UPSOnline {
		t.Fatalf("stale while online: power %s, UPS %s; want online", st.Power, st.UPS.State)
	}
	if err := r.driver.Kill(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	s.mustStatus(p, "the UPS fresh again", func(st *api.Status) bool { return st.UPS != nil && !st.UPS.Stale })

	// A dropped connection while online: nothing shuts down; reconnects.
	r.stopUpsd()
	st = s.mustStatus(p, "the UPS lost", func(st *api.Status) bool { return st.UPS != nil && st.UPS.Stale })
	t.Logf("upsd gone while online: %s; power %s", st.UPS.Reason, st.Power)
	if st.Power != api.PowerOnline || !strings.Contains(st.UPS.Reason, "connection to upsd lost") {
		t.Fatalf("upsd gone while online: power %s, UPS %q; want online and the lost connection named", st.Power, st.UPS.Reason)
	}
	r.startUpsd()
	s.mustStatus(p, "reconnected", func(st *api.Status) bool { return st.UPS != nil && !st.UPS.Stale })
	assertNoEvent(t, s, since, "power.shutdown")

	// On battery (the grace is an hour), then low battery.
	r.writeDev("OB DISCHRG")
	s.mustStatus(p, "on battery", func(st *api.Status) bool { return st.Power == api.PowerOnBattery })
	lb := time.Now()
	r.writeDev("OB DISCHRG LB")
	halted := s.waitEvent(p, since, 20*time.Second, "power.state", func(r journal.Record) bool { return field(r, "to") == "halted" })
	recs, err := s.events(t.Context(), since)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("low battery written at %s; the journal:\n%s", lb.Format("15:04:05.000"), formatEvents(recs))
	assertOrder(t, recs,
		kindWhere("power.state", "to", "on_battery"),
		kindWhere("power.state", "to", "shutting_down"),
		kindWhere("test.inhibit", "", ""),
		kindWhere("power.shutdown", "reason", "low_battery"),
		kindWhere("tunnel.stopped", "", ""),
		kindWhere("power.step_failed", "step", "arm"),
		kindWhere("test.poweroff", "reason", "low_battery"),
		kindWhere("power.state", "to", "halted"),
	)
	arm := find(recs, kindWhere("power.step_failed", "step", "arm"))
	if !strings.Contains(arm.Msg, "shutdown.return") || !strings.Contains(arm.Msg, "RTC wake") {
		t.Errorf("the arm refusal does not say why and what instead: %s", arm.Msg)
	}
	off := find(recs, kindWhere("test.poweroff", "reason", "low_battery"))
	wakeAt, err := time.Parse(time.RFC3339, field(off, "wake_at"))
	if err != nil || field(off, "reboot") != "false" {
		t.Fatalf("power-off %v: want a power-off with an RTC wake (the fallback)", off.Fields)
	}
	if d := wakeAt.Sub(off.Time); d < 110*time.Second || d > 130*time.Second {
		t.Errorf("wake at %s, %s after the power-off; want power.reboot_after (2m)", wakeAt, d)
	}
	if field(halted, "return") != "wake" {
		t.Errorf("halted with return %q; want wake", field(halted, "return"))
	}
	st = s.mustStatus(p, "halted, tunnel stopped", func(st *api.Status) bool { return st.Power == api.PowerHalted })
	if st.Tunnel.State.String() != "stopped" {
		t.Errorf("tunnel %s after the shutdown; want stopped", st.Tunnel.State)
	}
	pw, err := s.api.Power(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GET /v1/power: %s; last shutdown %+v", pw.State, *pw.Last)
	if pw.Last == nil || pw.Last.SafeToCut || pw.Last.Return != "wake" || !pw.Last.PoweredOff {
		t.Errorf("last shutdown %+v: want not safe to cut (the return could not be armed), return by wake, powered off", pw.Last)
	}

	// The power is cut; the next start reports the outage.
	since = s.cursor()
	if err := stopShisad(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r.writeDev("OL CHRG")
	r.waitUPS("OL CHRG") // mains is back before the box is
	p, _ = s.startShisad(env)
	back := s.waitEvent(p, since, 20*time.Second, "power.back", nil)
	t.Logf("after the restart: %s", back.Msg)
	if field(back, "reason") != "low_battery" || !strings.HasPrefix(back.Msg, "back after ") {
		t.Errorf("power.back %q %v; want back after …, reason low_battery", back.Msg, back.Fields)
	}
	s.mustStatus(p, "tunnel up and the UPS online", func(st *api.Status) bool {
		return st.Tunnel.State.String() == "up" && st.UPS != nil && !st.UPS.Stale && strings.Contains(st.UPS.Flags, "OL")
	})

	// upsd lost while on battery: counted as low battery.
	r.writeDev("OB DISCHRG")
	s.mustStatus(p, "on battery", func(st *api.Status) bool { return st.Power == api.PowerOnBattery })
	r.stopUpsd()
	sd := s.waitEvent(p, since, 20*time.Second, "power.state", func(r journal.Record) bool { return field(r, "to") == "shutting_down" })
	t.Logf("upsd lost on battery: %s", sd.Msg)
	if !strings.Contains(sd.Msg, "lost while on battery") {
		t.Errorf("shutdown cause %q; want the lost UPS counted as low battery", sd.Msg)
	}
	s.waitEvent(p, since, 20*time.Second, "test.poweroff", nil)
	if err := stopShisad(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// startNUT starts dummy-ups and upsd inside ns, upsd listening on addr.
func startNUT(t *testing.T, ns *netnstest.NS, addr string) *nutRig {
	t.Helper()
	requireNUT(t)
	r := &nutRig{t: t, ns: ns, dir: t.TempDir(), addr: addr}
	r.state = filepath.Join(r.dir, "state")
	host, port, _ := net.SplitHostPort(addr)
	files := map[string]string{
		"ups.conf":    "[dummy]\n\tdriver = dummy-ups\n\tport = dummy.dev\n\tpollinterval = 1\n\tdesc = \"shisa integration test\"\n",
		"upsd.conf":   fmt.Sprintf("LISTEN %s %s\nMAXAGE 3\n", host, port),
		"upsd.users":  fmt.Sprintf("[%s]\n\tpassword = %q\n\tactions = SET\n\tinstcmds = ALL\n\tupsmon secondary\n", nutUser, nutPassword),
		"nut.conf":    "MODE=standalone\n",
		"upsmon.conf": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(r.state, 0o700); err != nil {
		t.Fatal(err)
	}
	r.writeDev("OL")
	r.startDriver()
	r.startUpsd()
	return r
}

// match picks journal records.
type match struct{ kind, key, value string }

func kindWhere(kind, key, value string) match { return match{kind, key, value} }

func (m match) ok(r journal.Record) bool {
	return r.Kind == m.kind && (m.key == "" || field(r, m.key) == m.value)
}

func find(recs []journal.Record, m match) journal.Record {
	for _, r := range recs {
		if m.ok(r) {
			return r
		}
	}
	return journal.Record{}
}

// assertOrder checks that records matching ms appear in that order.
func assertOrder(t *testing.T, recs []journal.Record, ms ...match) {
	t.Helper()
	i := 0
	for _, r := range recs {
		if i < len(ms) && ms[i].ok(r) {
			i++
		}
	}
	if i < len(ms) {
		t.Fatalf("the journal lacks %s (%s=%s) after the earlier steps, in order:\n%s", ms[i].kind, ms[i].key, ms[i].value, formatEvents(recs))
	}
}

func assertNoEvent(t *testing.T, s *site, since uint64, kind string) {
	t.Helper()
	recs, err := s.events(t.Context(), since)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind == kind {
			t.Fatalf("unexpected %s: %s", kind, r.Msg)
		}
	}
}

// TestPowerArmedInNamespaces is the armed case: the real shisad against a
// UPS that offers shutdown.return (the fake upsd of hal/nut/nuttest in the
// unit's namespace; dummy-ups has no such command). The delays and the
// command reach the server, the state is safe to cut, and the box halts
// for the UPS to bring it back (no wake time).
func TestPowerArmedInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the power integration test (namespaces)")
	}
	netnstest.RequireRoot(t)
	secrets := t.TempDir()
	pwFile := filepath.Join(secrets, "nut.password")
	writeSecret(t, pwFile, nutPassword)
	addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(30000))
	s := newSite(t, siteOptions{TestHooks: true, Extra: powerConfig(addr, "ups", pwFile, "none", "1h")})
	srv := fakeUPSD(t, s, addr)

	run := lowBatteryShutdown(t, s, func() { srv.Set("ups.status", "OB DISCHRG") }, func() { srv.Set("ups.status", "OB DISCHRG LB") })
	if got, want := strings.Join(srv.Commands(), "; "), "SET ups.delay.shutdown=20; SET ups.delay.start=30; INSTCMD shutdown.return"; got != want {
		t.Errorf("upsd ran %q; want %q", got, want)
	}
	if run.safe.Seq == 0 || field(run.safe, "return") != "ups" {
		t.Errorf("power.safe_to_cut %v; want one, return by the UPS", run.safe.Fields)
	}
	if field(run.off, "wake_at") != "" || field(run.off, "reboot") != "false" {
		t.Errorf("power-off %v; want a plain halt (the UPS brings the box back)", run.off.Fields)
	}
	t.Logf("armed: safe to cut %.3fs after the low battery was set (%.3fs in the sequence)", run.safe.Time.Sub(run.lb).Seconds(), floatField(run.safe, "safe_to_cut_s"))
}

// TestPlannedOutageCLIInNamespaces plans an outage with the real shisactl
// against the real shisad (no UPS; the test hook records the power-off):
// a window in the past, one ending before it starts and one overlapping
// are refused with messages that say so; a good one makes the box shut
// down power.lead before its start, ask for an RTC wake at its end, and,
// started again after the end, report "back after" and close the window.
func TestPlannedOutageCLIInNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the power integration test (namespaces)")
	}
	netnstest.RequireRoot(t)
	wake := filepath.Join(t.TempDir(), "wakealarm")
	writeSecret(t, wake, "0")
	s := newSite(t, siteOptions{TestHooks: true, Extra: fmt.Sprintf("power:\n  lead: 2s\n  wake_alarm: %s\n", wake)})
	ctl := netnstest.BuildBinary(t, "github.com/shisa-gw/shisa/firmware/cmd/shisactl")
	shisactl := func(args ...string) (string, error) {
		out, err := exec.Command(ctl, append([]string{"--socket", s.socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	p, _ := s.startShisad("SHISA_TEST_POWER=record")
	s.mustStatus(p, "tunnel up", upVia("dc1"))
	since := s.cursor()

	jst := time.FixedZone("JST", 9*3600)
	layout := "2006-01-02 15:04:05"
	start := time.Now().Add(5 * time.Second).Truncate(time.Second)
	end := start.Add(3 * time.Second)
	for _, tc := range []struct{ start, end, want string }{
		{start.Add(-time.Hour).In(jst).Format(layout), start.In(jst).Format(layout), "start: outage window is in the past"},
		{start.In(jst).Format(layout), start.Add(-time.Second).In(jst).Format(layout), "end: "},
		{"someday", end.In(jst).Format(layout), `start: cannot read "someday" as a time`},
	} {
		out, err := shisactl("outage", "add", "--start", tc.start, "--end", tc.end)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("outage add %s → %s: %v\n%s\nwant a refusal with %q", tc.start, tc.end, err, out, tc.want)
		}
	}
	out, err := shisactl("outage", "add", "--start", start.In(jst).Format(layout), "--end", end.In(jst).Format(layout), "--reason", "electrical inspection")
	if err != nil {
		t.Fatalf("outage add: %v\n%s", err, out)
	}
	t.Logf("shisactl outage add:\n%s", out)
	out, err = shisactl("outage", "add", "--start", start.Add(time.Second).In(jst).Format(layout), "--end", end.Add(time.Hour).In(jst).Format(layout))
	if err == nil || !strings.Contains(out, "overlaps window") {
		t.Errorf("an overlapping window: %v\n%s", err, out)
	}
	out, err = shisactl("outage", "list")
	if err != nil || !strings.Contains(out, "electrical inspection") {
		t.Errorf("outage list: %v\n%s", err, out)
	}

	off := s.waitEvent(p, since, 20*time.Second, "test.poweroff", nil)
	sd := find(mustEvents(t, s, since), kindWhere("power.shutdown", "reason", "planned"))
	// Not earlier than power.lead before the start, and before the start
	// (lateness under load is not asserted).
	if lead := start.Sub(sd.Time); lead > 2050*time.Millisecond || lead <= 0 {
		t.Errorf("shut down %s before the start; want power.lead (2s), and not after the start", lead)
	}
	if field(off, "wake_at") != end.UTC().Format(time.RFC3339) {
		t.Errorf("power-off %v; want an RTC wake at the window's end %s", off.Fields, end.UTC().Format(time.RFC3339))
	}
	out, _ = shisactl("power", "status")
	t.Logf("shisactl power status:\n%s", out)
	if !strings.Contains(out, "power       HALTED") {
		t.Errorf("power status does not say halted:\n%s", out)
	}

	since = s.cursor()
	if err := stopShisad(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(end))
	p, _ = s.startShisad("SHISA_TEST_POWER=record")
	back := s.waitEvent(p, since, 20*time.Second, "power.back", nil)
	closed := s.waitEvent(p, since, 20*time.Second, "outage.closed", nil)
	t.Logf("%s; %s", back.Msg, closed.Msg)
	if field(back, "reason") != "planned" || field(closed, "shutdown") != "true" {
		t.Errorf("back %v, closed %v; want reason planned and the window closed as gone down for", back.Fields, closed.Fields)
	}
	out, _ = shisactl("outage", "list")
	if !strings.Contains(out, "no planned outages") {
		t.Errorf("outage list after the window:\n%s", out)
	}
}

func mustEvents(t *testing.T, s *site, since uint64) []journal.Record {
	t.Helper()
	recs, err := s.events(t.Context(), since)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// fakeUPSD serves nuttest's fake upsd on addr in the unit's namespace, with
// the test's NUT user, until the test ends.
func fakeUPSD(t *testing.T, s *site, addr string) *nuttest.Server {
	t.Helper()
	ln, err := s.unit.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := nuttest.NewServerOn(ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.Lock()
	srv.Users = map[string]string{nutUser: nutPassword}
	srv.Unlock()
	return srv
}
