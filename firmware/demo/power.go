package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/daemon"
	"github.com/shisa-gw/shisa/firmware/sim"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

// PowerOptions tunes the power part of the demo.
type PowerOptions struct {
	// Dir holds the site's files; "" makes a temporary one.
	Dir    string
	Out    io.Writer
	Logger *slog.Logger
}

// PowerResult holds what the power part measured.
type PowerResult struct {
	// PlannedLate is how long after its planned time (the window's start
	// less power.lead) the shutdown for the planned window was decided.
	PlannedLate time.Duration
	// PlannedBack and UnplannedBack are the power.back messages.
	PlannedBack, UnplannedBack string
	// WindowClosed: the planned window was closed after the return.
	WindowClosed bool
	// Planned and Unplanned are the two sequences as GET /v1/power
	// reported them.
	Planned, Unplanned api.ShutdownReport
	// PowerOffs are what the simulated controllers were asked, in order.
	PowerOffs []hal.Shutdown
	// Events are the journal's kinds, in order.
	Events []string
}

// The power part's short settings, so that it takes seconds.
const (
	demoGrace = time.Second
	demoLead  = 2 * time.Second
)

// RunPower plays a planned outage and an unplanned one on the simulated
// board: the datacenter plans a window through the management API; the box
// shuts down power.lead before it, arms its return for the window's end and
// powers off (the simulated controller records it); the "power comes back"
// at the end, a new shisad reports "back after …" and closes the window.
// Then mains fails (the simulated UPS goes on battery), the battery runs
// low before the grace ends, and the same sequence runs; the UPS brings the
// box back.
func RunPower(ctx context.Context, opts PowerOptions) (res PowerResult, err error) {
	stg, err := newStage(opts.Out, opts.Logger, opts.Dir, "shisa-demo-power-")
	if err != nil {
		return res, err
	}
	defer stg.close()
	out, log, dir, say := stg.out, stg.log, stg.dir, stg.say

	siteKey, dc, err := oneEndpointDC(log)
	if err != nil {
		return res, err
	}
	defer dc.Close()
	token := rand.Text() + rand.Text()
	cfgPath, err := writeSite(dir, siteKey, dc.Endpoints(), 10*time.Second, token)
	if err != nil {
		return res, err
	}
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return res, err
	}
	_, err = fmt.Fprintf(f, "power:\n  grace: %s\n  lead: %s\n  step_timeout: 1s\n  budget: 5s\n  reboot_after: 10s\n  wake_alarm: none\n",
		config.Duration(demoGrace), config.Duration(demoLead))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	site, err := config.Load(cfgPath)
	if err != nil {
		return res, fmt.Errorf("demo: the generated config is invalid: %w", err)
	}
	board := halsim.NewBoard()
	loc := site.Location()

	// boot starts a shisad on the simulated board ("power on") and waits
	// for its tunnel; stop ends it (the UPS cutting the load).
	boot := func(what string) (*box, error) {
		b := &box{ups: board.NewUPS(), pw: board.NewPower(), done: make(chan error, 1)}
		b.d, err = daemon.New(daemon.Options{Site: site, Version: "demo", Logger: log, UPS: b.ups, Power: b.pw, Inhibitor: b.pw})
		if err != nil {
			return nil, err
		}
		var bctx context.Context
		bctx, b.cancel = context.WithCancel(ctx)
		go func() { b.done <- b.d.Run(bctx) }()
		if err := waitFor(ctx, 10*time.Second, func() bool { return b.d.Tunnel().State == tunnel.Up }); err != nil {
			b.stop()
			return nil, fmt.Errorf("demo: the tunnel did not come up after %s: %w", what, err)
		}
		return b, nil
	}
	var cur *box
	defer func() {
		if cur != nil {
			err = errors.Join(err, cur.stop())
		}
	}()

	cur, err = boot("the first start")
	if err != nil {
		return res, err
	}
	say("shisad up on the simulated board (UPS online, 100%%), tunnel up via %s; power.grace %s, power.lead %s, budget 5s", cur.d.Tunnel().Active, demoGrace, demoLead)

	// 1. A planned outage, planned by the datacenter.
	start := time.Now().Add(demoLead + 1500*time.Millisecond).Truncate(time.Second)
	end := start.Add(3 * time.Second)
	req := api.OutageRequest{Start: start.In(loc).Format("2006-01-02 15:04:05"), End: end.In(loc).Format("2006-01-02 15:04:05"), Reason: "building electrical inspection (demo)"}
	var o api.Outage
	if err := mgmtCall(ctx, dc, token, http.MethodPost, "/v1/outages", req, &o); err != nil {
		return res, fmt.Errorf("demo: the datacenter could not plan the outage: %w", err)
	}
	say("the datacenter plans an outage through the management API: %s from %s to %s JST (id %s); the box will shut down at %s",
		req.Reason, start.In(loc).Format("15:04:05"), end.In(loc).Format("15:04:05"), o.ID, o.ShutdownAt.In(loc).Format("15:04:05"))
	var bad struct{ Error string }
	if err := mgmtCall(ctx, dc, token, http.MethodPost, "/v1/outages", api.OutageRequest{Start: req.Start, End: req.End}, &bad); err != nil {
		say("a second, overlapping window is refused: %v", err)
	}
	if err := waitFor(ctx, demoLead+10*time.Second, func() bool { return len(shutdowns(cur.pw)) > 0 }); err != nil {
		return res, fmt.Errorf("demo: no shutdown for the planned window: %w", err)
	}
	p := cur.d.Power()
	if p.Last == nil {
		return res, errors.New("demo: no shutdown report")
	}
	res.Planned = *p.Last
	at, _ := time.Parse(time.RFC3339Nano, p.Last.At)
	res.PlannedLate = at.Sub(o.ShutdownAt)
	sh := shutdowns(cur.pw)[0]
	say("SAFE SHUTDOWN (%s) decided %s after the planned time: state flushed and return armed after %.3fs (safe to cut), whole sequence %.3fs; power-off asked with an RTC wake at %s (the window's end)",
		p.Last.Reason, res.PlannedLate.Round(time.Millisecond), p.Last.SafeToCutS, p.Last.TotalS, sh.WakeAt.In(loc).Format("15:04:05"))
	res.PowerOffs = append(res.PowerOffs, shutdowns(cur.pw)...)
	err = cur.stop()
	cur = nil
	if err != nil {
		return res, err
	}
	say("the power is cut (shisad is gone); the box stays off until the window ends")
	time.Sleep(time.Until(end))

	cur, err = boot("the planned outage")
	if err != nil {
		return res, err
	}
	if err := waitFor(ctx, 5*time.Second, func() bool {
		return lastMsg(cur.d, "power.back") != "" && lastMsg(cur.d, "outage.closed") != ""
	}); err != nil {
		return res, fmt.Errorf("demo: no power.back and outage.closed after the planned outage: %w", err)
	}
	res.PlannedBack = lastMsg(cur.d, "power.back")
	res.WindowClosed = true
	say("the power returns at the window's end; shisad reports: %s; %s", res.PlannedBack, lastMsg(cur.d, "outage.closed"))

	// 2. An unplanned outage: mains fails, then the battery runs low.
	st := cur.ups.St
	st.Online, st.OnBattery, st.Discharging, st.Status, st.ChargePct = false, true, true, "OB DISCHRG", 62
	cur.ups.Set(st)
	if err := waitFor(ctx, 5*time.Second, func() bool { return cur.d.Power().State == api.PowerOnBattery }); err != nil {
		return res, fmt.Errorf("demo: the box did not see the UPS on battery: %w", err)
	}
	say("mains fails: the UPS runs on battery (62%%); the box waits out the grace (%s)", demoGrace)
	time.Sleep(demoGrace / 3)
	st.LowBattery, st.Status, st.ChargePct = true, "OB DISCHRG LB", 9
	cur.ups.Set(st)
	say("the battery is low (9%%) before the grace ends: shut down now")
	if err := waitFor(ctx, 10*time.Second, func() bool { return len(shutdowns(cur.pw)) > 0 }); err != nil {
		return res, fmt.Errorf("demo: no shutdown on low battery: %w", err)
	}
	p = cur.d.Power()
	res.Unplanned = *p.Last
	cur.ups.Lock()
	armed := cur.ups.Armed
	cur.ups.Unlock()
	say("SAFE SHUTDOWN (%s): safe to cut after %.3fs, whole sequence %.3fs; the UPS was armed to cut the load after %s and restore it %s later; return by %s",
		p.Last.Reason, p.Last.SafeToCutS, p.Last.TotalS, armed[len(armed)-1].Off, armed[len(armed)-1].On, p.Last.Return)
	res.PowerOffs = append(res.PowerOffs, shutdowns(cur.pw)...)
	err = cur.stop()
	cur = nil
	if err != nil {
		return res, err
	}
	say("the UPS cuts the load; mains comes back and the UPS powers the box on")
	time.Sleep(time.Second)
	cur, err = boot("the unplanned outage")
	if err != nil {
		return res, err
	}
	if err := waitFor(ctx, 5*time.Second, func() bool { return count(cur.d, "power.back") == 2 }); err != nil {
		return res, fmt.Errorf("demo: no power.back after the unplanned outage: %w", err)
	}
	res.UnplannedBack = lastMsg(cur.d, "power.back")
	say("shisad reports: %s", res.UnplannedBack)

	recs, _, err := cur.d.Journal().Since(0, 1000)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\nthe power events in the journal (what the datacenter reads with /v1/events):\n")
	for _, r := range recs {
		res.Events = append(res.Events, r.Kind)
		if strings.HasPrefix(r.Kind, "power.") || strings.HasPrefix(r.Kind, "outage.") {
			fmt.Fprintf(out, "  %3d  %s  %-20s %s\n", r.Seq, r.Time.In(loc).Format("15:04:05.000"), r.Kind, r.Msg)
		}
	}
	fmt.Fprintf(out, "\nthe simulated board's log:\n")
	for _, e := range board.Log() {
		if strings.HasPrefix(e.What, "power") || strings.HasPrefix(e.What, "ups arm") {
			fmt.Fprintf(out, "  %s\n", e.What)
		}
	}
	return res, nil
}

// box is one life of the simulated box: a shisad from power-on to the cut.
type box struct {
	d      *daemon.Daemon
	ups    *halsim.UPS
	pw     *halsim.Power
	cancel context.CancelFunc
	done   chan error
}

// stop ends shisad (the power is cut) and waits for it.
func (b *box) stop() error {
	b.cancel()
	return <-b.done
}

// shutdowns is what the simulated controller was asked.
func shutdowns(p *halsim.Power) []hal.Shutdown {
	p.Lock()
	defer p.Unlock()
	return append([]hal.Shutdown(nil), p.Shutdowns...)
}

// lastMsg is the message of the journal's last record of kind, "" when
// there is none.
func lastMsg(d *daemon.Daemon, kind string) string {
	recs, _, err := d.Journal().Since(0, 1000)
	if err != nil {
		return ""
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == kind {
			return recs[i].Msg
		}
	}
	return ""
}

// count is the number of the journal's records of kind.
func count(d *daemon.Daemon, kind string) int {
	recs, _, err := d.Journal().Since(0, 1000)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range recs {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// mgmtCall makes one call of the management API from the simulated cloud,
// through the tunnel, with the bearer token.
func mgmtCall(ctx context.Context, dc *sim.Cloud, token, method, path string, in, out any) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, err
			}
			return dc.Net().DialContextTCPAddrPort(ctx, ap)
		},
	}}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+net.JoinHostPort(tunnelAddr.Addr().String(), "8080")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return json.Unmarshal(data, out)
}

// oneEndpointDC makes a site key and a simulated datacenter with one
// endpoint (dc1) that knows it, and the cloud service behind it.
func oneEndpointDC(log *slog.Logger) (wgtypes.Key, *sim.Cloud, error) {
	siteKey, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return siteKey, nil, err
	}
	dc, err := sim.New(sim.Options{
		Endpoints:     []sim.EndpointSpec{{Name: "dc1", Probe: netip.MustParseAddr("10.99.0.1")}},
		SitePublicKey: siteKey.PublicKey(),
		SiteAllowed:   []netip.Prefix{tunnelAddr},
		Services:      []netip.Addr{serviceIP},
		Logger:        log,
	})
	return siteKey, dc, err
}
