package itest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// ShisadPkg is the import path of the daemon under test.
const shisadPkg = "github.com/shisa-gw/shisa/firmware/cmd/shisad"

// The cloud service, reachable through either datacenter.
const (
	sinkAddr    = "10.20.0.10:9000"
	echoAddr    = "10.20.0.10:9001"
	udpEchoAddr = "10.20.0.10:9002"
	serviceIP   = "10.20.0.10"
)

// siteOptions are the knobs the tests turn; zero values leave the
// daemon's defaults (probe interval 500ms, misses 3, rise 3, hold-down 60s).
type siteOptions struct {
	HoldDown time.Duration
	// Extra is YAML appended to the config (whole top-level sections).
	Extra string
	// TestHooks builds shisad with the shisa_testhooks tag (SIGUSR2
	// freezes the tunnel job).
	TestHooks bool
}

// site is the whole topology of the package comment, with the shisad
// binary built and its configuration written, but shisad not started.
type site struct {
	t   *testing.T
	r   *netnstest.Rig
	bin string // shisad
	dir string // config, key, socket and journal

	dc1, dc2, wan, unit, office *netnstest.NS

	config, socket, journal, state string
	api                            *api.Client

	mu   sync.Mutex
	pids []int // shisad processes started, checked by assertGone
}

// The WAN router's link names towards each datacenter: cut them to fail a
// datacenter.
const (
	wanToDC1 = "dc1"
	wanToDC2 = "dc2"
)

