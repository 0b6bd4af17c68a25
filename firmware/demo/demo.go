// Package demo runs one whole site on this machine without root: a simulated
// datacenter with two endpoints and a cloud service behind them (package
// sim), and a real shisad (package daemon) on wireguard-go's userspace
// netstack, through a scripted day: tunnel up, traffic through it, endpoint 1
// dies, failover, endpoint 1 returns, failback after the hold-down. It prints
// a timeline with the times it measured. `make demo` runs it.
package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/daemon"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/sim"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// Options tunes the scripted day.
type Options struct {
	// Dir holds the site's files (config, key, journal, socket); "" makes a
	// temporary one and removes it afterwards.
	Dir string
	// HoldDown before failback; the demo uses 10 s so the day is short.
	HoldDown time.Duration
	// TransferBytes sent through the tunnel while endpoint 1 dies.
	TransferBytes int64
	Out           io.Writer
	Logger        *slog.Logger
}

// Result holds the figures measured on the way.
type Result struct {
	StartToUp       time.Duration // shisad start to tunnel up
	FailoverGap     time.Duration // dc1 cut to the first echo answered through dc2
	FailbackAfter   time.Duration // dc1 back to failback
	SessionSurvived bool          // a TCP session opened before the cut works after it
	DatacenterView  bool          // the management API answered through the tunnel
	TransferOK      bool          // the transfer through the second endpoint arrived intact
	TransferSeconds float64
	Events          []string // journal kinds, in order
}

var (
	tunnelAddr  = netip.MustParsePrefix("10.99.1.2/32")
	serviceIP   = netip.MustParseAddr("10.20.0.10")
	echoAddr    = netip.AddrPortFrom(serviceIP, 7)
	sinkAddr    = netip.AddrPortFrom(serviceIP, 9000)
	tcpEchoAddr = netip.AddrPortFrom(serviceIP, 9001)
)

