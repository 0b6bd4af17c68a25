package netnstest_test

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/netctl/netnstest"
	"github.com/vishvananda/netns"
)

// selfNS is the test process's own network namespace, read during init,
// which runs on the main thread, locked, before any rig exists.
var selfNS = func() netns.NsHandle {
	h, err := netns.Get()
	if err != nil {
		panic(err)
	}
	return h
}()

func TestMain(m *testing.M) { netnstest.Main(m) }

// assertGone checks, after the rig's teardown, that no namespace with
// prefix is listed by `ip netns list` and that none of pids and no
// process mentioning prefix on its command line is left.
func assertGone(t *testing.T, prefix string, pids []int) {
	t.Helper()
	if prefix == "" {
		return
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Errorf("ip netns list: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, prefix+"-") {
			t.Errorf("namespace left after teardown: %s", strings.TrimSpace(line))
		}
	}
	for _, pid := range pids {
		if !waitGone(pid, 5*time.Second) {
			t.Errorf("process %d left after teardown", pid)
		}
	}
	if _, err := os.Stat("/run/shisa-netnstest/" + prefix + ".lock"); err == nil {
		t.Errorf("rig lock %s.lock left after teardown (teardown reported an error?)", prefix)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err != nil || isZombie(pid) {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cmdline, []byte(prefix)) {
			t.Errorf("process %s left after teardown: %q", e.Name(), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}

// waitGone waits until pid has exited: no such process, or a zombie (a
// process killed after its parent died waits for init to reap it).
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if syscall.Kill(pid, 0) == syscall.ESRCH || isZombie(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling the kernel
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}