// newSite builds the topology, starts both dcpeers and writes shisad's
// configuration. Everything is torn down by the test's cleanups, which
// run also when it fails or panics.
func newSite(t *testing.T, o siteOptions) *site {
	t.Helper()
	netnstest.RequireRoot(t)
	// Registered before the rig, so removed after its teardown has
	// stopped shisad.
	dir := t.TempDir()
	s := &site{t: t, dir: dir}
	// Registered before the rig, so it runs after its teardown.
	t.Cleanup(s.assertGone)
	r := netnstest.New(t)
	s.r = r
	if o.TestHooks {
		s.bin = netnstest.BuildBinaryTags(t, shisadPkg, "shisa_testhooks")
	} else {
		s.bin = netnstest.BuildBinary(t, shisadPkg)
	}

	siteKey, dc1Key, dc2Key := newKey(t), newKey(t), newKey(t)
	s.dc1, s.dc2, s.wan, s.unit, s.office = r.NS("dc1"), r.NS("dc2"), r.NS("wan"), r.NS("unit"), r.NS("office")

	r.Link(s.unit, "wan0", s.wan, "unit")
	r.Link(s.wan, wanToDC1, s.dc1, "wan0")
	r.Link(s.wan, wanToDC2, s.dc2, "wan0")
	r.Link(s.office, "eth0", s.unit, "lan0")

	s.unit.Addr("wan0", pfx("203.0.113.2/24"))
	s.wan.Addr("unit", pfx("203.0.113.1/24"))
	s.wan.Addr(wanToDC1, pfx("192.0.2.1/24"))
	s.dc1.Addr("wan0", pfx("192.0.2.2/24"))
	s.wan.Addr(wanToDC2, pfx("198.51.100.1/24"))
	s.dc2.Addr("wan0", pfx("198.51.100.2/24"))
	s.unit.Addr("lan0", pfx("192.168.10.1/24"))
	s.office.Addr("eth0", pfx("192.168.10.10/24"))

	s.wan.Forwarding(true)
	s.unit.DefaultRoute(ip("203.0.113.1"))
	s.dc1.DefaultRoute(ip("192.0.2.1"))
	s.dc2.DefaultRoute(ip("198.51.100.1"))
	s.office.DefaultRoute(ip("192.168.10.1"))
	// Forwarding in the unit is shisad's job (netctl applies it).

	for _, dc := range []struct {
		ns    *netnstest.NS
		key   wgtypes.Key
		probe string
	}{{s.dc1, dc1Key, "10.99.0.1/32"}, {s.dc2, dc2Key, "10.99.0.2/32"}} {
		dp := r.StartDCPeer(dc.ns, netnstest.DCPeerOptions{
			Interface:  "wg-dc",
			PrivateKey: dc.key,
			ListenPort: 51820,
			Addrs:      []netip.Prefix{pfx(dc.probe), pfx(serviceIP + "/32")},
			Peers: []netnstest.DCPeerPeer{{
				PublicKey:  siteKey.PublicKey(),
				AllowedIPs: []netip.Prefix{pfx("10.99.1.2/32"), pfx("192.168.10.0/24")},
			}},
			// The cloud's server sits on a 1500-byte network behind
			// the datacenter's VPN device, so it advertises MSS 1460
			// and the office's full-size segments meet the tunnel's
			// 1420: path MTU discovery is exercised, not hidden by
			// the MSS (see the package comment).
			MTU:     1500,
			TCPSink: ":9000",
			TCPEcho: ":9001",
			UDPEcho: ":9002",
		})
		s.pids = append(s.pids, dp.Pid)
	}

	keyFile := filepath.Join(dir, "site.key")
	if err := os.WriteFile(keyFile, []byte(siteKey.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.config = filepath.Join(dir, "site.yaml")
	s.socket = filepath.Join(dir, "shisad.sock")
	s.journal = filepath.Join(dir, "journal")
	s.state = filepath.Join(dir, "state")
	// wireguard-go's UAPI socket lives in the machine-wide
	// /var/run/wireguard/<name>.sock, shared by every namespace: a name
	// unique to this rig keeps parallel tests and benches apart.
	wgName := "wg" + r.Prefix()
	var probe string
	if o.HoldDown > 0 {
		probe = fmt.Sprintf("probe:\n  hold_down: %s\n", config.Duration(o.HoldDown))
	}
	cfg := fmt.Sprintf(`site: itest
unit: a
wan:
  interface: wan0
lan:
  interface: lan0
tunnel:
  interface: %s
  backend: tun
  private_key_file: site.key
  listen_port: 51820
  address: 10.99.1.2/32
  routes:
    - 10.20.0.0/16
  endpoints:
    - name: dc1
      endpoint: 192.0.2.2:51820
      public_key: %s
      probe: 10.99.0.1
    - name: dc2
      endpoint: 198.51.100.2:51820
      public_key: %s
      probe: 10.99.0.2
%sapi:
  socket: %s
journal:
  dir: %s
%s`, wgName, dc1Key.PublicKey(), dc2Key.PublicKey(), probe, s.socket, s.journal, o.Extra)
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(s.config); err != nil {
		t.Fatalf("the test's site config is invalid:\n%v\n%s", err, cfg)
	}
	s.api = api.NewClient(s.socket)
	return s
}

// assertGone checks, after the rig's teardown, that none of the rig's
// namespaces is listed and that no process started by this test lives on.
func (s *site) assertGone() {
	if s.r == nil {
		return
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		s.t.Errorf("ip netns list: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, s.r.Prefix()+"-") {
			s.t.Errorf("namespace left after teardown: %s", strings.TrimSpace(line))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pid := range s.pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			s.t.Errorf("process %d left after teardown: %s", pid, b)
		}
	}
}

// startShisad starts the daemon in the unit namespace (with env as extra
// VAR=value environment) and returns it with the time taken just before
// the exec. `ip netns exec` execs shisad in
// place, so the process id is shisad's.
func (s *site) startShisad(env ...string) (*netnstest.Proc, time.Time) {
	s.t.Helper()
	start := time.Now()
	argv := []string{s.bin, "-config", s.config, "-state", s.state}
	if len(env) > 0 {
		// env(1) execs shisad in place, so the pid is still shisad's.
		argv = append(append([]string{"env"}, env...), argv...)
	}
	p := s.unit.Start(argv[0], argv[1:]...)
	s.mu.Lock()
	s.pids = append(s.pids, p.Pid)
	s.mu.Unlock()
	return p, start
}

// stopShisad sends SIGTERM and waits for the exit, at most timeout.
func stopShisad(p *netnstest.Proc, timeout time.Duration) error {
	if err := p.Kill(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.Done():
		return p.Wait()
	case <-time.After(timeout):
		return fmt.Errorf("shisad did not exit %v after SIGTERM", timeout)
	}
}

// waitStatus polls the API every `every` until cond holds, ctx ends or
// shisad exits. what names the condition for the error.
func (s *site) waitStatus(ctx context.Context, p *netnstest.Proc, every time.Duration, what string, cond func(*api.Status) bool) (*api.Status, error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last *api.Status
	var lastErr error
	for {
		// A bound per request, so that one lost request does not eat
		// the whole wait; a slow answer is reported.
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		t0 := time.Now()
		st, err := s.api.Status(cctx)
		cancel()
		if d := time.Since(t0); d > time.Second && ctx.Err() == nil {
			s.t.Logf("API: GET /v1/status took %v: %v", d.Round(time.Millisecond), err)
		}
		if err == nil {
			last = st
			if cond(st) {
				return st, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return nil, fmt.Errorf("waiting for %s: %w; last status: tunnel %s via %s (%s)", what, ctx.Err(), last.Tunnel.State, last.Tunnel.Active, last.Tunnel.Reason)
			}
			return nil, fmt.Errorf("waiting for %s: %w; API: %v", what, ctx.Err(), lastErr)
		case <-p.Done():
			return nil, fmt.Errorf("waiting for %s: shisad exited: %v", what, p.Wait())
		case <-tick.C:
		}
	}
}

// mustStatus is waitStatus for the test goroutine, with a 20 s bound.
func (s *site) mustStatus(p *netnstest.Proc, what string, cond func(*api.Status) bool) *api.Status {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 20*time.Second)
	defer cancel()
	st, err := s.waitStatus(ctx, p, 50*time.Millisecond, what, cond)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

func upVia(name string) func(*api.Status) bool {
	return func(st *api.Status) bool {
		return st.Tunnel.State.String() == "up" && st.Tunnel.Active == name
	}
}

// events returns every journal record after cursor since.
func (s *site) events(ctx context.Context, since uint64) ([]journal.Record, error) {
	var all []journal.Record
	for {
		page, err := s.api.Events(ctx, since, api.MaxPage)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Events...)
		since = page.Next
		if !page.More {
			return all, nil
		}
	}
}

// waitEvent polls the journal (from cursor since) until a record of kind
// whose fields match (nil: any) appears, and returns it.
func (s *site) waitEvent(p *netnstest.Proc, since uint64, timeout time.Duration, kind string, match func(journal.Record) bool) journal.Record {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		recs, err := s.events(ctx, since)
		if err == nil {
			for _, r := range recs {
				if r.Kind == kind && (match == nil || match(r)) {
					return r
				}
			}
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("no %s event in the journal after %v (last error %v); events since %d:\n%s", kind, timeout, err, since, formatEvents(recs))
		case <-p.Done():
			s.t.Fatalf("waiting for %s: shisad exited: %v", kind, p.Wait())
		case <-tick.C:
		}
	}
}

