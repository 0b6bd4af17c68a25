package config

import (
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary describes s in a few lines for `shisactl config check`: who the
// site is, its ports and tunnel, the endpoints in order of preference with
// the first 8 characters of each public key, and the probe timings with the
// detection time they give. It shows no private key material.
func (s *Site) Summary() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	t, p := &s.Tunnel, &s.Probe
	line := func(k, format string, args ...any) { fmt.Fprintf(w, k+"\t"+format+"\n", args...) }

	line("config", "%s", s.Path)
	line("site", "%s, unit %s, time zone %s", s.Site, s.Unit, s.TimeZone)
	line("ports", "wan %s, lan %s", s.WAN.Interface, s.LAN.Interface)
	line("tunnel", "%s (backend %s), listen port %s, MTU %d", t.Interface, t.Backend, listenPort(t.ListenPort), t.MTU)
	line("address", "%s, management %s", t.Address, t.ManagementAddress)
	line("routes", "%s", joinPrefixes(t.Routes))
	layout := "distinct keys: each endpoint is its own peer"
	if s.SharedKey() {
		layout = "shared key: one peer, the endpoint moves"
	}
	line("endpoints", "%d, %s", len(t.Endpoints), layout)
	for i, e := range t.Endpoints {
		line("", "%d. %s  %s  key %s…  probe %s", i+1, e.Name, e.Endpoint, fingerprint(e.PublicKey), e.Probe)
	}
	fb := "off"
	if t.Failback == nil || *t.Failback {
		fb = fmt.Sprintf("to %s after %s of health (hold-down)", firstName(t.Endpoints), p.HoldDown)
	}
	line("failback", "%s", fb)
	line("keepalive", "%s", keepalive(t.PersistentKeepalive))
	line("probe", "every %s, timeout %s; dead after %d misses, alive again after %d answers", p.Interval, p.Timeout, p.Misses, p.Rise)
	line("detection", "%s (interval × misses); handshake older than %s also means dead", Duration(p.Interval.D()*time.Duration(p.Misses)), p.HandshakeTimeout)
	if len(p.Targets) > 0 {
		line("targets", "%s", strings.Join(p.Targets, ", "))
	}
	line("api", "%s", s.API.Socket)
	line("journal", "%s, at most %s", s.Journal.Dir, bytesText(s.Journal.MaxBytes))
	wd := &s.Watchdog
	dev := "systemd's (WatchdogSec)"
	if wd.Device != "" {
		dev = fmt.Sprintf("%s (timeout %s) when systemd does not supervise", wd.Device, wd.DeviceTimeout)
	}
	line("watchdog", "%s; safe mode after %d failed starts in %s; a start is good after %s", dev, wd.SafeModeAfter, wd.SafeModeWindow, wd.GoodAfter)
	if pr := &s.Pair; pr.Enabled() {
		pre := "off"
		if pr.Preempt != nil && *pr.Preempt {
			pre = "after " + pr.PreemptDelay.String()
		}
		line("pair", "this unit %s, peer %s, priority %d, virtual IP %s on %s", pr.Address, pr.Peer(), pr.Priority, pr.VirtualIP, s.LAN.Interface)
		line("", "heartbeat every %s on UDP %d, peer dead after %s; preemption %s", pr.Interval, pr.Port, Duration(pr.Interval.D()*time.Duration(pr.DeadMultiplier)), pre)
	} else {
		line("pair", "none: this box is alone and always active")
	}
	w.Flush()
	return b.String()
}

// fingerprint is the first 8 characters of a public key, enough to tell
// keys apart on a screen.
func fingerprint(pub string) string {
	if len(pub) < 8 {
		return "?"
	}
	return pub[:8]
}

func firstName(eps []Endpoint) string {
	if len(eps) == 0 {
		return "the first endpoint"
	}
	return eps[0].Name
}

func listenPort(p int) string {
	if p == 0 {
		return "any"
	}
	return fmt.Sprint(p)
}

func keepalive(d Duration) string {
	if d == 0 {
		return "off"
	}
	return "every " + d.String()
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func bytesText(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
