package itest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/benchfig"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// spareRig is a site whose configuration lives in a site pack: the
// datacenter's signing key, its trusted-keys directory (the image's), the
// site directory the datacenter builds packs from, and shisactl.
type spareRig struct {
	*site
	ctlBin    string
	dcKey     string // the datacenter's signing key file
	trusted   string // the image's trusted keys directory
	dcSite    string // the datacenter's copy of the site directory
	pass      string // a passphrase file
	token     string // the management API's token file
	mgmtURL   string
	fleetFile string
}

// spareUnit is one box: its own site directory (the link a pack is
// installed as), state, socket and name, and shisad running in ns.
type spareUnit struct {
	box, dir, socket string
	ns               *netnstest.NS
	p                *netnstest.Proc
	api              *api.Client
}

// newSpareRig builds the namespaces of newSite and turns its config into
// the datacenter's site directory: site.yaml with the key files under
// keys/, and paths that resolve beside each unit's site directory (the
// site's socket and journal are ../shisad.sock and ../state/journal, so
// two units on one file system keep theirs apart).
func newSpareRig(t *testing.T) *spareRig {
	s := newSite(t, siteOptions{Extra: "probe:\n  targets: [" + echoAddr + "]\n"})
	r := &spareRig{site: s, ctlBin: netnstest.BuildBinary(t, "github.com/shisa-gw/shisa/firmware/cmd/shisactl")}
	dc := filepath.Join(s.dir, "datacenter")
	r.token = filepath.Join(dc, "api.token")
	r.fleetFile = filepath.Join(dc, "fleet.state")
	r.mgmtURL = "http://10.99.1.2:8080"
	if err := os.MkdirAll(dc, 0o700); err != nil {
		t.Fatal(err)
	}
	writeMgmtToken(t, r.token)
	cfg, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	r.dcSite = packLayout(t, filepath.Join(dc, "site"), string(cfg)+"health:\n  token_file: "+r.token+"\n",
		map[string]string{"site.key": filepath.Join(s.dir, "site.key"), "api.token": r.token})
	r.dcKey, r.trusted, r.pass = datacenterKeys(t, r.ctlBin, dc)
	if err := os.WriteFile(filepath.Join(dc, "targets"), []byte("itest "+r.mgmtURL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// packLayout writes the datacenter's site directory dir from a test
// site's config: each secret file (keys/NAME from the file secrets[NAME],
// mode 0600), and cfg with every file path turned into the layout a pack
// installs (keys/NAME) and the socket and journal beside each unit's site
// directory (../shisad.sock, ../state/journal), so two units on one file
// system keep theirs apart. It returns dir.
func packLayout(t *testing.T, dir, cfg string, secrets map[string]string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, from := range secrets {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		writeSecret(t, filepath.Join(dir, "keys", name), strings.TrimSpace(string(b)))
	}
	for key, to := range map[string]string{
		"private_key_file": "keys/site.key", "secret_file": "keys/pair.secret", "token_file": "keys/api.token",
		"socket": "../shisad.sock", "dir": "../state/journal",
	} {
		cfg = regexp.MustCompile(`(?m)^(\s+)`+key+`: .*$`).ReplaceAllString(cfg, "${1}"+key+": "+to)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// datacenterKeys makes the datacenter's signing key in dir with shisactl,
// puts its public half in dir/trusted (the image's trusted keys) and
// writes a passphrase file; it returns the three paths.
func datacenterKeys(t *testing.T, ctl, dir string) (key, trusted, pass string) {
	t.Helper()
	key, trusted, pass = filepath.Join(dir, "signing.key"), filepath.Join(dir, "trusted"), filepath.Join(dir, "passphrase")
	if err := os.MkdirAll(trusted, 0o700); err != nil {
		t.Fatal(err)
	}
	ctlOK(t, ctl, "site", "keygen", key)
	if err := os.Rename(key+".pub", filepath.Join(trusted, "datacenter.pub")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pass, []byte("itest-passphrase-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, trusted, pass
}

// ctl runs shisactl on this machine (outside the namespaces) and returns
// its combined output and exit status.
func (r *spareRig) ctl(args ...string) (string, int) {
	return runCtl(r.t, nil, r.ctlBin, args...)
}

func (r *spareRig) ctlOK(args ...string) string { return ctlOK(r.t, r.ctlBin, args...) }

// ctlOK runs shisactl and fails the test unless it exits 0.
func ctlOK(t *testing.T, ctl string, args ...string) string {
	t.Helper()
	out, code := runCtl(t, nil, ctl, args...)
	if code != 0 {
		t.Fatalf("shisactl %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func runCtl(t *testing.T, ns *netnstest.NS, ctl string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	argv := append([]string{ctl}, args...)
	if ns != nil {
		argv = append([]string{"ip", "netns", "exec", ns.Name()}, argv...)
	}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("shisactl: %v", err)
	}
	return string(out), 0
}

// startSpare starts shisad with no site installed in ns, as box.
func (r *spareRig) startSpare(ns *netnstest.NS, box string) *spareUnit {
	r.t.Helper()
	u := &spareUnit{box: box, dir: filepath.Join(r.dir, box), ns: ns}
	u.socket = filepath.Join(u.dir, "shisad.sock")
	u.api = api.NewClient(u.socket)
	if err := os.MkdirAll(u.dir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	u.p = ns.Start(r.bin, "-config", filepath.Join(u.dir, "site", "site.yaml"), "-state", filepath.Join(u.dir, "state"),
		"-trusted", r.trusted, "-socket", u.socket, "-box", box)
	r.mu.Lock()
	r.pids = append(r.pids, u.p.Pid)
	r.mu.Unlock()
	r.waitUnit(u, 10*time.Second, "running as a spare", func(st *api.Status) bool { return st.Spare != nil })
	return u
}

// waitUnit polls u's status until cond holds.
func (r *spareRig) waitUnit(u *spareUnit, timeout time.Duration, what string, cond func(*api.Status) bool) *api.Status {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(r.t.Context(), 2*time.Second)
		st, err := u.api.Status(ctx)
		cancel()
		if err == nil && cond(st) {
			return st
		}
		lastErr = err
		select {
		case <-u.p.Done():
			r.t.Fatalf("%s: waiting for %s: shisad exited: %v\n%s", u.box, what, u.p.Wait(), u.p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.t.Fatalf("%s: not %s after %v (last error %v)\n%s", u.box, what, timeout, lastErr, u.p.Output())
	return nil
}

// dcHTTP is an HTTP client that dials from the datacenter's namespace,
// through the tunnel, with the management token.
func (r *spareRig) dcGet(path string, out any) {
	r.t.Helper()
	tok, err := os.ReadFile(r.token)
	if err != nil {
		r.t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return r.dc1.DialTCP(ctx, addr) },
	}}
	req, err := http.NewRequestWithContext(r.t.Context(), http.MethodGet, r.mgmtURL+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := hc.Do(req)
	if err != nil {
		r.t.Fatalf("datacenter: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("datacenter: GET %s: %s\n%s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		r.t.Fatalf("datacenter: GET %s: %v", path, err)
	}
}

// fleet runs `shisactl fleet status --state` in the datacenter namespace.
func (r *spareRig) fleet() string {
	out, _ := runCtl(r.t, r.dc1, r.ctlBin, "fleet", "status", "--targets", filepath.Join(filepath.Dir(r.trusted), "targets"),
		"--token-file", r.token, "--state", r.fleetFile)
	return out
}

// TestSpareInNamespaces is the spare's life of seed row 34, with the real
// shisad and shisactl in the namespaces of newSite:
//
//  1. The datacenter builds the site's first pack (sealed to a
//     passphrase); box old-0007, a spare, is activated with it: tunnel up,
//     acceptance passed; the datacenter's fleet poll records the box.
//  2. A factory-fresh box spare-0012, in a namespace of its own on
//     another WAN address, is prepared as a spare (its age identity).
//  3. old-0007 fails: shisad killed, its WAN cut. `site export` reads its
//     files (tunnel down, daemon dead) and seals the pack to spare-0012.
//  4. spare-0012 is activated with one command: tunnel up, acceptance
//     passed; the datacenter reads the acceptance report from the
//     journal over the management API, and its fleet poll retires
//     old-0007.
//  5. `spare prepare` turns spare-0012 back into a spare: site wiped,
//     ready for storage, and the old pack is still refused elsewhere
//     for the right reasons (a refused pack changes nothing).
func TestSpareInNamespaces(t *testing.T) {
	r := newSpareRig(t)
	tl := newTimeline()

	// 1. The first pack, from the datacenter.
	pack1 := filepath.Join(r.dir, "itest-1.shisapack")
	out := r.ctlOK("site", "pack", "--dir", r.dcSite, "--signer", r.dcKey, "--serial", "1", "--passphrase-file", r.pass, "--out", pack1)
	tl.now("datacenter: %s", strings.TrimSpace(strings.Split(out, "\n")[0]))
	old := r.startSpare(r.unit, "old-0007")
	tl.now("old-0007: running as a spare")

	// A bad passphrase is refused and leaves the spare a spare.
	bad := filepath.Join(r.dir, "bad-pass")
	if err := os.WriteFile(bad, []byte("not-the-passphrase-0123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := r.ctl("--socket", old.socket, "spare", "activate", pack1, "--passphrase-file", bad)
	if code != 1 || !strings.Contains(out, "wrong passphrase") {
		t.Fatalf("activation with a wrong passphrase: exit %d, want 1 and the reason\n%s", code, out)
	}
	if _, err := os.Lstat(filepath.Join(old.dir, "site")); !os.IsNotExist(err) {
		t.Fatalf("a refused pack left %s/site: %v", old.dir, err)
	}
	r.waitUnit(old, 5*time.Second, "still a spare, the refusal said", func(st *api.Status) bool {
		return st.Spare != nil && st.Spare.State == api.SpareRefused && strings.Contains(st.Spare.LastError, "passphrase")
	})

	out = r.ctlOK("--socket", old.socket, "spare", "activate", pack1, "--passphrase-file", r.pass, "--lang", "en")
	tl.now("old-0007: activated with the datacenter's pack:\n%s", out)
	if !strings.Contains(out, "acceptance check PASS") {
		t.Fatalf("old-0007's acceptance check did not pass:\n%s", out)
	}
	fl := r.fleet()
	if !strings.Contains(fl, "itest") || strings.Contains(fl, "RETIRED") {
		t.Fatalf("first fleet poll:\n%s", fl)
	}

	// 2. A factory-fresh box: its own namespace, WAN address and LAN.
	spareNS, office2 := r.r.NS("spare"), r.r.NS("office2")
	r.r.Link(spareNS, "wan0", r.wan, "spare")
	r.r.Link(office2, "eth0", spareNS, "lan0")
	spareNS.Addr("wan0", pfx("100.64.0.2/24"))
	r.wan.Addr("spare", pfx("100.64.0.1/24"))
	spareNS.Addr("lan0", pfx("192.168.10.1/24"))
	office2.Addr("eth0", pfx("192.168.10.10/24"))
	spareNS.DefaultRoute(ip("100.64.0.1"))
	office2.DefaultRoute(ip("192.168.10.1"))
	fresh := r.startSpare(spareNS, "spare-0012")
	out = r.ctlOK("--socket", fresh.socket, "spare", "prepare", "--lang", "en")
	tl.now("spare-0012: prepared on the bench:\n%s", out)
	st := r.waitUnit(fresh, 5*time.Second, "ready for storage", func(st *api.Status) bool {
		return st.Spare != nil && st.Spare.Ready && strings.HasPrefix(st.Spare.Recipient, "age1")
	})
	out = r.ctlOK("--socket", fresh.socket, "status")
	if !strings.Contains(out, "SPARE UNIT") || !strings.Contains(out, "READY for storage") {
		t.Errorf("a spare's status does not say so plainly:\n%s", out)
	}
	recipient := st.Spare.Recipient

	// 3. old-0007 fails; its pack is exported from its files.
	if err := old.p.Kill(9); err != nil {
		t.Fatal(err)
	}
	<-old.p.Done()
	r.unit.SetLink("wan0", false)
	tl.now("old-0007: shisad killed, WAN cut")
	pack2 := filepath.Join(r.dir, "itest-2.shisapack")
	out = r.ctlOK("site", "export", "--site-dir", filepath.Join(old.dir, "site"), "--to", recipient, "--box", "old-0007", "--out", pack2)
	tl.now("old-0007: %s", strings.TrimSpace(strings.Split(out, "\n")[0]))
	if !strings.Contains(out, "serial 2") {
		t.Errorf("the exported pack's serial is not the installed one's plus one:\n%s", out)
	}

	// 4. One command activates the spare.
	start := time.Now()
	out, code = r.ctl("--socket", fresh.socket, "spare", "activate", pack2, "--format", "json")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("spare-0012: activation: exit %d\n%s\n%s", code, out, fresh.p.Output())
	}
	var acc api.Acceptance
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &acc); err != nil || !acc.OK {
		t.Fatalf("spare-0012: acceptance report (err %v):\n%s", err, out)
	}
	tl.now("spare-0012: activated, acceptance passed (%d items), %.2fs after the command started", len(acc.Items), took.Seconds())

	var dst api.Status
	r.dcGet("/v1/status", &dst)
	if dst.Box != "spare-0012" || dst.Pack == nil || dst.Pack.Replaces != "old-0007" || dst.Pack.Serial != 2 || dst.Acceptance == nil || !dst.Acceptance.OK {
		t.Errorf("datacenter's view of the site: box %q pack %+v acceptance %+v", dst.Box, dst.Pack, dst.Acceptance)
	}
	var page api.EventsPage
	r.dcGet("/v1/events?since=0&limit=1000", &page)
	var got []journal.Record
	for _, rec := range page.Events {
		if rec.Kind == report.KindAcceptanceResult || rec.Kind == report.KindSpareActivated || rec.Kind == report.KindSparePrepared {
			got = append(got, rec)
		}
	}
	if n := len(got); n < 3 || got[n-1].Kind != report.KindAcceptanceResult || field(got[n-1], "ok") != "true" ||
		got[n-2].Kind != report.KindSpareActivated || field(got[n-2], "from") != "old-0007" {
		t.Errorf("the datacenter does not read the activation and the report from the journal:\n%s", formatEvents(got))
	}
	tl.now("datacenter: read the acceptance report over the management API (record %d)", got[len(got)-1].Seq)
	fl = r.fleet()
	if !strings.Contains(fl, "RETIRED box old-0007 of site itest (itest): replaced by box spare-0012") {
		t.Errorf("the datacenter's fleet poll did not retire old-0007:\n%s", fl)
	}
	tl.now("datacenter: fleet poll: %s", strings.TrimSpace(fl[strings.Index(fl, "RETIRED"):]))

	// The pack of serial 1 is older than the one installed: even signed
	// by the datacenter, a unit serving the site refuses it (it is not a
	// spare), and sitepack's tests cover the rollback itself.
	out, code = r.ctl("--socket", fresh.socket, "spare", "activate", pack1, "--passphrase-file", r.pass)
	if code != 1 || !strings.Contains(out, "already serves site itest") {
		t.Errorf("activating a unit that serves a site: exit %d\n%s", code, out)
	}

	// 5. Back to the shelf.
	out, code = r.ctl("--socket", fresh.socket, "spare", "prepare")
	if code != 2 || !strings.Contains(out, "--site itest") {
		t.Errorf("spare prepare without --site on a unit serving a site: exit %d\n%s", code, out)
	}
	out = r.ctlOK("--socket", fresh.socket, "spare", "prepare", "--site", "itest", "--lang", "en")
	r.waitUnit(fresh, 10*time.Second, "a spare again", func(st *api.Status) bool { return st.Spare != nil && st.Spare.Ready })
	if ents, _ := filepath.Glob(filepath.Join(fresh.dir, "*site*")); len(ents) != 0 {
		t.Errorf("site files left after prepare: %v", ents)
	}
	tl.now("spare-0012: prepared again:\n%s", out)
	t.Logf("timeline:\n%s", tl)
}

// TestBenchSpareActivate measures spare_activate_s: from running
// `shisactl spare activate PACK` on a spare to its exit with the
// acceptance check passed (pack verified and decrypted with the
// passphrase, installed, the site started, the tunnel up to both
// datacenters, the check run and printed). Between trials `spare
// prepare` turns the unit back into a spare.
func TestBenchSpareActivate(t *testing.T) {
	requireBench(t)
	const trials = 5
	r := newSpareRig(t)
	pack := filepath.Join(r.dir, "itest-1.shisapack")
	r.ctlOK("site", "pack", "--dir", r.dcSite, "--signer", r.dcKey, "--serial", "1", "--passphrase-file", r.pass, "--out", pack)
	u := r.startSpare(r.unit, "bench-0001")
	var samples []float64
	for i := range trials {
		start := time.Now()
		out, code := r.ctl("--socket", u.socket, "spare", "activate", pack, "--passphrase-file", r.pass, "--format", "json")
		d := time.Since(start).Seconds()
		if code != 0 {
			t.Fatalf("trial %d: exit %d\n%s\n%s", i+1, code, out, u.p.Output())
		}
		samples = append(samples, d)
		t.Logf("trial %d: activated, acceptance passed, %.3fs", i+1, d)
		r.ctlOK("--socket", u.socket, "spare", "prepare", "--site", "itest")
		r.waitUnit(u, 10*time.Second, "a spare again", func(st *api.Status) bool { return st.Spare != nil })
	}
	f := benchfig.FromSamples("spare_activate_s", "s", samples, 10)
	f.Note = "namespaces, shisad tun backend, pack sealed to a passphrase (scrypt 2^15): `shisactl spare activate` start → exit with the acceptance check passed"
	writeFigure(t, f)
}

// TestSpareReplacesAPairUnit: unit a of a hot-standby pair dies; b takes
// over; a spare put in a's place is activated with a's pack (from the
// datacenter: a's address and priority, the pair secret) and joins the
// pair as the standby, its acceptance check passing with "the active peer
// b holds the virtual IP"; a handover then makes it the active unit with
// the tunnel up, and the office's gateway answers through it.
func TestSpareReplacesAPairUnit(t *testing.T) {
	ps := newPairSite(t)
	ps.startPair()
	a, b := ps.units[0], ps.units[1]
	ctl := netnstest.BuildBinary(t, "github.com/shisa-gw/shisa/firmware/cmd/shisactl")
	mustRun := func(args ...string) string { t.Helper(); return ctlOK(t, ctl, args...) }

	// The datacenter's copy of unit a's site directory, in the pack layout.
	dc := filepath.Join(ps.dir, "datacenter")
	cfg, err := os.ReadFile(a.config)
	if err != nil {
		t.Fatal(err)
	}
	site := packLayout(t, filepath.Join(dc, "site-a"), string(cfg),
		map[string]string{"site.key": filepath.Join(ps.dir, "site.key"), "pair.secret": filepath.Join(ps.dir, "pair.secret")})
	key, trusted, pass := datacenterKeys(t, ctl, dc)
	pack := filepath.Join(dc, "itest-a.shisapack")
	mustRun("site", "pack", "--dir", site, "--signer", key, "--serial", "1", "--passphrase-file", pass, "--out", pack)

	// Unit a dies; b takes over.
	if err := a.proc.Kill(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.proc.Done()
	ps.wait(b, "b active with the tunnel up", 20*time.Second, activeWithTunnel)

	// The spare, cabled in a's place (a's namespace: its ports and
	// addresses), with nothing of a's on its file system.
	sdir := filepath.Join(ps.dir, "spare-0031")
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		t.Fatal(err)
	}
	sp := &pairUnit{name: "spare-0031 (a)", addr: a.addr, ns: a.ns, sock: filepath.Join(sdir, "shisad.sock")}
	sp.api = api.NewClient(sp.sock)
	sp.proc = a.ns.Start(ps.bin, "-config", filepath.Join(sdir, "site", "site.yaml"), "-state", filepath.Join(sdir, "state"),
		"-trusted", trusted, "-socket", sp.sock, "-box", "spare-0031")
	ps.mu.Lock()
	ps.pids = append(ps.pids, sp.proc.Pid)
	ps.mu.Unlock()
	ps.wait(sp, "running as a spare", 10*time.Second, func(st *api.Status) bool { return st.Spare != nil })

	out := mustRun("--socket", sp.sock, "spare", "activate", pack, "--passphrase-file", pass, "--lang", "en")
	t.Logf("spare-0031 activated as unit a:\n%s", out)
	for _, want := range []string{"acceptance check PASS", "OK  vip ", "standby; the active peer b holds the virtual IP " + pairVIP,
		"OK  addresses:lan                lan0 " + a.addr} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	st := ps.wait(sp, "spare-0031 standby hearing b", 10*time.Second, standbyWithPeer)
	if st.Box != "spare-0031" || st.Unit != "a" || st.Pair.Peer.UnitID != "b" {
		t.Errorf("spare-0031's status: box %q unit %q, peer %+v", st.Box, st.Unit, st.Pair.Peer)
	}
	ps.wait(b, "b active, hearing its new peer", 10*time.Second, func(st *api.Status) bool {
		return activeWithTunnel(st) && st.Pair.Peer != nil && st.Pair.Peer.Alive && st.Pair.Peer.Role == ha.Standby
	})

	// Hand the role over: the spare carries the office now.
	mustRun("--socket", b.sock, "ha", "handover")
	ps.wait(sp, "spare-0031 active with the tunnel up", 10*time.Second, activeWithTunnel)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := ps.office.DialTCP(ctx, echoAddr)
	if err != nil {
		t.Fatalf("office: no TCP connection to the cloud through spare-0031: %v", err)
	}
	conn.Close()
	t.Logf("office reaches %s through spare-0031, now active", echoAddr)
}