// cursor is the journal's current last sequence number.
func (s *site) cursor() uint64 {
	s.t.Helper()
	recs, err := s.events(s.t.Context(), 0)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Seq
}

func field(r journal.Record, k string) string {
	v, ok := r.Fields[k]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

func formatEvents(recs []journal.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  %d %s %-18s %s\n", r.Seq, r.Time.Format("15:04:05.000"), r.Kind, r.Msg)
	}
	return b.String()
}

// udpEcho sends numbered datagrams from a namespace to a UDP echo at a
// fixed rate and records which were answered, and when.
type udpEcho struct {
	c       *net.UDPConn
	timeout time.Duration // an answer later than this counts as lost

	mu      sync.Mutex
	sent    []time.Time // by sequence number
	answers []echoAnswer

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type echoAnswer struct {
	seq        int
	sent, recv time.Time
}

// startUDPEcho dials addr from ns and sends one datagram every `every`
// until the test ends.
func startUDPEcho(t *testing.T, ns *netnstest.NS, addr string, every, timeout time.Duration) *udpEcho {
	t.Helper()
	var c *net.UDPConn
	err := ns.Do(func() error {
		var err error
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	})
	if err != nil {
		t.Fatalf("udp echo: dial %s from %s: %v", addr, ns, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &udpEcho{c: c, timeout: timeout, stop: cancel}
	u.wg.Go(func() { u.send(ctx, every) })
	u.wg.Go(u.receive)
	t.Cleanup(u.close) // before the rig's teardown
	return u
}

func (u *udpEcho) close() {
	u.stop()
	u.c.Close()
	u.wg.Wait()
}

func (u *udpEcho) send(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	buf := make([]byte, 32)
	for {
		u.mu.Lock()
		seq := len(u.sent)
		u.sent = append(u.sent, time.Now())
		u.mu.Unlock()
		n := copy(buf, fmt.Sprintf("itest %d", seq))
		// Unreachable and similar errors are losses, seen as no answer.
		_, _ = u.c.Write(buf[:n])
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (u *udpEcho) receive() {
	buf := make([]byte, 1500)
	for {
		n, err := u.c.Read(buf)
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors reported on the connected socket
		}
		var seq int
		if _, err := fmt.Sscanf(string(buf[:n]), "itest %d", &seq); err != nil {
			continue
		}
		u.mu.Lock()
		if seq >= 0 && seq < len(u.sent) && now.Sub(u.sent[seq]) <= u.timeout {
			u.answers = append(u.answers, echoAnswer{seq: seq, sent: u.sent[seq], recv: now})
		}
		u.mu.Unlock()
	}
}

// firstAnsweredAfter returns the answered datagram with the lowest
// sequence number among those sent after t.
func (u *udpEcho) firstAnsweredAfter(t time.Time) (echoAnswer, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var best echoAnswer
	found := false
	for _, a := range u.answers {
		if a.sent.After(t) && (!found || a.seq < best.seq) {
			best, found = a, true
		}
	}
	return best, found
}

// waitAnsweredAfter waits until a datagram sent after t is answered, and
// then a little longer (the timeout) so that an earlier-sent datagram whose
// answer arrives late is still preferred.
func (u *udpEcho) waitAnsweredAfter(ctx context.Context, t time.Time) (echoAnswer, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if a, ok := u.firstAnsweredAfter(t); ok {
			// Everything sent before a.recv-timeout has had its chance.
			wait := time.Until(a.recv.Add(u.timeout))
			if wait > 0 {
				select {
				case <-ctx.Done():
					return echoAnswer{}, ctx.Err()
				case <-time.After(wait):
				}
			}
			a, _ = u.firstAnsweredAfter(t)
			return a, nil
		}
		select {
		case <-ctx.Done():
			return echoAnswer{}, fmt.Errorf("no UDP echo answered after %s: %w", t.Format("15:04:05.000"), ctx.Err())
		case <-tick.C:
		}
	}
}

// await is waitAnsweredAfter bounded by timeout (and the test).
func (u *udpEcho) await(t *testing.T, after time.Time, timeout time.Duration) (echoAnswer, error) {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return u.waitAnsweredAfter(ctx, after)
}

// counts returns how many datagrams were sent and answered.
func (u *udpEcho) counts() (sent, answered int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.sent), len(u.answers)
}

// timeline records named moments relative to its start, for t.Logf.
type timeline struct {
	start time.Time
	b     strings.Builder
}

func newTimeline() *timeline { return &timeline{start: time.Now()} }

func (tl *timeline) at(t time.Time, format string, args ...any) {
	fmt.Fprintf(&tl.b, "  %7.3fs  %s\n", t.Sub(tl.start).Seconds(), fmt.Sprintf(format, args...))
}

func (tl *timeline) now(format string, args ...any) { tl.at(time.Now(), format, args...) }

func (tl *timeline) String() string { return tl.b.String() }

func newKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }
