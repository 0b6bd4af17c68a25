// Package acceptance is the acceptance check (動作確認) of a unit put in
// service: the spare just activated at the office, or a new box. It looks
// at everything the office depends on and gives a short report, pass or
// fail per item with its figures, that the technician reads on the spot
// and the datacenter receives through the journal (so nobody has to phone
// it in).
//
// It is the daily self-check (package selfcheck: links, default route,
// every datacenter endpoint and its probes, the clock, free space,
// temperature, the UPS) made stricter for a unit that has just come up:
//
//   - handshake:NAME — every datacenter endpoint has completed a WireGuard
//     handshake recently (the site key and the datacenter's keys match);
//     in the shared-key layout only the front door in use can be seen;
//   - service:HOST:PORT — each of probe.targets accepts a TCP connection
//     through the tunnel, with the time it took;
//   - addresses:wan, addresses:lan, addresses:tunnel — the ports hold
//     their addresses (the tunnel's own and management address, the pair
//     unit's LAN address; some IPv4 address on the WAN and the LAN);
//   - firmware — the version and the image slot running;
//   - vip — in a hot-standby pair, the virtual IP is held by this unit when
//     it is active, or the active peer is heard when it is standby.
//
// The check reads and dials; it changes nothing.
package acceptance

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// Inputs is what the check reads.
type Inputs struct {
	// Self are the daily self-check's inputs (links, route, tunnel, clock,
	// free space, temperature, UPS).
	Self selfcheck.Inputs
	// Services are probe.targets (host:port), dialled over TCP through
	// the tunnel with Dial.
	Services []string
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	// Firmware is the running firmware (inventory).
	Firmware inventory.Firmware
	// Pair is the hot-standby election's status; nil for a box alone.
	Pair func() *ha.Status
	// VIP is the pair's virtual IP, for the messages.
	VIP string
	// VIPHeld reports whether the virtual IP is on this unit's LAN port;
	// asked only for an active pair unit.
	VIPHeld func() (bool, error)
	// Addresses are the ports whose addresses are checked, and AddrList
	// reads a port's addresses (netctl.Kernel.AddrList); nil AddrList
	// skips the items.
	Addresses []AddrCheck
	AddrList  func(link string) ([]netip.Prefix, error)
	// HandshakeMaxAge: an endpoint's last handshake must be younger than
	// this. Default 3 minutes (WireGuard rekeys every 2).
	HandshakeMaxAge time.Duration
	// Timeout bounds each service dial. Default 3 s.
	Timeout time.Duration
}

// AddrCheck is one port's addresses: the item addresses:ROLE passes when
// the port holds every address of Want, and at least one IPv4 address
// when Want is empty.
type AddrCheck struct {
	Role string // "wan", "lan", "tunnel"
	Link string
	Want []netip.Addr
}

// Run checks everything and returns the report. It takes about as long as
// the slowest service dial (in parallel, at most Timeout).
func Run(ctx context.Context, in Inputs) api.Acceptance {
	start := time.Now()
	if in.HandshakeMaxAge <= 0 {
		in.HandshakeMaxAge = 3 * time.Minute
	}
	if in.Timeout <= 0 {
		in.Timeout = 3 * time.Second
	}
	sc := selfcheck.Run(ctx, in.Self)
	items := sc.Items
	if in.AddrList != nil {
		for _, a := range in.Addresses {
			items = append(items, addrItem(a, in.AddrList))
		}
	}
	var st tunnel.Status
	if in.Self.Tunnel != nil {
		st = in.Self.Tunnel()
	}
	items = append(items, handshakeItems(st, start, in.HandshakeMaxAge)...)
	items = append(items, serviceItems(ctx, in, st)...)
	items = append(items, firmwareItem(in.Firmware))
	if in.Pair != nil {
		items = append(items, vipItem(in.Pair(), in.VIP, in.VIPHeld))
	}
	r := api.Acceptance{At: start, OK: true, Items: items}
	for _, it := range items {
		r.OK = r.OK && it.OK
	}
	r.TookS = time.Since(start).Seconds()
	return r
}

// Failed returns the names of r's failed items.
func Failed(r api.Acceptance) []string { return selfcheck.FailedNames(r.Items) }

func handshakeItems(st tunnel.Status, now time.Time, maxAge time.Duration) []api.CheckItem {
	if st.State == tunnel.Stopped {
		return nil // a standby: the self-check's tunnel item says so
	}
	var items []api.CheckItem
	for _, e := range st.Endpoints {
		name := "handshake:" + e.Name
		switch {
		case st.Layout == "shared" && !e.Active:
			items = append(items, api.CheckItem{Name: name, OK: true,
				Detail: selfcheck.SkippedPrefix + "shared key: only the front door in use (" + st.Active + ") can be seen"})
		case e.LastHandshake.IsZero():
			items = append(items, api.CheckItem{Name: name, Detail: "no handshake yet: the site key or the datacenter's key may not match, or " + e.Endpoint + " is not reached"})
		default:
			age := now.Sub(e.LastHandshake).Round(time.Second)
			items = append(items, api.CheckItem{Name: name, OK: age <= maxAge,
				Detail: fmt.Sprintf("last handshake %s ago (limit %s)", max(age, 0), maxAge)})
		}
	}
	return items
}

func serviceItems(ctx context.Context, in Inputs, st tunnel.Status) []api.CheckItem {
	if len(in.Services) == 0 {
		return []api.CheckItem{{Name: "services", OK: true, Detail: selfcheck.SkippedPrefix + "no probe.targets configured"}}
	}
	if st.State == tunnel.Stopped {
		return []api.CheckItem{{Name: "services", OK: true, Detail: selfcheck.SkippedPrefix + "the tunnel is stopped on this unit (standby)"}}
	}
	items := make([]api.CheckItem, len(in.Services))
	var wg sync.WaitGroup
	for i, target := range in.Services {
		wg.Go(func() { items[i] = serviceItem(ctx, in, target) })
	}
	wg.Wait()
	return items
}

func serviceItem(ctx context.Context, in Inputs, target string) api.CheckItem {
	it := api.CheckItem{Name: "service:" + target}
	if in.Dial == nil {
		it.Detail = "no way to dial through the tunnel"
		return it
	}
	ctx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	t0 := time.Now()
	c, err := in.Dial(ctx, "tcp", target)
	d := time.Since(t0)
	if err != nil {
		it.Detail = fmt.Sprintf("no TCP connection after %s: %v", d.Round(time.Millisecond), err)
		return it
	}
	c.Close()
	it.OK = true
	it.Detail = fmt.Sprintf("TCP connection in %.1f ms", float64(d.Microseconds())/1000)
	return it
}

func addrItem(a AddrCheck, list func(string) ([]netip.Prefix, error)) api.CheckItem {
	it := api.CheckItem{Name: "addresses:" + a.Role}
	have, err := list(a.Link)
	if err != nil {
		it.Detail = fmt.Sprintf("reading %s's addresses: %v", a.Link, err)
		return it
	}
	var shown []string
	v4 := false
	for _, p := range have {
		shown = append(shown, p.String())
		v4 = v4 || p.Addr().Is4()
	}
	list4 := strings.Join(shown, ", ")
	if list4 == "" {
		list4 = "none"
	}
	var missing []string
	for _, w := range a.Want {
		if !slices.ContainsFunc(have, func(p netip.Prefix) bool { return p.Addr() == w }) {
			missing = append(missing, w.String())
		}
	}
	switch {
	case len(missing) > 0:
		it.Detail = fmt.Sprintf("%s lacks %s (has %s)", a.Link, strings.Join(missing, ", "), list4)
	case len(a.Want) == 0 && !v4:
		it.Detail = fmt.Sprintf("%s has no IPv4 address (has %s)", a.Link, list4)
	default:
		it.OK = true
		it.Detail = a.Link + " " + list4
	}
	return it
}

func firmwareItem(f inventory.Firmware) api.CheckItem {
	it := api.CheckItem{Name: "firmware", OK: f.Version != ""}
	slot := f.Slot
	if slot == "" {
		slot = "unknown"
	}
	it.Detail = fmt.Sprintf("version %s, slot %s", f.Version, slot)
	if f.Version == "" {
		it.Detail = "the firmware version is not known"
	}
	return it
}

