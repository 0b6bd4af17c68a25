package netnstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is one named network namespace of a Rig.
type NS struct {
	r     *Rig
	t     testing.TB
	name  string // full name, "<prefix>-<short>"
	short string
	h     netns.NsHandle
	ino   uint64 // inode of the namespace, to find its processes
	nl    *netlink.Handle
}

// Name is the namespace's full name as `ip netns list` shows it.
func (ns *NS) Name() string { return ns.name }

// String is the same as Name.
func (ns *NS) String() string { return ns.name }

// Handle is the netlink handle bound to the namespace, for what the
// helpers do not cover. It is closed by the rig's teardown.
func (ns *NS) Handle() *netlink.Handle { return ns.nl }

// Addr adds address p (address and prefix length, such as 10.0.0.1/24) to
// link ifName. IPv6 addresses skip duplicate address detection, so they
// are usable at once.
func (ns *NS) Addr(ifName string, p netip.Prefix) {
	ns.t.Helper()
	l, err := ns.nl.LinkByName(ifName)
	if err == nil {
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}}
		if p.Addr().Is6() {
			a.Flags = syscall.IFA_F_NODAD
		}
		err = ns.nl.AddrAdd(l, a)
	}
	if err != nil {
		ns.t.Fatalf("netnstest: ns %s: add address %s to %s: %v", ns.name, p, ifName, err)
	}
}

// Route adds (or replaces) a route to dst via gateway via.
func (ns *NS) Route(dst netip.Prefix, via netip.Addr) {
	ns.t.Helper()
	dst = dst.Masked()
	rt := &netlink.Route{
		Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
		Gw:  via.AsSlice(),
	}
	if dst.Addr().Is6() {
		rt.Family = netlink.FAMILY_V6
	} else {
		rt.Family = netlink.FAMILY_V4
	}
	if err := ns.nl.RouteReplace(rt); err != nil {
		ns.t.Fatalf("netnstest: ns %s: route %s via %s: %v", ns.name, dst, via, err)
	}
}

// DefaultRoute adds (or replaces) the default route of via's family.
func (ns *NS) DefaultRoute(via netip.Addr) {
	ns.t.Helper()
	if via.Is4() {
		ns.Route(netip.PrefixFrom(netip.IPv4Unspecified(), 0), via)
	} else {
		ns.Route(netip.PrefixFrom(netip.IPv6Unspecified(), 0), via)
	}
}

// Forwarding turns IPv4 and IPv6 forwarding on or off in the namespace.
func (ns *NS) Forwarding(on bool) {
	ns.t.Helper()
	v := []byte("0\n")
	if on {
		v = []byte("1\n")
	}
	// /proc/sys/net is resolved in the namespace of the thread that
	// opens the file, hence Do.
	err := ns.Do(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", v, 0o644); err != nil {
			return err
		}
		err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", v, 0o644)
		if errors.Is(err, os.ErrNotExist) { // IPv6 disabled
			err = nil
		}
		return err
	})
	if err != nil {
		ns.t.Fatalf("netnstest: ns %s: set forwarding %v: %v", ns.name, on, err)
	}
}

// SetLink brings link ifName up or down: the "cut the cable" operation.
func (ns *NS) SetLink(ifName string, up bool) {
	ns.t.Helper()
	if err := ns.setLink(ifName, up); err != nil {
		ns.t.Fatalf("netnstest: %v", err)
	}
}

func (ns *NS) setLink(ifName string, up bool) error {
	l, err := ns.nl.LinkByName(ifName)
	if err == nil {
		if up {
			err = ns.nl.LinkSetUp(l)
		} else {
			err = ns.nl.LinkSetDown(l)
		}
	}
	if err != nil {
		state := "down"
		if up {
			state = "up"
		}
		return fmt.Errorf("ns %s: set %s %s: %w", ns.name, ifName, state, err)
	}
	return nil
}

// command returns name with args to be run inside the namespace in its
// own process group.
func (ns *NS) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", ns.name, name}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Bound Wait when a grandchild keeps the output pipe open.
	cmd.WaitDelay = killGrace
	return cmd
}

// Exec runs name with args inside the namespace (through
// `ip netns exec`) and waits for it. The error includes the combined
// output; ctx cancellation kills the process group.
func (ns *NS) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := ns.command(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netnstest: ns %s: %s: %w\n%s", ns.name,
			strings.Join(append([]string{name}, args...), " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Do runs fn on an OS thread switched into the namespace, for dialling
// and listening from the test process itself. Sockets that fn opens stay
// in the namespace. Goroutines that fn starts do not run in it. fn runs
// on its own goroutine; a panic in fn is re-raised in the caller.
func (ns *NS) Do(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Unlocked only once the thread is back in its own namespace;
		// otherwise Go discards the thread when this goroutine ends.
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: fmt.Errorf("netnstest: ns %s: get thread namespace: %w", ns.name, err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.h); err != nil {
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			ch <- result{err: fmt.Errorf("netnstest: ns %s: enter: %w", ns.name, err)}
			return
		}
		var res result
		func() {
			defer func() { res.panic = recover() }()
			res.err = fn()
		}()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		ch <- res
	}()
	res := <-ch
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}

// DialTCP dials the TCP address addr (an IP literal and port) from inside
// the namespace.
func (ns *NS) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netnstest: ns %s: dial %s: %w", ns.name, addr, err)
	}
	return c, nil
}

// Listen opens a stream listener (network "tcp", "tcp4", "tcp6" or "unix";
// address an IP literal and port) inside the namespace.
func (ns *NS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netnstest: ns %s: listen %s %s: %w", ns.name, network, addr, err)
	}
	return l, nil
}

// Start runs name with args inside the namespace in its own process group
// and returns at once. Its stdout and stderr go to a buffer (see
// Proc.Output), logged when the test fails. The rig's teardown stops it;
// so does the death of the test process. Start stops the test if the
// process cannot be started.
func (ns *NS) Start(name string, args ...string) *Proc {
	ns.t.Helper()
	p, err := ns.start(name, args...)
	if err != nil {
		ns.t.Fatalf("netnstest: %v", err)
	}
	return p
}

func (ns *NS) start(name string, args ...string) (*Proc, error) {
	cmd := ns.command(context.Background(), name, args...)
	p := &Proc{
		ns:   ns,
		argv: append([]string{name}, args...),
		done: make(chan struct{}),
	}
	cmd.Stdout = &p.out
	cmd.Stderr = &p.out
	// The parent-death signal fires when the *thread* that forked the
	// child exits, not the process. Go may retire threads, so the
	// child is started from a locked goroutine that stays locked until
	// the child has been waited for.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.Pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("ns %s: start %s: %w", ns.name, strings.Join(p.argv, " "), err)
	}
	ns.r.mu.Lock()
	ns.r.procs = append(ns.r.procs, p)
	ns.r.mu.Unlock()
	return p, nil
}