// Run plays the day and returns its figures.
func Run(ctx context.Context, opts Options) (res Result, err error) {
	if opts.HoldDown == 0 {
		opts.HoldDown = 10 * time.Second
	}
	if opts.TransferBytes == 0 {
		opts.TransferBytes = 8 << 20
	}
	st, err := newStage(opts.Out, opts.Logger, opts.Dir, "shisa-demo-")
	if err != nil {
		return res, err
	}
	defer st.close()
	out, log, dir, say := st.out, st.log, st.dir, st.say

	siteKey, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return res, err
	}
	dc, err := sim.New(sim.Options{
		Endpoints: []sim.EndpointSpec{
			{Name: "dc1", Probe: netip.MustParseAddr("10.99.0.1")},
			{Name: "dc2", Probe: netip.MustParseAddr("10.99.0.2")},
		},
		SitePublicKey: siteKey.PublicKey(),
		SiteAllowed:   []netip.Prefix{tunnelAddr},
		Services:      []netip.Addr{serviceIP},
		Logger:        log,
	})
	if err != nil {
		return res, err
	}
	defer dc.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := dc.ListenEcho(ctx, echoAddr); err != nil {
		return res, err
	}
	if err := dc.ListenSink(ctx, sinkAddr); err != nil {
		return res, err
	}
	if err := dc.ListenTCPEcho(ctx, tcpEchoAddr); err != nil {
		return res, err
	}
	eps := dc.Endpoints()
	say("datacenter up: dc1 at %s, dc2 at %s (each behind a relay that can cut it); cloud service %s", eps[0].Address(), eps[1].Address(), serviceIP)

	token := rand.Text() // 26 base32 characters
	token += rand.Text()
	cfgPath, err := writeSite(dir, siteKey, eps, opts.HoldDown, token)
	if err != nil {
		return res, err
	}
	site, err := config.Load(cfgPath)
	if err != nil {
		return res, fmt.Errorf("demo: the generated config is invalid: %w", err)
	}
	d, err := daemon.New(daemon.Options{Site: site, Version: "demo", Logger: log})
	if err != nil {
		return res, err
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if e := <-done; e != nil {
			err = errors.Join(err, e)
		}
	}()
	say("shisad started: site %s, unit %s, %s backend, probes every %s, dead after %d misses, hold-down %s",
		site.Site, site.Unit, site.Tunnel.Backend, site.Probe.Interval.D(), site.Probe.Misses, opts.HoldDown)

	if err := waitFor(ctx, 10*time.Second, func() bool { return d.Tunnel().State == tunnel.Up }); err != nil {
		return res, fmt.Errorf("demo: the tunnel did not come up: %w", err)
	}
	res.StartToUp = time.Since(start)
	say("tunnel UP via %s, %s after start", d.Tunnel().Active, res.StartToUp.Round(time.Millisecond))

	echo := newEchoer(d)
	if err := echo.start(ctx); err != nil {
		return res, err
	}
	defer echo.stop()
	if err := waitFor(ctx, 5*time.Second, func() bool { return echo.lastOK().After(start) }); err != nil {
		return res, fmt.Errorf("demo: no echo through the tunnel: %w", err)
	}
	say("office traffic flows: a UDP echo every 20 ms to %s through %s", echoAddr, dc.Carrier())

	// A long-lived TCP session (a terminal, a database connection) opened
	// before the cut: the cloud sits behind both endpoints, so it survives.
	sess, err := d.Net().DialContextTCPAddrPort(ctx, tcpEchoAddr)
	if err != nil {
		return res, fmt.Errorf("demo: opening a session to the cloud: %w", err)
	}
	defer sess.Close()
	sessR := bufio.NewReader(sess)
	if err := roundTrip(sess, sessR, "before the cut"); err != nil {
		return res, fmt.Errorf("demo: session: %w", err)
	}
	say("a TCP session to %s is open", tcpEchoAddr)

	cut := time.Now()
	eps[0].Relay.Cut(true)
	say("dc1 dies (its path drops every packet)")
	if err := waitFor(ctx, 10*time.Second, func() bool { return d.Tunnel().Active == "dc2" && !echo.firstOKAfter(cut).IsZero() }); err != nil {
		return res, fmt.Errorf("demo: no failover to dc2: %w", err)
	}
	res.FailoverGap = echo.firstOKAfter(cut).Sub(cut)
	say("FAILOVER to dc2: traffic answered again %s after the cut (detection = %s × %d misses)",
		res.FailoverGap.Round(time.Millisecond), site.Probe.Interval.D(), site.Probe.Misses)
	if err := roundTrip(sess, sessR, "after the failover"); err != nil {
		say("the TCP session did not survive: %v", err)
	} else {
		res.SessionSurvived = true
		say("the TCP session opened before the cut still works, %s after the cut (its own TCP retransmission timer sets the pace)", time.Since(cut).Round(time.Millisecond))
	}

	// The linkage files of seed row 17: a transfer through the new path.
	tr := transfer(ctx, d, opts.TransferBytes)
	res.TransferOK, res.TransferSeconds = tr.err == nil, tr.seconds
	if tr.err != nil {
		say("transfer FAILED: %v", tr.err)
	} else {
		say("a %d MiB transfer through dc2 arrived intact (sha256 %s…) in %.1fs", opts.TransferBytes>>20, tr.sum[:12], tr.seconds)
	}

	eps[0].Relay.Cut(false)
	say("dc1 returns; the site stays on dc2 until dc1 has been alive for the hold-down (%s)", opts.HoldDown)
	// A flap during the hold-down must not move the site.
	time.Sleep(opts.HoldDown / 3)
	eps[0].Relay.Cut(true)
	say("dc1 flaps (down again for 2 s) during the hold-down")
	time.Sleep(2 * time.Second)
	eps[0].Relay.Cut(false)
	if d.Tunnel().Active != "dc2" {
		return res, errors.New("demo: the site moved while dc1 flapped")
	}
	say("still on dc2; dc1 back for good")
	back := time.Now()
	if err := waitFor(ctx, opts.HoldDown+10*time.Second, func() bool { return d.Tunnel().Active == "dc1" }); err != nil {
		return res, fmt.Errorf("demo: no failback: %w", err)
	}
	res.FailbackAfter = time.Since(back)
	say("FAILBACK to dc1 %s after it came back for good", res.FailbackAfter.Round(100*time.Millisecond))
	if err := waitFor(ctx, 5*time.Second, func() bool { return echo.lastOK().After(time.Now().Add(-100 * time.Millisecond)) }); err != nil {
		return res, fmt.Errorf("demo: no traffic after failback: %w", err)
	}
	say("traffic flows through %s", dc.Carrier())

	// The datacenter's view: its collector polls the box's management API
	// through the tunnel, with the site's bearer token.
	view, err := datacenterView(ctx, dc, token)
	if err != nil {
		return res, fmt.Errorf("demo: the datacenter cannot read the box: %w", err)
	}
	res.DatacenterView = true
	say("the datacenter polls http://%s:8080 through the tunnel: %s", tunnelAddr.Addr(), view)

	recs, _, err := d.Journal().Since(0, 1000)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\nthe journal (what the datacenter would read with /v1/events):\n")
	for _, r := range recs {
		res.Events = append(res.Events, r.Kind)
		fmt.Fprintf(out, "  %3d  %s  %-22s %s\n", r.Seq, r.Time.Local().Format("15:04:05.000"), r.Kind, r.Msg)
	}
	fmt.Fprintf(out, "\nfigures:\n  start to tunnel up   %s\n  failover gap         %s\n  failback after       %s (hold-down %s)\n  session survived     %v\n  transfer intact      %v\n",
		res.StartToUp.Round(time.Millisecond), res.FailoverGap.Round(time.Millisecond), res.FailbackAfter.Round(100*time.Millisecond), opts.HoldDown, res.SessionSurvived, res.TransferOK)
	return res, nil
}