func vipItem(p *ha.Status, vip string, held func() (bool, error)) api.CheckItem {
	it := api.CheckItem{Name: "vip"}
	switch {
	case p == nil:
		it.Detail = "the hot-standby election is not running"
	case p.Role == ha.Active:
		if held == nil {
			it.Detail = "cannot read the LAN port's addresses"
			break
		}
		ok, err := held()
		switch {
		case err != nil:
			it.Detail = "reading the LAN port's addresses: " + err.Error()
		case !ok:
			it.Detail = "this unit is active but does not hold the virtual IP " + vip
		default:
			it.OK = true
			it.Detail = "active, holding the virtual IP " + vip
		}
	case p.Role == ha.Standby && p.Peer != nil && p.Peer.Alive && p.Peer.Role == ha.Active:
		it.OK = true
		it.Detail = fmt.Sprintf("standby; the active peer %s holds the virtual IP %s", p.Peer.UnitID, vip)
	default:
		it.Detail = fmt.Sprintf("%s, and no active peer is heard: nobody holds the virtual IP %s", p.Role, vip)
	}
	return it
}

// Text writes r for people: one line per item, failed ones first marked
// "NG", in Japanese (lang "ja") or English.
func Text(r api.Acceptance, site, unit, lang string) string {
	var b strings.Builder
	ja := lang != "en"
	verdict := map[bool]string{true: "PASS", false: "FAIL"}
	if ja {
		verdict = map[bool]string{true: "合格", false: "不合格"}
		fmt.Fprintf(&b, "動作確認 %s %s  拠点 %s 機器 %s  (%.1f 秒)\n", verdict[r.OK], r.At.Local().Format("2006-01-02 15:04:05"), site, unit, r.TookS)
	} else {
		fmt.Fprintf(&b, "acceptance check %s %s  site %s unit %s  (%.1f s)\n", verdict[r.OK], r.At.Local().Format("2006-01-02 15:04:05"), site, unit, r.TookS)
	}
	b.WriteString(ItemLines(r.Items, lang))
	return b.String()
}

// ItemLines writes items as Text does under its headline: one line each,
// failed ones first marked "NG", skipped ones "--". A spare's bench
// self-test prints this way too.
func ItemLines(items []api.CheckItem, lang string) string {
	var b strings.Builder
	ja := lang != "en"
	for _, failedFirst := range []bool{true, false} {
		for _, it := range items {
			if it.OK == failedFirst {
				continue
			}
			fmt.Fprintf(&b, "  %s  %s %s\n", mark(it), padWidth(label(it.Name, ja), 28), it.Detail)
		}
	}
	return b.String()
}

// mark is an item's result as Text and HTML show it: "NG" failed, "OK"
// passed, "--" skipped (not checked).
func mark(it api.CheckItem) string {
	switch {
	case selfcheck.Skipped(it):
		return "--"
	case it.OK:
		return "OK"
	}
	return "NG"
}

// label names an item for people ("endpoint:dc1" → "接続先 dc1").
func label(name string, ja bool) string {
	kind, arg, _ := strings.Cut(name, ":")
	if !ja {
		return name
	}
	l, ok := labelsJA[kind]
	if !ok {
		return name
	}
	if arg != "" {
		return l + " " + arg
	}
	return l
}

var labelsJA = map[string]string{
	"lan_link": "LANポート", "wan_link": "WANポート", "default_route": "既定経路",
	"tunnel": "トンネル", "endpoint": "接続先", "probe": "疎通確認", "handshake": "ハンドシェイク",
	"ntp": "時刻同期", "free_space": "空き容量", "temperature": "温度", "ups": "UPS",
	"service": "クラウドサービス", "services": "クラウドサービス", "addresses": "アドレス", "firmware": "ファームウェア", "vip": "仮想IP",
}

// padWidth pads s with spaces to width terminal columns, counting the
// East Asian wide characters of the Japanese labels as two columns, so
// the details line up on a terminal.
func padWidth(s string, width int) string {
	w := 0
	for _, r := range s {
		w++
		if wide(r) {
			w++
		}
	}
	if w >= width {
		return s
	}
	return s + strings.Repeat(" ", width-w)
}

// wide reports whether r takes two columns: CJK ideographs, kana, full-
// width forms and the CJK symbols (a coarse cut of Unicode's East Asian
// Width W and F, enough for the labels).
func wide(r rune) bool {
	return (r >= 0x1100 && r <= 0x115f) || (r >= 0x2e80 && r <= 0xa4cf) ||
		(r >= 0xac00 && r <= 0xd7a3) || (r >= 0xf900 && r <= 0xfaff) ||
		(r >= 0xfe30 && r <= 0xfe4f) || (r >= 0xff00 && r <= 0xff60) || (r >= 0xffe0 && r <= 0xffe6)
}
