package netnstest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/netctl/netnstest"
	"github.com/vishvananda/netns"
)

var (
	pfx = netip.MustParsePrefix
	ip  = netip.MustParseAddr
)

func TestRequireRootSkipsInShortMode(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks the -short skip; run with -short")
	}
	ok := t.Run("inner", func(t *testing.T) {
		netnstest.RequireRoot(t)
		t.Error("RequireRoot did not skip in -short mode")
	})
	if !ok {
		t.Fail()
	}
}

// TestLinkCutAndRestore pings across a veth pair, cuts it, sees the ping
// fail, restores it and sees the ping pass again.
func TestLinkCutAndRestore(t *testing.T) {
	t.Parallel()
	var prefix string
	t.Cleanup(func() { assertGone(t, prefix, nil) })
	r := netnstest.New(t)
	prefix = r.Prefix()
	a, b := r.NS("a"), r.NS("b")
	r.Link(a, "veth-a", b, "veth-b")
	a.Addr("veth-a", pfx("198.51.100.1/24"))
	b.Addr("veth-b", pfx("198.51.100.2/24"))
	a.Addr("veth-a", pfx("fd00:5::1/64"))
	b.Addr("veth-b", pfx("fd00:5::2/64"))

	ping := func(ns *netnstest.NS, dst string, d time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		return ns.Ping(ctx, ip(dst))
	}
	for _, dst := range []string{"198.51.100.2", "fd00:5::2"} {
		if err := ping(a, dst, 5*time.Second); err != nil {
			t.Fatalf("before the cut: %v", err)
		}
	}
	if _, err := exec.LookPath("ping"); err == nil {
		if out, err := a.Exec(t.Context(), "ping", "-c1", "-W1", "198.51.100.2"); err != nil {
			t.Errorf("ping binary: %v\n%s", err, out)
		}
	}

	b.SetLink("veth-b", false)
	if err := ping(a, "198.51.100.2", time.Second); err == nil {
		t.Fatal("ping passed with the cable cut")
	} else {
		t.Logf("with the cable cut, as expected: %v", err)
	}
	b.SetLink("veth-b", true)
	if err := ping(a, "198.51.100.2", 5*time.Second); err != nil {
		t.Fatalf("after restoring the link: %v", err)
	}

	out, err := b.Exec(t.Context(), "ip", "-o", "addr", "show", "dev", "veth-b")
	if err != nil || !strings.Contains(string(out), "198.51.100.2/24") {
		t.Errorf("Exec ip addr in %s: %v\n%s", b.Name(), err, out)
	}
	if _, err := b.Exec(t.Context(), "ip", "link", "show", "veth-a"); err == nil {
		t.Error("veth-a is visible in the wrong namespace")
	} else if !strings.Contains(err.Error(), b.Name()) {
		t.Errorf("Exec error does not name the namespace: %v", err)
	}
}

