package nut_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/nut"
)

// nutBinary finds one of NUT's programs where Debian and others put them.
// Debian's /sbin/upsd is a shell wrapper that exits unless /etc/nut/nut.conf
// says MODE=standalone, so the real binaries in /lib/nut come first.
func nutBinary(name string) string {
	for _, dir := range []string{"/lib/nut", "/usr/lib/nut", "/usr/libexec/nut", "/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is a real upsd with the dummy-ups driver, configured in a temp dir.
type rig struct {
	t                 *testing.T
	dir, state, addr  string
	driverBin, upsdBn string
	driver, upsd      *exec.Cmd
	upsdLog           *syncBuffer
}

func (r *rig) env() []string {
	return append(os.Environ(), "NUT_CONFPATH="+r.dir, "NUT_STATEPATH="+r.state)
}

func (r *rig) start(bin string, log *syncBuffer, args ...string) *exec.Cmd {
	r.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = r.env()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", bin, err)
	}
	r.t.Cleanup(func() { stop(cmd) })
	return cmd
}

func stop(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func (r *rig) writeDev(status string) {
	r.t.Helper()
	dev := fmt.Sprintf("ups.status: %s\nbattery.charge: 87\nbattery.runtime: 1234\nups.delay.shutdown: 20\nups.delay.start: 30\n", status)
	p := filepath.Join(r.dir, "dummy.dev")
	if err := os.WriteFile(p, []byte(dev), 0o644); err != nil {
		r.t.Fatal(err)
	}
	// dummy-ups re-reads the file when its modification time changes.
	future := time.Now().Add(time.Duration(time.Now().UnixNano()%1000+1) * time.Second)
	if err := os.Chtimes(p, future, future); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) startDriver() {
	log := &syncBuffer{}
	r.driver = r.start(r.driverBin, log, "-a", "dummy", "-F", "-u", "root")
	sock := filepath.Join(r.state, "dummy-ups-dummy")
	waitFor(r.t, "the dummy-ups socket", func() bool { _, err := os.Stat(sock); return err == nil }, func() string { return log.String() })
}

func (r *rig) startUpsd() {
	r.upsdLog = &syncBuffer{}
	r.upsd = r.start(r.upsdBn, r.upsdLog, "-F", "-u", "root")
	waitFor(r.t, "upsd to listen", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, r.upsdLog.String)
}

func waitFor(t *testing.T, what string, ok func() bool, log func() string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s; log:\n%s", what, log())
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newRig(t *testing.T) *rig {
	if testing.Short() {
		t.Skip("-short: skipping the NUT integration test (it starts upsd and dummy-ups)")
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: skipping the NUT integration test; run it as root (sudo make test), with nut-server installed")
	}
	r := &rig{t: t, driverBin: nutBinary("dummy-ups"), upsdBn: nutBinary("upsd")}
	if r.driverBin == "" || r.upsdBn == "" || strings.HasSuffix(r.upsdBn, "/sbin/upsd") && isScript(r.upsdBn) {
		t.Skip("upsd or dummy-ups not found: install nut-server (scripts/deps.sh does) to run the NUT integration test")
	}
	r.dir = t.TempDir()
	r.state = filepath.Join(r.dir, "state")
	r.addr = freePort(t)
	host, port, _ := net.SplitHostPort(r.addr)
	files := map[string]string{
		"ups.conf":    "[dummy]\n\tdriver = dummy-ups\n\tport = dummy.dev\n\tpollinterval = 1\n\tdesc = \"shisa integration test\"\n",
		"upsd.conf":   fmt.Sprintf("LISTEN %s %s\nMAXAGE 3\n", host, port),
		"upsd.users":  "[shisa]\n\tpassword = \"s3cret pw\"\n\tactions = SET\n\tinstcmds = ALL\n\tupsmon secondary\n",
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

func isScript(p string) bool {
	b, err := os.ReadFile(p)
	return err == nil && bytes.HasPrefix(b, []byte("#!"))
}

func TestIntegrationUpsd(t *testing.T) {
	r := newRig(t)
	start := time.Now()
	o := nut.Options{UPS: "dummy", User: "shisa", Password: "s3cret pw", Timeout: 2 * time.Second,
		Interval: 200 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond}

	// Bad credentials: upsd checks the password at LOGIN.
	bad := o
	bad.Password = "wrong"
	if _, err := nut.Dial(t.Context(), r.addr, bad); !errors.Is(err, nut.ErrAccessDenied) {
		t.Fatalf("bad password: err = %v; want ErrAccessDenied", err)
	} else {
		t.Logf("bad password: %v", err)
	}
	unknown := o
	unknown.UPS = "nosuch"
	if _, err := nut.Dial(t.Context(), r.addr, unknown); !errors.Is(err, nut.ErrUnknownUPS) {
		t.Fatalf("unknown UPS: err = %v; want ErrUnknownUPS", err)
	}

	src, err := nut.NewSource(r.addr, o)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st := nextIn(t, src, 10*time.Second, "OL", func(st hal.UPSState) bool { return st.Online && !st.Stale })
	if st.ChargePct != 87 || st.RuntimeS != 1234 {
		t.Fatalf("state %v; want charge 87, runtime 1234", st)
	}

	// On battery, through the driver's data file.
	r.writeDev("OB DISCHRG")
	nextIn(t, src, 10*time.Second, "OB", func(st hal.UPSState) bool { return st.OnBattery && !st.LowBattery })

	// Low battery, through SET VAR (what upsrw does; dummy-ups allows it).
	admin, err := nut.Dial(t.Context(), r.addr, o)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.SetVar(t.Context(), "ups.status", "OB DISCHRG LB"); err != nil {
		t.Fatalf("SET VAR ups.status: %v", err)
	}
	nextIn(t, src, 10*time.Second, "OB LB", func(st hal.UPSState) bool { return st.OnBattery && st.LowBattery && !st.Stale })

	// Arm the return: dummy-ups offers no shutdown.return, and says so.
	cmds, err := admin.Commands(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dummy-ups instant commands: %q", cmds)
	err = src.ArmReturn(t.Context(), 20*time.Second, 30*time.Second)
	if !errors.Is(err, hal.ErrArmUnsupported) {
		t.Fatalf("ArmReturn: err = %v; want hal.ErrArmUnsupported", err)
	}
	t.Logf("ArmReturn: %v", err)

	// An instant command does reach upsd (and the driver, which refuses it).
	err = admin.InstCmd(t.Context(), "load.off", "")
	t.Logf("INSTCMD load.off: %v", err)
	waitFor(t, "upsd to log the instant command", func() bool {
		return strings.Contains(r.upsdLog.String(), "Instant command: shisa@127.0.0.1 did load.off on dummy")
	}, r.upsdLog.String)
	if err != nil && !errors.Is(err, nut.ErrInstCmdFailed) && !errors.Is(err, nut.ErrNotConfirmed) {
		t.Fatalf("INSTCMD load.off: unexpected error %v", err)
	}

	// A stale driver while on battery counts as low battery (NUT's rule).
	if err := admin.SetVar(t.Context(), "ups.status", "OB DISCHRG"); err != nil {
		t.Fatal(err)
	}
	nextIn(t, src, 10*time.Second, "OB without LB", func(st hal.UPSState) bool { return st.OnBattery && !st.LowBattery })
	if err := r.driver.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	st = nextIn(t, src, 10*time.Second, "stale", func(st hal.UPSState) bool { return st.Stale })
	if !st.LowBattery || !strings.Contains(st.Reason, "DATA-STALE") {
		t.Fatalf("stale on battery: %v; want LowBattery from DATA-STALE", st)
	}
	t.Logf("stale on battery: %v", st)
	if err := r.driver.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	nextIn(t, src, 10*time.Second, "fresh again", func(st hal.UPSState) bool { return !st.Stale })

	// Stale while online: nothing to shut down.
	if err := admin.SetVar(t.Context(), "ups.status", "OL"); err != nil {
		t.Fatal(err)
	}
	nextIn(t, src, 10*time.Second, "OL", func(st hal.UPSState) bool { return st.Online && !st.Stale })
	_ = r.driver.Process.Signal(syscall.SIGSTOP)
	st = nextIn(t, src, 10*time.Second, "stale", func(st hal.UPSState) bool { return st.Stale })
	if st.ShouldShutDown() {
		t.Fatalf("stale while online asks for a shutdown: %v", st)
	}
	_ = r.driver.Process.Signal(syscall.SIGCONT)
	nextIn(t, src, 10*time.Second, "fresh again", func(st hal.UPSState) bool { return !st.Stale && st.Online })

	// upsd dies: a clear error, a stale state, and a reconnection when it is back.
	stop(r.upsd)
	st = nextIn(t, src, 10*time.Second, "connection lost", func(st hal.UPSState) bool { return st.Stale })
	if st.ShouldShutDown() || !strings.Contains(st.Reason, "connection to upsd lost") {
		t.Fatalf("upsd gone while online: %v", st)
	}
	_, err = src.State(t.Context())
	if !errors.Is(err, nut.ErrConnLost) {
		t.Fatalf("State with upsd gone: err = %v; want ErrConnLost", err)
	}
	t.Logf("upsd gone: %v", err)
	r.startUpsd()
	nextIn(t, src, 10*time.Second, "reconnected", func(st hal.UPSState) bool { return !st.Stale && st.Online })

	// The driver dies: DRIVER-NOT-CONNECTED is stale too.
	stop(r.driver)
	st = nextIn(t, src, 10*time.Second, "driver gone", func(st hal.UPSState) bool { return st.Stale })
	if !strings.Contains(st.Reason, "DRIVER-NOT-CONNECTED") || st.ShouldShutDown() {
		t.Fatalf("driver gone: %v", st)
	}
	t.Logf("integration test took %s", time.Since(start).Round(time.Millisecond))
}

// nextIn is next with its own timeout.
func nextIn(t *testing.T, ups hal.UPS, d time.Duration, what string, ok func(hal.UPSState) bool) hal.UPSState {
	t.Helper()
	timeout := time.After(d)
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
			t.Fatalf("no event with %s within %s; state now %v, %v", what, d, st, err)
		}
	}
}
