package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RequireRoot skips the test unless it runs as root and without -short.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: creates network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: run 'sudo make test' (creates network namespaces)")
	}
}

const (
	netnsDir = "/run/netns"
	// lockDir holds one flocked file per live rig; see Sweep.
	lockDir = "/run/shisa-netnstest"
	// killGrace is how long a process has between SIGTERM and SIGKILL.
	killGrace = 5 * time.Second
)

// rigName matches the namespaces a rig creates: "sh", six hex digits,
// "-", a name.
var rigName = regexp.MustCompile(`^(sh[0-9a-f]{6})-[A-Za-z0-9_.-]+$`)

// Rig is a set of network namespaces, links and processes owned by one
// test. Create it with New; it is torn down by the test's cleanup.
type Rig struct {
	t      testing.TB
	prefix string
	lock   *os.File // flocked for the rig's lifetime

	mu    sync.Mutex // guards the fields below
	nss   []*NS
	procs []*Proc
}

// New returns an empty rig with a fresh prefix and registers its
// teardown with t.Cleanup. It skips the test unless RequireRoot passes.
func New(t testing.TB) *Rig {
	t.Helper()
	RequireRoot(t)
	sweepOnce.Do(func() {
		if err := Sweep(); err != nil {
			t.Logf("netnstest: sweeping stale namespaces: %v", err)
		}
	})
	var lockErr error
	for range 5 {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("netnstest: random prefix: %v", err)
		}
		prefix := "sh" + hex.EncodeToString(b[:])
		lock, err := takeLock(prefix)
		if errors.Is(err, os.ErrExist) {
			lockErr = err
			continue
		}
		if err != nil {
			t.Fatalf("netnstest: %v", err)
		}
		r := &Rig{t: t, prefix: prefix, lock: lock}
		t.Cleanup(r.teardown)
		return r
	}
	t.Fatalf("netnstest: no free rig prefix: %v", lockErr)
	return nil
}

var sweepOnce sync.Once

// Prefix is the rig's unique name prefix, such as "sh3fa91c".
func (r *Rig) Prefix() string { return r.prefix }

// NS creates the named network namespace "<prefix>-<name>", brings its
// loopback up and returns it. Nothing else is enabled (no forwarding).
func (r *Rig) NS(name string) *NS {
	r.t.Helper()
	full := r.prefix + "-" + name
	if !rigName.MatchString(full) {
		r.t.Fatalf("netnstest: namespace name %q: use letters, digits, '-', '_', '.'", name)
	}
	if err := ensureSharedNetnsDir(); err != nil {
		r.t.Fatalf("netnstest: ns %s: %v", full, err)
	}
	h, err := newNamed(full)
	if err != nil {
		r.t.Fatalf("netnstest: ns %s: create: %v", full, err)
	}
	ns := &NS{r: r, t: r.t, name: full, short: name, h: h}
	r.mu.Lock()
	r.nss = append(r.nss, ns) // from now on teardown deletes it
	r.mu.Unlock()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		r.t.Fatalf("netnstest: ns %s: stat: %v", full, err)
	}
	ns.ino = st.Ino
	ns.nl, err = netlink.NewHandleAt(h)
	if err != nil {
		r.t.Fatalf("netnstest: ns %s: netlink handle: %v", full, err)
	}
	lo, err := ns.nl.LinkByName("lo")
	if err == nil {
		err = ns.nl.LinkSetUp(lo)
	}
	if err != nil {
		r.t.Fatalf("netnstest: ns %s: bring lo up: %v", full, err)
	}
	return ns
}

// Link creates a veth pair with end aIf in a and end bIf in b and brings
// both ends up.
func (r *Rig) Link(a *NS, aIf string, b *NS, bIf string) {
	r.t.Helper()
	step := fmt.Sprintf("netnstest: link %s:%s <-> %s:%s", a.name, aIf, b.name, bIf)
	if len(aIf) > 15 || len(bIf) > 15 {
		r.t.Fatalf("%s: interface names must be at most 15 bytes", step)
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aIf},
		PeerName:      bIf,
		PeerNamespace: netlink.NsFd(b.h),
	}
	if err := a.nl.LinkAdd(veth); err != nil {
		r.t.Fatalf("%s: create veth: %v", step, err)
	}
	if err := a.setLink(aIf, true); err != nil {
		r.t.Fatalf("%s: %v", step, err)
	}
	if err := b.setLink(bIf, true); err != nil {
		r.t.Fatalf("%s: %v", step, err)
	}
}