func writeSite(dir string, key wgtypes.Key, eps []*sim.Endpoint, hold time.Duration, token string) (string, error) {
	keyFile := filepath.Join(dir, "site.key")
	if err := os.WriteFile(keyFile, []byte(key.String()+"\n"), 0o600); err != nil {
		return "", err
	}
	tokenFile := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `site: demo-site
unit: a
wan: {interface: demo-wan}
lan: {interface: demo-lan}
tunnel:
  interface: wg-demo
  backend: netstack
  private_key_file: %s
  listen_port: 0
  address: %s
  routes: [10.20.0.0/16]
  endpoints:
`, keyFile, tunnelAddr)
	for _, e := range eps {
		fmt.Fprintf(&b, "    - {name: %s, endpoint: %q, public_key: %q, probe: %s}\n", e.Name, e.Address().String(), e.PublicKey().String(), e.Probe)
	}
	fmt.Fprintf(&b, `probe:
  hold_down: %s
api:
  socket: %s
journal:
  dir: %s
health:
  token_file: %s
`, hold, filepath.Join(dir, "shisad.sock"), filepath.Join(dir, "journal"), tokenFile)
	path := filepath.Join(dir, "site.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s", limit)
		case <-t.C:
		}
	}
	return nil
}

// echoer sends a UDP echo through the tunnel every 20 ms and remembers when
// answers came.
type echoer struct {
	d    *daemon.Daemon
	mu   sync.Mutex
	oks  []time.Time // when answered
	sent []time.Time // when the answered echo was sent
	stop func()
}

func newEchoer(d *daemon.Daemon) *echoer { return &echoer{d: d, stop: func() {}} }

func (e *echoer) start(ctx context.Context) error {
	uc, err := e.d.Net().DialUDPAddrPort(netip.AddrPortFrom(tunnelAddr.Addr(), 0), echoAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	e.stop = func() { cancel(); uc.Close(); wg.Wait() }
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for seq := uint64(1); ; seq++ {
			pctx, pcancel := context.WithTimeout(ctx, 15*time.Millisecond)
			sent := time.Now()
			if sim.EchoProbe(pctx, uc, seq) == nil {
				e.mu.Lock()
				e.oks = append(e.oks, time.Now())
				e.sent = append(e.sent, sent)
				e.mu.Unlock()
			}
			pcancel()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return nil
}

func (e *echoer) lastOK() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.oks) == 0 {
		return time.Time{}
	}
	return e.oks[len(e.oks)-1]
}

// firstOKAfter is when the first echo sent after t was answered (an echo in
// flight at t does not count: it says nothing about the path after t).
func (e *echoer) firstOKAfter(t time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, s := range e.sent {
		if s.After(t) {
			return e.oks[i]
		}
	}
	return time.Time{}
}