// TestRoutedAndBridged builds two hosts on a bridge, a router with
// forwarding and a host behind it, and checks reachability with
// forwarding on and off.
//
//	h1 ─┐
//	    lan (br0) ── rt ── far
//	h2 ─┘
func TestRoutedAndBridged(t *testing.T) {
	t.Parallel()
	var prefix string
	t.Cleanup(func() { assertGone(t, prefix, nil) })
	r := netnstest.New(t)
	prefix = r.Prefix()
	h1, h2, lan, rt, far := r.NS("h1"), r.NS("h2"), r.NS("lan"), r.NS("rt"), r.NS("far")
	r.Link(h1, "eth0", lan, "p1")
	r.Link(h2, "eth0", lan, "p2")
	r.Link(rt, "lan0", lan, "p3")
	r.Bridge(lan, "br0", "p1", "p2", "p3")
	r.Link(rt, "far0", far, "eth0")
	h1.Addr("eth0", pfx("10.1.0.11/24"))
	h2.Addr("eth0", pfx("10.1.0.12/24"))
	rt.Addr("lan0", pfx("10.1.0.1/24"))
	rt.Addr("far0", pfx("10.2.0.1/24"))
	far.Addr("eth0", pfx("10.2.0.2/24"))
	h1.DefaultRoute(ip("10.1.0.1"))
	far.Route(pfx("10.1.0.0/16"), ip("10.2.0.1"))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := h1.Ping(ctx, ip("10.1.0.12")); err != nil {
		t.Fatalf("across the bridge: %v", err)
	}
	short, cancel2 := context.WithTimeout(t.Context(), time.Second)
	defer cancel2()
	if err := h1.Ping(short, ip("10.2.0.2")); err == nil {
		t.Fatal("routed without forwarding enabled")
	}
	rt.Forwarding(true)
	if err := h1.Ping(ctx, ip("10.2.0.2")); err != nil {
		t.Fatalf("through the router: %v", err)
	}

	// The test process itself, listening in far and dialling from h1.
	l, err := far.Listen("tcp", "10.2.0.2:7000")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := h1.DialTCP(ctx, "10.2.0.2:7000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := netnstest.Echo(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// TestDoRestoresThreadNamespace checks that Do leaves the calling
// thread, and every later thread, in the test's own namespace, and that
// Do passes errors and panics back.
func TestDoRestoresThreadNamespace(t *testing.T) {
	t.Parallel()
	r := netnstest.New(t)
	a := r.NS("a")
	for i := range 50 {
		var inside netns.NsHandle
		err := a.Do(func() error {
			var err error
			inside, err = netns.Get()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		isA, _ := netns.GetFromName(a.Name())
		if !inside.Equal(isA) {
			t.Fatalf("round %d: Do did not run in %s", i, a.Name())
		}
		inside.Close()
		isA.Close()
		// netns.Get reads the namespace of the thread it runs on; without
		// the lock that thread could be lent to another test's Do between
		// gettid and the open.
		runtime.LockOSThread()
		cur, err := netns.Get()
		runtime.UnlockOSThread()
		if err != nil {
			t.Fatal(err)
		}
		if !cur.Equal(selfNS) {
			t.Fatalf("round %d: the test's thread is in another namespace after Do", i)
		}
		cur.Close()
	}
	if err := a.Do(func() error { return fmt.Errorf("boom") }); err == nil || err.Error() != "boom" {
		t.Errorf("Do error = %v, want boom", err)
	}
	func() {
		defer func() {
			if recover() != "kaboom" {
				t.Error("Do did not re-raise the panic")
			}
		}()
		_ = a.Do(func() error { panic("kaboom") })
	}()
}

// TestTeardown runs this test binary as a child that builds a rig, starts
// a process and then fails, panics or dies without cleanup, and checks
// that nothing is left (after Sweep, for the death).
func TestTeardown(t *testing.T) {
	netnstest.RequireRoot(t)
	t.Parallel()
	for _, mode := range []string{"fail", "panic", "exit"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "NETNSTEST_HELPER="+mode)
			out, _ := cmd.CombinedOutput() // it fails on purpose
			prefix, pids := parseHelper(string(out))
			if prefix == "" || len(pids) == 0 {
				t.Fatalf("helper did not report its rig:\n%s", out)
			}
			if mode == "exit" {
				left, _ := exec.Command("ip", "netns", "list").CombinedOutput()
				if !strings.Contains(string(left), prefix+"-") {
					t.Fatalf("crashed helper left no namespace to sweep:\n%s", left)
				}
				if err := netnstest.Sweep(); err != nil {
					t.Errorf("Sweep: %v", err)
				}
			}
			assertGone(t, prefix, pids)
			if strings.Contains(string(out), "teardown of rig") {
				t.Error("the helper's teardown reported an error")
			}
			if t.Failed() {
				t.Logf("helper output:\n%s", out)
			}
		})
	}
}

func parseHelper(out string) (prefix string, pids []int) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if p, ok := strings.CutPrefix(line, "RIG="); ok {
			prefix = p
		}
		if p, ok := strings.CutPrefix(line, "PID="); ok {
			if n, err := strconv.Atoi(p); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return prefix, pids
}

// TestHelperProcess is the child of TestTeardown; it does nothing in a
// normal run.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("NETNSTEST_HELPER")
	if mode == "" {
		t.Skip("helper for TestTeardown")
	}
	r := netnstest.New(t)
	a, b := r.NS("a"), r.NS("b")
	r.Link(a, "x", b, "y")
	p := a.Start("sleep", "300")
	q := b.Start("sh", "-c", "sleep 300 & sleep 300") // a group with two members
	fmt.Printf("RIG=%s\nPID=%d\nPID=%d\n", r.Prefix(), p.Pid, q.Pid)
	switch mode {
	case "fail":
		t.Fatal("failing on purpose")
	case "panic":
		panic("panicking on purpose")
	case "exit":
		os.Exit(3) // no cleanup at all, as after a kill
	}
}
