package itest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// The hot-standby topology: two units on one office LAN (a bridge in its
// own namespace), each with its own WAN link to the WAN router, one
// datacenter. The office host's gateway is the pair's virtual IP.
//
//	office ──┐            ┌── ua (shisad a, prio 200) ── wan0 ──┐
//	.10      ├─ lan: br0 ─┤   lan0 .2                            ├─ wan ── dc (dcpeer)
//	         │            └── ub (shisad b, prio 100) ── wan0 ──┘
//	         └ default via 192.168.10.1 (the virtual IP)
const (
	pairVIP    = "192.168.10.1"
	pairPort   = 5405
	pairSecret = "itest-pair-secret-0123456789abcdefghijklmnop"
)

// pairUnit is one unit of the pair and its shisad.
type pairUnit struct {
	name, addr   string
	ns           *netnstest.NS
	wanLink      string // its link's name in the WAN router: cut it to cut this unit's WAN
	config, sock string
	journal      string
	state        string
	api          *api.Client
	proc         *netnstest.Proc
}

type pairSite struct {
	*site // the shared helpers: bin, rig, pids, office, wan
	units [2]*pairUnit
	lan   *netnstest.NS
}

// newPairSite builds the topology, starts the datacenter's dcpeer and
// writes both units' configurations (differing only in unit, address and
// priority); shisad is not started.
func newPairSite(t *testing.T) *pairSite {
	t.Helper()
	netnstest.RequireRoot(t)
	dir := t.TempDir()
	s := &site{t: t, dir: dir}
	t.Cleanup(s.assertGone)
	r := netnstest.New(t)
	s.r = r
	s.bin = netnstest.BuildBinary(t, shisadPkg)
	ps := &pairSite{site: s}

	siteKey, dcKey := newKey(t), newKey(t)
	lan, office, wan, dc := r.NS("lan"), r.NS("office"), r.NS("wan"), r.NS("dc")
	ps.lan, s.office, s.wan, s.dc1 = lan, office, wan, dc
	ua, ub := r.NS("ua"), r.NS("ub")

	r.Link(office, "eth0", lan, "p-office")
	r.Link(ua, "lan0", lan, "p-a")
	r.Link(ub, "lan0", lan, "p-b")
	r.Bridge(lan, "br0", "p-office", "p-a", "p-b")
	r.Link(ua, "wan0", wan, "ua")
	r.Link(ub, "wan0", wan, "ub")
	r.Link(wan, "dc", dc, "wan0")

	ua.Addr("wan0", pfx("203.0.113.2/24"))
	wan.Addr("ua", pfx("203.0.113.1/24"))
	ub.Addr("wan0", pfx("198.18.0.2/24"))
	wan.Addr("ub", pfx("198.18.0.1/24"))
	wan.Addr("dc", pfx("192.0.2.1/24"))
	dc.Addr("wan0", pfx("192.0.2.2/24"))
	ua.Addr("lan0", pfx("192.168.10.2/24"))
	ub.Addr("lan0", pfx("192.168.10.3/24"))
	office.Addr("eth0", pfx("192.168.10.10/24"))
	wan.Forwarding(true)
	ua.DefaultRoute(ip("203.0.113.1"))
	ub.DefaultRoute(ip("198.18.0.1"))
	dc.DefaultRoute(ip("192.0.2.1"))
	office.DefaultRoute(ip(pairVIP))

	dp := r.StartDCPeer(dc, netnstest.DCPeerOptions{
		Interface: "wg-dc", PrivateKey: dcKey, ListenPort: 51820,
		Addrs: []netip.Prefix{pfx("10.99.0.1/32"), pfx(serviceIP + "/32")},
		Peers: []netnstest.DCPeerPeer{{
			PublicKey:  siteKey.PublicKey(),
			AllowedIPs: []netip.Prefix{pfx("10.99.1.2/32"), pfx("192.168.10.0/24")},
		}},
		MTU: 1500, TCPSink: ":9000", TCPEcho: ":9001", UDPEcho: ":9002",
	})
	s.pids = append(s.pids, dp.Pid)

	keyFile := filepath.Join(dir, "site.key")
	secretFile := filepath.Join(dir, "pair.secret")
	for f, v := range map[string]string{keyFile: siteKey.String(), secretFile: pairSecret} {
		if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []*pairUnit{
		{name: "a", addr: "192.168.10.2", ns: ua, wanLink: "ua"},
		{name: "b", addr: "192.168.10.3", ns: ub, wanLink: "ub"},
	} {
		udir := filepath.Join(dir, u.name)
		if err := os.MkdirAll(udir, 0o755); err != nil {
			t.Fatal(err)
		}
		u.config = filepath.Join(udir, "site.yaml")
		u.sock = filepath.Join(udir, "shisad.sock")
		u.journal = filepath.Join(udir, "journal")
		u.state = filepath.Join(udir, "state")
		prio := 200 - 100*i
		// wireguard-go's UAPI sockets share one directory machine-wide:
		// each unit's link name is unique to the rig and the unit.
		cfg := fmt.Sprintf(`site: itest
unit: %s
wan:
  interface: wan0
lan:
  interface: lan0
tunnel:
  interface: wg%s%s
  backend: tun
  private_key_file: %s
  address: 10.99.1.2/32
  routes: [10.20.0.0/16]
  endpoints:
    - name: dc1
      endpoint: 192.0.2.2:51820
      public_key: %s
      probe: 10.99.0.1
api:
  socket: %s
journal:
  dir: %s
pair:
  address: %s
  units: [192.168.10.2, 192.168.10.3]
  priority: %d
  secret_file: %s
  virtual_ip: %s/24
`, u.name, r.Prefix(), u.name, keyFile, dcKey.PublicKey(), u.sock, u.journal, u.addr, prio, secretFile, pairVIP)
		if err := os.WriteFile(u.config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(u.config); err != nil {
			t.Fatalf("unit %s's config is invalid:\n%v\n%s", u.name, err, cfg)
		}
		u.api = api.NewClient(u.sock)
		ps.units[i] = u
	}
	return ps
}

// start starts the unit's shisad, with SHISA_BENCH_ENV's VAR=value words
// (if any) in its environment.
func (ps *pairSite) start(u *pairUnit) {
	ps.t.Helper()
	argv := []string{ps.bin, "-config", u.config, "-state", u.state}
	if v := os.Getenv("SHISA_BENCH_ENV"); v != "" {
		argv = append(append([]string{"env"}, strings.Fields(v)...), argv...)
	}
	u.proc = u.ns.Start(argv[0], argv[1:]...)
	ps.mu.Lock()
	ps.pids = append(ps.pids, u.proc.Pid)
	ps.mu.Unlock()
}

// startPair starts a and waits until it is active with its tunnel up,
// then starts b and waits until it is standby, hearing a.
func (ps *pairSite) startPair() {
	ps.t.Helper()
	a, b := ps.units[0], ps.units[1]
	ps.start(a)
	ps.wait(a, "a active with the tunnel up", 20*time.Second, activeWithTunnel)
	ps.start(b)
	ps.wait(b, "b standby hearing a", 20*time.Second, standbyWithPeer)
}

// wait polls the unit's status until cond holds (20 s at most).
func (ps *pairSite) wait(u *pairUnit, what string, timeout time.Duration, cond func(*api.Status) bool) *api.Status {
	ps.t.Helper()
	ctx, cancel := context.WithTimeout(ps.t.Context(), timeout)
	defer cancel()
	var last *api.Status
	var lastErr error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := u.api.Status(cctx)
		ccancel()
		if err == nil {
			last = st
			if cond(st) {
				return st
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			ps.t.Fatalf("unit %s: waiting for %s: %v; last status %s; API error %v", u.name, what, ctx.Err(), describePair(last), lastErr)
		case <-u.proc.Done():
			ps.t.Fatalf("unit %s: waiting for %s: shisad exited: %v\n%s", u.name, what, u.proc.Wait(), u.proc.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func describePair(st *api.Status) string {
	if st == nil || st.Pair == nil {
		return "none"
	}
	p := st.Pair
	peer := "unheard"
	if p.Peer != nil {
		peer = fmt.Sprintf("%s %s alive=%v", p.Peer.UnitID, p.Peer.Role, p.Peer.Alive)
	}
	return fmt.Sprintf("role %s (%s), health %s, peer %s; tunnel %s", p.Role, p.Reason, p.Health, peer, st.Tunnel.State)
}

func isRole(role ha.State) func(*api.Status) bool {
	return func(st *api.Status) bool { return st.Pair != nil && st.Pair.Role == role }
}

// activeWithTunnel: active, tunnel up.
func activeWithTunnel(st *api.Status) bool {
	return isRole(ha.Active)(st) && st.Tunnel.State.String() == "up"
}

// standbyWithPeer: standby, hearing an active peer.
func standbyWithPeer(st *api.Status) bool {
	return isRole(ha.Standby)(st) && st.Pair.Peer != nil && st.Pair.Peer.Alive && st.Pair.Peer.Role == ha.Active
}

// slowConn writes at most rate bytes per second, so that a transfer of a
// few megabytes lasts long enough for a failover to happen during it.
type slowConn struct {
	*net.TCPConn
	rate int // bytes per second
}

func (c slowConn) Write(b []byte) (int, error) {
	const chunk = 16 << 10
	n := 0
	for len(b) > 0 {
		k := min(len(b), chunk)
		m, err := c.TCPConn.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
		time.Sleep(time.Duration(k) * time.Second / time.Duration(c.rate))
	}
	return n, nil
}

// nft loads an nftables script in ns.
func nft(t *testing.T, ns *netnstest.NS, script string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := ns.Exec(t.Context(), "nft", "-f", f); err != nil {
		t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, out, script)
	}
}

// TestHotStandbyInNamespaces runs two real shisad units on one office LAN
// and shows the cases: the standby takes over from a SIGKILLed
// active while a checksummed TCP transfer and a UDP stream run through
// the pair; the active hands over when its WAN link is cut; with the
// heartbeats blocked both ways both go active, and when they are restored
// the lower one steps down and traffic flows through the winner; forged
// and replayed heartbeats change nothing; a frozen active, woken, does not
// take the role back.
func TestHotStandbyInNamespaces(t *testing.T) {
	ps := newPairSite(t)
	a, b := ps.units[0], ps.units[1]
	tl := newTimeline()
	defer func() { t.Logf("timeline:\n%s", tl) }()

	// 1. A starts alone and becomes active; B joins as standby. A holds
	// a virtual IP left by an earlier run (a crash while active): shisad
	// drops it before the election, and says so.
	a.ns.Addr("lan0", pfx(pairVIP+"/32"))
	ps.start(a)
	ps.wait(a, "a active with the tunnel up", 20*time.Second, activeWithTunnel)
	tl.now("a: active, tunnel up")
	if page, err := a.api.Events(t.Context(), 0, api.MaxPage); err != nil {
		t.Fatal(err)
	} else if !slices.ContainsFunc(page.Events, func(r journal.Record) bool { return r.Kind == ha.KindVIPRemoved }) {
		t.Errorf("a's journal has no %s event for the stale virtual IP:\n%s", ha.KindVIPRemoved, formatEvents(page.Events))
	}
	ps.start(b)
	ps.wait(b, "b standby hearing a", 20*time.Second, standbyWithPeer)
	tl.now("b: standby, hears a")
	if st := ps.wait(b, "b standby", time.Second, isRole(ha.Standby)); st.Tunnel.State.String() == "up" {
		t.Errorf("the standby's tunnel is %s; a standby holds no datacenter peer", st.Tunnel.State)
	}

	u := startUDPEcho(t, ps.office, udpEchoAddr, 10*time.Millisecond, 500*time.Millisecond)
	if _, err := u.await(t, time.Now(), 10*time.Second); err != nil {
		t.Fatalf("UDP echo through a: %v", err)
	}
	tl.now("office: UDP echo answered through a")

	// 2. SIGKILL the active during a 6 MiB transfer paced at 3 MB/s.
	const size = 6 << 20
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := ps.office.DialTCP(ctx, sinkAddr)
		if err != nil {
			done <- err
			return
		}
		_, err = netnstest.Sink(ctx, slowConn{c.(*net.TCPConn), 3 << 20}, size)
		done <- err
	}()
	time.Sleep(700 * time.Millisecond)
	if err := a.proc.Kill(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	kill := time.Now()
	<-a.proc.Done()
	tl.now("a: SIGKILL")
	ans, err := u.await(t, kill, 10*time.Second)
	if err != nil {
		t.Fatalf("UDP echo after the kill: %v", err)
	}
	tl.at(ans.sent, "office: first echo answered through b, sent %.3fs after the kill", ans.sent.Sub(kill).Seconds())
	st := ps.wait(b, "b active with the tunnel up", 20*time.Second, activeWithTunnel)
	tl.now("b: active (%s)", st.Pair.Reason)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the 6 MiB transfer running during the failover: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the transfer did not finish")
	}
	tl.now("office: 6 MiB transfer across the failover complete, sha256 matches")

	// 3. A comes back: standby (no preemption by default).
	ps.start(a)
	ps.wait(a, "a standby hearing b", 20*time.Second, standbyWithPeer)
	tl.now("a: restarted, standby")

	// 4. Cut B's WAN link: B must hand over to A.
	ps.wan.SetLink(b.wanLink, false)
	cut := time.Now()
	ps.wait(a, "a active after b's WAN cut", 10*time.Second, activeWithTunnel)
	if ans, err := u.await(t, cut, 10*time.Second); err != nil {
		t.Fatalf("UDP echo after b's WAN cut: %v", err)
	} else {
		tl.at(ans.sent, "office: echo answered through a, sent %.3fs after b's WAN was cut", ans.sent.Sub(cut).Seconds())
	}
	st = ps.wait(b, "b standby after its WAN cut", 5*time.Second, isRole(ha.Standby))
	if st.Pair.Health.Eligible() {
		t.Errorf("b's health %s with its WAN cut; want the wan check failing", st.Pair.Health)
	}
	if page, err := b.api.Events(t.Context(), 0, api.MaxPage); err != nil {
		t.Fatal(err)
	} else if !slices.ContainsFunc(page.Events, func(r journal.Record) bool {
		return r.Kind == ha.KindHealth && strings.Contains(r.Msg, "!wan") && strings.Contains(r.Msg, "WAN link down")
	}) {
		t.Errorf("b's journal has no ha.health event for its WAN cut:\n%s", formatEvents(page.Events))
	}
	ps.wan.SetLink(b.wanLink, true)
	ps.wait(b, "b standby, healthy again", 10*time.Second, func(st *api.Status) bool {
		return standbyWithPeer(st) && st.Pair.Health.Eligible()
	})
	tl.now("b: WAN restored, stays standby")

	// 4b. Pull a's LAN cable (its port on the LAN switch goes down): b
	// takes over (a is silent), and a, cut off from the office, steps
	// down at once rather than keep a tunnel that would fight b's.
	ps.lan.SetLink("p-a", false)
	lanCut := time.Now()
	ps.wait(b, "b active after a's LAN cut", 10*time.Second, activeWithTunnel)
	st = ps.wait(a, "a standby with its LAN down", 5*time.Second, isRole(ha.Standby))
	if st.Tunnel.State.String() == "up" {
		t.Errorf("a keeps its tunnel %s with its LAN down", st.Tunnel.State)
	}
	if ans, err := u.await(t, lanCut, 10*time.Second); err != nil {
		t.Fatalf("UDP echo after a's LAN cut: %v", err)
	} else {
		tl.at(ans.sent, "a's LAN cut: a stepped down (%s); echo answered through b, sent %.3fs after the cut", st.Pair.Reason, ans.sent.Sub(lanCut).Seconds())
	}
	time.Sleep(time.Second)
	if ans, err := u.await(t, time.Now(), 5*time.Second); err != nil {
		t.Fatalf("UDP echo a second after a's LAN cut: %v", err)
	} else {
		tl.at(ans.sent, "office: still answered through b")
	}
	ps.lan.SetLink("p-a", true)
	ps.wait(a, "a standby hearing b after its LAN is back", 10*time.Second, standbyWithPeer)
	ps.wait(b, "b active hearing a healthy", 5*time.Second, func(st *api.Status) bool {
		return activeWithTunnel(st) && st.Pair.Peer != nil && st.Pair.Peer.Alive && st.Pair.Peer.Health.Eligible()
	})
	// Hand the role back to a so that the cases below start as before.
	if _, err := b.api.Handover(t.Context(), true); err != nil {
		t.Fatalf("handover to a: %v", err)
	}
	ps.wait(a, "a active again", 10*time.Second, activeWithTunnel)
	if _, err := b.api.Handover(t.Context(), false); err != nil {
		t.Fatalf("clearing the handover: %v", err)
	}
	ps.wait(b, "b standby", 5*time.Second, func(st *api.Status) bool { return standbyWithPeer(st) && !st.Pair.Handover })
	tl.now("a's LAN back: standby; handed the role back to a")

	// 5. Block the heartbeats both ways: both go active.
	block := "table inet hbblock {\n chain in {\n  type filter hook input priority 0; policy accept;\n  udp dport " + fmt.Sprint(pairPort) + " drop\n }\n}\n"
	for _, x := range []*pairUnit{a, b} {
		nft(t, x.ns, block)
	}
	ps.wait(b, "b active with the heartbeats blocked", 10*time.Second, isRole(ha.Active))
	ps.wait(a, "a still active", time.Second, isRole(ha.Active))
	tl.now("heartbeats blocked both ways: both active (split brain)")
	time.Sleep(time.Second)
	for _, x := range []*pairUnit{a, b} {
		if out, err := x.ns.Exec(t.Context(), "nft", "delete", "table", "inet", "hbblock"); err != nil {
			t.Fatalf("nft delete: %v\n%s", err, out)
		}
	}
	heal := time.Now()
	ps.wait(b, "b steps down after the heal", 5*time.Second, isRole(ha.Standby))
	tl.now("heartbeats restored: b (lower priority) stepped down %.3fs later (polled every 20ms)", time.Since(heal).Seconds())
	ps.wait(a, "a active with its tunnel up", 10*time.Second, activeWithTunnel)
	tl.now("a: active, tunnel up")
	if ans, err := u.await(t, heal, 10*time.Second); err != nil {
		t.Fatalf("UDP echo after the heal: %v", err)
	} else {
		tl.at(ans.sent, "office: echo answered through a, sent %.3fs after the heal", ans.sent.Sub(heal).Seconds())
	}
	// Traffic keeps flowing: the datacenter's endpoint has settled on a.
	time.Sleep(time.Second)
	if ans, err := u.await(t, time.Now(), 5*time.Second); err != nil {
		t.Fatalf("UDP echo a second after the heal: %v", err)
	} else {
		tl.at(ans.sent, "office: still answered through a")
	}

	// 6. Forged and replayed heartbeats from b's address change nothing.
	before, err := a.api.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bst, err := b.api.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sendAs(t, b.ns, b.addr, a.addr, [][]byte{
		[]byte("not a heartbeat at all"),
		heartbeat(t, []byte("a-wrong-secret-0123456789abcdef"), ha.Heartbeat{UnitID: "b", BootID: bst.Pair.BootID, Seq: 1 << 40, Role: ha.Active, Priority: 255, Effective: 255, Health: ha.HealthOK}),
		heartbeat(t, []byte(pairSecret), ha.Heartbeat{UnitID: "b", BootID: bst.Pair.BootID, Seq: 1, Role: ha.Active, Priority: 255, Effective: 255, Health: ha.HealthOK}),
	})
	time.Sleep(500 * time.Millisecond)
	after := ps.wait(a, "a still active after the forged packets", time.Second, activeWithTunnel)
	for _, why := range []string{"malformed", "forged", "replayed"} {
		if after.Pair.Rejected[why] <= before.Pair.Rejected[why] {
			t.Errorf("a's %s heartbeats: %d before, %d after; the test sent one", why, before.Pair.Rejected[why], after.Pair.Rejected[why])
		}
	}
	ps.wait(b, "b still standby", time.Second, standbyWithPeer)
	tl.now("forged, replayed and malformed heartbeats refused and counted (%v); roles unchanged", after.Pair.Rejected)

	// 7. Freeze the active (a stalled board): the standby takes over; when
	// the frozen unit wakes it sees the gap in its monotonic clock, does
	// not act on what it knew, and becomes standby.
	if err := a.proc.Kill(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stop := time.Now()
	ps.wait(b, "b active while a is frozen", 5*time.Second, activeWithTunnel)
	if ans, err := u.await(t, stop, 10*time.Second); err != nil {
		t.Fatalf("UDP echo while a is frozen: %v", err)
	} else {
		tl.at(ans.sent, "a frozen (SIGSTOP): echo answered through b, sent %.3fs after the freeze", ans.sent.Sub(stop).Seconds())
	}
	time.Sleep(time.Second)
	if err := a.proc.Kill(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	wake := time.Now()
	st = ps.wait(a, "a standby after waking", 5*time.Second, standbyWithPeer)
	tl.now("a woke (SIGCONT) after %.1fs frozen: standby, %d freeze(s) noticed", wake.Sub(stop).Seconds(), st.Pair.Freezes)
	if st.Pair.Freezes < 1 {
		t.Errorf("a's freezes: %d; the 1 s stop is a gap of 100 heartbeat intervals", st.Pair.Freezes)
	}
	ps.wait(b, "b still active", time.Second, activeWithTunnel)
	time.Sleep(500 * time.Millisecond)
	if ans, err := u.await(t, time.Now(), 5*time.Second); err != nil {
		t.Fatalf("UDP echo after a woke: %v", err)
	} else {
		tl.at(ans.sent, "office: echo still answered through b after a woke")
	}

	// 8. Maintenance: `shisactl ha handover` on the active (b) moves the
	// role to a; a refused handover (on the standby) says why.
	ctl := netnstest.BuildBinary(t, "github.com/shisa-gw/shisa/firmware/cmd/shisactl")
	shisactl := func(u *pairUnit, args ...string) (string, error) {
		out, err := exec.CommandContext(t.Context(), ctl, append([]string{"--socket", u.sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := shisactl(a, "ha", "handover"); err == nil || !strings.Contains(out, "not active") {
		t.Errorf("handover on the standby: %v, %q; want a refusal saying it is not active", err, out)
	} else {
		tl.now("shisactl ha handover on the standby a: refused: %s", strings.TrimSpace(out))
	}
	handover := time.Now()
	if out, err := shisactl(b, "ha", "handover"); err != nil {
		t.Fatalf("shisactl ha handover on b: %v\n%s", err, out)
	}
	ps.wait(a, "a active after the handover", 5*time.Second, activeWithTunnel)
	st = ps.wait(b, "b standby after the handover", 5*time.Second, standbyWithPeer)
	if !st.Pair.Handover {
		t.Error("b does not show its handover")
	}
	if ans, err := u.await(t, handover, 10*time.Second); err != nil {
		t.Fatalf("UDP echo after the handover: %v", err)
	} else {
		tl.at(ans.sent, "shisactl ha handover on b: a active; echo answered through a, sent %.3fs after the command", ans.sent.Sub(handover).Seconds())
	}
	out, err := shisactl(b, "status")
	if err != nil {
		t.Fatalf("shisactl status: %v\n%s", err, out)
	}
	for _, want := range []string{"role      standby", "pair      STANDBY", "HANDING OVER", "peer      a ACTIVE", "last heartbeat"} {
		if !strings.Contains(out, want) {
			t.Errorf("shisactl status on b lacks %q:\n%s", want, out)
		}
	}
	t.Logf("shisactl status on b:\n%s", out)
	if out, err := shisactl(b, "ha", "handover", "--clear"); err != nil {
		t.Fatalf("shisactl ha handover --clear: %v\n%s", err, out)
	}
	ps.wait(b, "b's handover cleared", 5*time.Second, func(st *api.Status) bool { return standbyWithPeer(st) && !st.Pair.Handover })

	// 9. Both stop cleanly.
	for _, x := range []*pairUnit{b, a} {
		if err := stopShisad(x.proc, 5*time.Second); err != nil {
			t.Fatalf("unit %s: SIGTERM: %v\n%s", x.name, err, x.proc.Output())
		}
	}
	tl.now("both units exited 0 after SIGTERM")
}

// heartbeat encodes h with key.
func heartbeat(t *testing.T, key []byte, h ha.Heartbeat) []byte {
	t.Helper()
	b, err := ha.Encode(nil, key, &h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendAs sends each packet by UDP from src (an address of ns) to dst's
// heartbeat port.
func sendAs(t *testing.T, ns *netnstest.NS, src, dst string, pkts [][]byte) {
	t.Helper()
	err := ns.Do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP(dst), Port: pairPort})
		if err != nil {
			return err
		}
		defer c.Close()
		for _, p := range pkts {
			if _, err := c.Write(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sending heartbeats from %s: %v", src, err)
	}
}