type transferResult struct {
	sum     string
	seconds float64
	err     error
}

// datacenterView asks the box's management API, from the simulated cloud
// and through the tunnel, for its status and this month's report, and sums
// them up in a line. A request without the token must be refused.
func datacenterView(ctx context.Context, dc *sim.Cloud, token string) (string, error) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, err
			}
			return dc.Net().DialContextTCPAddrPort(ctx, ap)
		},
	}}
	base := "http://" + net.JoinHostPort(tunnelAddr.Addr().String(), "8080")
	get := func(path, tok string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return hc.Do(req)
	}
	resp, err := get("/v1/status", "")
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("a request without the token got %s, want 401", resp.Status)
	}
	var st api.Status
	if err := getJSON(get, "/v1/status", token, &st); err != nil {
		return "", err
	}
	var rep report.Report
	month := time.Now().In(report.JST).Format("2006-01")
	if err := getJSON(get, "/v1/report?format=json&month="+month, token, &rep); err != nil {
		return "", err
	}
	avail := "n/a"
	if a := rep.Summary.AvailabilityPct; a != nil {
		avail = fmt.Sprintf("%.3f%%", *a)
	}
	return fmt.Sprintf("tunnel %s via %s, %d switches; report %s: availability %s, %d failover(s), %d failback(s); a request without the token: 401",
		st.Tunnel.State, st.Tunnel.Active, st.Tunnel.Failovers, month, avail, rep.Summary.Failovers, rep.Summary.Failbacks), nil
}

func getJSON(get func(path, tok string) (*http.Response, error), path, tok string, v any) error {
	resp, err := get(path, tok)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// roundTrip writes a line on a session and waits (up to 30 s) for its echo.
func roundTrip(c net.Conn, r *bufio.Reader, line string) error {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintln(c, line); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != line {
		return fmt.Errorf("echo %q, sent %q", got, line)
	}
	return nil
}

// transfer streams n random bytes to the cloud's sink and checks the sink's
// sha256.
func transfer(ctx context.Context, d *daemon.Daemon, n int64) (r transferResult) {
	start := time.Now()
	defer func() { r.seconds = time.Since(start).Seconds() }()
	c, err := d.Net().DialContextTCPAddrPort(ctx, sinkAddr)
	if err != nil {
		return transferResult{err: err}
	}
	defer c.Close()
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for sent := int64(0); sent < n; {
		chunk := min(int64(len(buf)), n-sent)
		_, _ = rand.Read(buf[:chunk])
		h.Write(buf[:chunk])
		if _, err := c.Write(buf[:chunk]); err != nil {
			return transferResult{err: fmt.Errorf("after %d bytes: %w", sent, err)}
		}
		sent += chunk
	}
	if err := c.CloseWrite(); err != nil {
		return transferResult{err: err}
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return transferResult{err: fmt.Errorf("reading the sink's answer: %w", err)}
	}
	want := fmt.Sprintf("%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
	if line != want {
		return transferResult{err: fmt.Errorf("sink got %q, sent %q", strings.TrimSpace(line), strings.TrimSpace(want))}
	}
	return transferResult{sum: hex.EncodeToString(h.Sum(nil))}
}

// stage is what a demo run needs around it: where it writes, its logger,
// its directory (a temporary one unless given, removed by close) and say,
// which prints a line stamped with the time since the run began.
type stage struct {
	out   io.Writer
	log   *slog.Logger
	dir   string
	say   func(format string, a ...any)
	close func()
}

func newStage(out io.Writer, log *slog.Logger, dir, tmpPrefix string) (*stage, error) {
	if out == nil {
		out = io.Discard
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := &stage{out: out, log: log, dir: dir, close: func() {}}
	if dir == "" {
		d, err := os.MkdirTemp("", tmpPrefix)
		if err != nil {
			return nil, err
		}
		st.dir, st.close = d, func() { os.RemoveAll(d) }
	}
	t0 := time.Now()
	st.say = func(format string, a ...any) {
		fmt.Fprintf(out, "[%7.3fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, a...))
	}
	return st, nil
}