// Bridge creates bridge br in ns, enslaves ports (links already in ns)
// and brings the bridge up.
func (r *Rig) Bridge(ns *NS, br string, ports ...string) {
	r.t.Helper()
	step := fmt.Sprintf("netnstest: ns %s: bridge %s", ns.name, br)
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br}}
	if err := ns.nl.LinkAdd(bridge); err != nil {
		r.t.Fatalf("%s: create: %v", step, err)
	}
	for _, p := range ports {
		l, err := ns.nl.LinkByName(p)
		if err == nil {
			err = ns.nl.LinkSetMaster(l, bridge)
		}
		if err != nil {
			r.t.Fatalf("%s: enslave port %s: %v", step, p, err)
		}
	}
	if err := ns.setLink(br, true); err != nil {
		r.t.Fatalf("%s: %v", step, err)
	}
}

// teardown undoes everything the rig did; see the package comment.
func (r *Rig) teardown() {
	r.mu.Lock()
	procs, nss := r.procs, r.nss
	r.procs, r.nss = nil, nil
	r.mu.Unlock()

	var errs []error
	for _, p := range procs {
		if err := p.stop(killGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if r.t.Failed() {
		for _, p := range procs {
			r.t.Logf("netnstest: output of %s:\n%s", p, p.Output())
		}
	}
	for _, ns := range nss {
		if n := killInNetns(ns.ino); n > 0 {
			errs = append(errs, fmt.Errorf("ns %s: killed %d stray process(es) not started with Start", ns.name, n))
		}
		if ns.nl != nil {
			ns.nl.Close()
		}
		if err := ns.h.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ns %s: close handle: %w", ns.name, err))
		}
		if err := netns.DeleteNamed(ns.name); err != nil {
			errs = append(errs, fmt.Errorf("ns %s: delete: %w", ns.name, err))
		}
	}
	// Check, do not trust: nothing of ours is left.
	for _, ns := range nss {
		if _, err := os.Lstat(netnsDir + "/" + ns.name); err == nil {
			errs = append(errs, fmt.Errorf("ns %s: still in %s after teardown", ns.name, netnsDir))
		}
	}
	for _, p := range procs {
		if groupAlive(p.Pid) {
			errs = append(errs, fmt.Errorf("%s: process group still alive after teardown", p))
		}
	}
	if len(errs) == 0 {
		// Only a clean rig gives its lock back; otherwise Sweep finds
		// the leftovers once this process is gone.
		releaseLock(r.prefix, r.lock)
	}
	if err := errors.Join(errs...); err != nil {
		r.t.Errorf("netnstest: teardown of rig %s: %v", r.prefix, err)
	}
}

// newNamed creates a named network namespace. netns.NewNamed leaves the
// calling thread inside the new namespace, so it runs on a locked thread
// that is switched back afterwards. The thread is unlocked only when the
// switch back worked; otherwise Go discards it when the goroutine ends.
// (Never simply leave it locked: if the goroutine happens to run on the
// main thread, Go cannot discard that thread and wedges it instead, and
// the process would sit in the rig's namespace forever, keeping it
// alive after its deletion.)
func newNamed(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("get thread namespace: %w", err)}
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if err != nil && !errors.Is(err, os.ErrExist) {
			// NewNamed can fail after creating the mount point.
			_ = netns.DeleteNamed(name)
			_ = os.Remove(netnsDir + "/" + name)
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{h, err}
	}()
	res := <-ch
	return res.h, res.err
}

// ensureSharedNetnsDir makes /run/netns a shared mount point, as
// `ip netns add` does, so that deleting a namespace also removes the copy
// of its bind mount held by processes started with `ip netns exec` (which
// run in their own mount namespace); without it such a process would keep
// every other rig namespace alive until it exits.
func ensureSharedNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", netnsDir, err)
	}
	return nil
}

// killInNetns SIGKILLs every process whose network namespace has inode
// ino and waits briefly for them to go. It returns how many it found.
func killInNetns(ino uint64) int {
	found := pidsInNetns(ino)
	pids := append([]int(nil), found...)
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	deadline := time.Now().Add(killGrace)
	for len(pids) > 0 && time.Now().Before(deadline) {
		alive := pids[:0]
		for _, pid := range pids {
			if unix.Kill(pid, 0) == nil && !isZombie(pid) {
				alive = append(alive, pid)
			}
		}
		pids = alive
		if len(pids) > 0 {
			time.Sleep(10 * time.Millisecond) // polling the kernel, not waiting for a peer
		}
	}
	return len(found)
}

// pidsInNetns lists the processes whose network namespace has inode ino.
func pidsInNetns(ino uint64) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil || st.Ino != ino {
			continue
		}
		if isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}
