package selfcheck_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
)

var (
	now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	gw  = netip.MustParseAddr("192.0.2.1")
)

// good returns the facts of a box where everything works: two
// datacenter endpoints alive, the tunnel up via dc1, the clock 12 ms off.
func good() selfcheck.Facts {
	link := func(name string) selfcheck.LinkFact {
		return selfcheck.LinkFact{Name: name, Info: netctl.LinkInfo{Name: name, AdminUp: true, Carrier: true, OperState: "up", MTU: 1500}}
	}
	routes := []netctl.DefaultRoute{{Interface: "eth0", Gateway: gw}}
	ep := func(name string, active bool) selfcheck.EndpointFact {
		return selfcheck.EndpointFact{
			EndpointStatus: tunnel.EndpointStatus{Name: name, Endpoint: name + ".example:51820", Health: tunnel.Alive, Active: active,
				RTT: 4.2, LastHandshake: now.Add(-40 * time.Second), RxBytes: 1 << 20},
			HandshakeAge: 40 * time.Second,
		}
	}
	return selfcheck.Facts{
		At:  now,
		LAN: link("eth1"), WAN: link("eth0"),
		Route:       selfcheck.RouteFact{Routes: routes, ViaWAN: &routes[0], Neigh: netctl.NeighReachable},
		TunnelKnown: true,
		Tunnel:      tunnel.Status{State: tunnel.Up, Active: "dc1"},
		Endpoints:   []selfcheck.EndpointFact{ep("dc1", true), ep("dc2", false)},
		ProbeMisses: 3,
		Clock:       &api.TimeSync{At: now, OK: true, Offset: 0.012, MaxOffset: 0.5, Server: "ntp1", Stratum: 2, SystemSynced: true},
	}
}

// Breakers, each one segment's typical fault.
func unplug(l *selfcheck.LinkFact) { l.Info.Carrier, l.Info.OperState = false, "lowerlayerdown" }

func allDead(f *selfcheck.Facts, handshakeBefore bool, reach selfcheck.Reach) {
	f.Tunnel.State = tunnel.Down
	for i := range f.Endpoints {
		e := &f.Endpoints[i]
		e.Health, e.Misses, e.Reach = tunnel.Dead, 7, reach
		if handshakeBefore {
			e.HandshakeAge = 4 * time.Minute
		} else {
			e.HandshakeAge, e.LastHandshake, e.RxBytes = -1, time.Time{}, 0
		}
	}
}

func clockOff(f *selfcheck.Facts) {
	f.Clock.OK, f.Clock.Offset = false, -3*3600
}

// TestExplainSentences pins the sentence of each finding.
func TestExplainSentences(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(f *selfcheck.Facts)
		seg     selfcheck.Segment
		en      string
		ja      string
	}{
		{"everything works", func(f *selfcheck.Facts) {}, selfcheck.SegmentNone,
			"Everything works: LAN, WAN, both datacenter endpoints, tunnel up via dc1, clock within 12 ms.",
			"すべて正常です：LAN、WAN、データセンターの接続先2か所とも、dc1経由のトンネル（up）、時計のずれ12ミリ秒。"},
		{"one endpoint", func(f *selfcheck.Facts) { f.Endpoints = f.Endpoints[:1] }, selfcheck.SegmentNone,
			"Everything works: LAN, WAN, the datacenter endpoint, tunnel up via dc1, clock within 12 ms.", ""},
		{"three endpoints, clock by the system", func(f *selfcheck.Facts) {
			f.Endpoints = append(f.Endpoints, f.Endpoints[1])
			f.Clock.Server, f.Clock.Offset = "", 0
		}, selfcheck.SegmentNone,
			"Everything works: LAN, WAN, all 3 datacenter endpoints, tunnel up via dc1, clock synchronised (system clock).", ""},
		{"clock not checked yet", func(f *selfcheck.Facts) { f.Clock = nil }, selfcheck.SegmentNone,
			"Everything works: LAN, WAN, both datacenter endpoints, tunnel up via dc1, clock not checked yet.", ""},
		{"closed network without a default route", func(f *selfcheck.Facts) {
			f.Route = selfcheck.RouteFact{Neigh: netctl.NeighAbsent}
		}, selfcheck.SegmentNone, "", ""},

		{"LAN unplugged", func(f *selfcheck.Facts) { unplug(&f.LAN) }, selfcheck.SegmentLAN,
			"The LAN cable is unplugged or the office switch is off: check the cable on the LAN port (eth1) and the office switch.",
			"LANケーブルが抜けているか事務所のスイッチが止まっています：LANポート（eth1）のケーブルとスイッチを確認してください。"},
		{"LAN set down", func(f *selfcheck.Facts) { f.LAN.Info.AdminUp = false }, selfcheck.SegmentLAN,
			"The LAN port (eth1) is set down on the box: restart shisad (systemctl restart shisad) and call for service if it stays down.", ""},
		{"LAN missing", func(f *selfcheck.Facts) { f.LAN.Err = fmt.Errorf("x: %w", netctl.ErrNoLink) }, selfcheck.SegmentLAN,
			"The LAN port (eth1) does not exist on this box: check lan.interface in site.yaml against `ip link`.", ""},
		{"WAN unreadable", func(f *selfcheck.Facts) { f.WAN.Err = errors.New("netlink: permission denied") }, selfcheck.SegmentWAN,
			"The WAN port (eth0) could not be read (netlink: permission denied): check `ip link show eth0` and shisad's log.", ""},
		{"WAN unplugged", func(f *selfcheck.Facts) { unplug(&f.WAN); allDead(f, true, selfcheck.ReachSilent) }, selfcheck.SegmentWAN,
			"The WAN cable is unplugged or the line is down: check the cable on the WAN port (eth0) and the line's modem.",
			"WANケーブルが抜けているか回線が止まっています：WANポート（eth0）のケーブルと回線のモデム（ONU）を確認してください。"},
		{"no default route", func(f *selfcheck.Facts) { f.Route = selfcheck.RouteFact{}; allDead(f, true, 0) }, selfcheck.SegmentRoute,
			"There is no default route, so nothing leaves by the WAN port (eth0): check the WAN address and gateway (DHCP or static) with the line provider.", ""},
		{"default route via the LAN", func(f *selfcheck.Facts) {
			f.Route.Routes[0].Interface, f.Route.ViaWAN = "eth1", nil
			allDead(f, true, 0)
		}, selfcheck.SegmentRoute,
			"The default route leaves by eth1 instead of the WAN port (eth0): check the box's network configuration (wan.interface and the addresses on each port).", ""},
		{"gateway silent", func(f *selfcheck.Facts) { f.Route.Neigh = netctl.NeighFailed; allDead(f, true, 0) }, selfcheck.SegmentRoute,
			"The WAN gateway 192.0.2.1 does not answer: check the router or modem on the WAN line and ask the line provider whether the line is up.",
			"WANのゲートウェイ 192.0.2.1 が応答しません：WAN回線のルーター・モデムを確認し、回線の状態を回線事業者に問い合わせてください。"},
		{"gateway silent but the tunnel works", func(f *selfcheck.Facts) { f.Route.Neigh = netctl.NeighFailed }, selfcheck.SegmentNone, "", ""},
		{"tunnel job missing", func(f *selfcheck.Facts) { f.TunnelKnown, f.Endpoints, f.Tunnel = false, nil, tunnel.Status{} }, selfcheck.SegmentTunnel,
			"shisad's tunnel job is not running: check `systemctl status shisad` and `shisactl events`.", ""},
		{"tunnel job just started", func(f *selfcheck.Facts) { f.Endpoints, f.Tunnel = nil, tunnel.Status{} }, selfcheck.SegmentTunnel,
			"The tunnel job has not reported yet: wait a few seconds and run diagnose again.", ""},
		{"standby unit", func(f *selfcheck.Facts) { allDead(f, false, 0); f.Tunnel.State = tunnel.Stopped }, selfcheck.SegmentTunnel,
			"The tunnel is stopped on this unit (it is the standby, or shisad is stopping): run diagnose on the active unit.", ""},
		{"endpoints gone", func(f *selfcheck.Facts) { allDead(f, true, selfcheck.ReachUntested) }, selfcheck.SegmentDatacenter,
			"The datacenter endpoints do not answer although the WAN works: check the datacenter's VPN devices (dc1, dc2) with the datacenter.",
			"WANは正常ですがデータセンターの接続先が応答しません：データセンターのVPN装置（dc1、dc2）の状態をデータセンターに確認してください。"},
		{"endpoints silent, never a handshake", func(f *selfcheck.Facts) { allDead(f, false, selfcheck.ReachSilent) }, selfcheck.SegmentDatacenter,
			"The datacenter endpoints do not answer although the WAN works: check the datacenter's VPN devices (dc1, dc2) with the datacenter.", ""},
		{"never a handshake, reach untested", func(f *selfcheck.Facts) { allDead(f, false, selfcheck.ReachUntested) }, selfcheck.SegmentDatacenter,
			"No handshake with the datacenter has completed although the WAN works: ask the datacenter whether its VPN devices (dc1, dc2) are up and hold this site's public key.", ""},
		{"one endpoint dead", func(f *selfcheck.Facts) { f.Endpoints[1].Health, f.Endpoints[1].Misses = tunnel.Dead, 9 }, selfcheck.SegmentDatacenter,
			"The tunnel works via dc1, but dc2 does not answer: ask the datacenter to check its VPN device dc2.",
			"トンネルはdc1経由で動いていますが、dc2が応答しません：データセンターにVPN装置dc2の確認を依頼してください。"},
		{"standby endpoint not judged yet", func(f *selfcheck.Facts) { f.Endpoints[1].Health = tunnel.Unknown }, selfcheck.SegmentNone, "", ""},
		{"keys", func(f *selfcheck.Facts) { allDead(f, false, selfcheck.ReachAnswered) }, selfcheck.SegmentKeys,
			"WAN and datacenter are reachable but no handshake ever completed: the site key or the datacenter's public keys do not match; compare them with the datacenter.",
			"WANとデータセンターには到達できますがハンドシェイクが一度も成立していません：拠点の鍵かデータセンターの公開鍵が一致していないので、データセンターと鍵を照合してください。"},
		{"clock off", clockOff, selfcheck.SegmentClock,
			"The clock is off by 3h: WireGuard and the cloud reject stale time; check NTP.",
			"時計が3時間ずれています：WireGuardやクラウドはずれた時刻を拒否するので、NTPを確認してください。"},
		{"clock behind blocks the handshake", func(f *selfcheck.Facts) { allDead(f, false, selfcheck.ReachAnswered); clockOff(f) }, selfcheck.SegmentClock,
			"The clock is off by 3h: WireGuard and the cloud reject stale time; check NTP.", ""},
		{"clock unsynced, no server", func(f *selfcheck.Facts) {
			f.Clock.OK, f.Clock.Server, f.Clock.SystemSynced, f.Clock.Error = false, "", false, "ntp1: no valid reply"
		}, selfcheck.SegmentClock,
			"The clock is not synchronised and no NTP server answers: WireGuard and the cloud reject stale time; check NTP (chronyd and time_sync.servers).", ""},
		{"clock right, kernel unsynced", func(f *selfcheck.Facts) { f.Clock.OK, f.Clock.SystemSynced = false, false }, selfcheck.SegmentClock,
			"The clock is right now but nothing keeps it synchronised: check that chronyd or systemd-timesyncd runs.",
			"時計は今は正しいものの、同期が保たれていません：chronydかsystemd-timesyncdが動いているか確認してください。"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			tc.breakIt(&f)
			d := selfcheck.Explain(f)
			if d.Segment != tc.seg || d.OK != (tc.seg == selfcheck.SegmentNone) {
				t.Errorf("segment %s ok=%v, want %s\n%s", d.Segment, d.OK, tc.seg, d.Sentence)
			}
			if tc.en != "" && d.Sentence != tc.en {
				t.Errorf("sentence:\n got %s\nwant %s", d.Sentence, tc.en)
			}
			if tc.ja != "" && d.SentenceJA != tc.ja {
				t.Errorf("Japanese:\n got %s\nwant %s", d.SentenceJA, tc.ja)
			}
			if strings.Count(d.Sentence, ". ") > 0 || !strings.HasSuffix(d.Sentence, ".") || !strings.HasSuffix(d.SentenceJA, "。") {
				t.Errorf("not one sentence: %q / %q", d.Sentence, d.SentenceJA)
			}
			if !d.OK && (d.Advice == "" || !strings.Contains(d.Sentence, d.Advice) || !strings.Contains(d.SentenceJA, d.AdviceJA)) {
				t.Errorf("advice %q / %q not in the sentences", d.Advice, d.AdviceJA)
			}
			if len(d.Evidence) == 0 || d.Evidence[0].Name != "lan_link" {
				t.Errorf("evidence %+v", d.Evidence)
			}
		})
	}
}

// TestExplainFirstBroken breaks every combination of segments and checks
// that the first broken one along the path is named. The faults compose
// as they do on a box: a broken LAN, WAN or route leaves the endpoints
// dead too; "keys" is no handshake ever with the endpoints' addresses
// answering, which a datacenter fault (handshakes before) overrides.
func TestExplainFirstBroken(t *testing.T) {
	order := []string{"lan", "wan", "route", "tunnel", "datacenter", "partial", "keys", "clock"}
	segOf := map[string]selfcheck.Segment{
		"lan": selfcheck.SegmentLAN, "wan": selfcheck.SegmentWAN, "route": selfcheck.SegmentRoute,
		"tunnel": selfcheck.SegmentTunnel, "datacenter": selfcheck.SegmentDatacenter, "partial": selfcheck.SegmentDatacenter,
		"keys": selfcheck.SegmentKeys, "clock": selfcheck.SegmentClock,
	}
	n := 0
	for mask := range 1 << len(order) {
		on := map[string]bool{}
		var names []string
		for i, s := range order {
			if mask&(1<<i) != 0 {
				on[s] = true
				names = append(names, s)
			}
		}
		f := good()
		upstream := on["lan"] || on["wan"] || on["route"]
		if on["lan"] {
			unplug(&f.LAN)
		}
		if on["wan"] {
			unplug(&f.WAN)
		}
		if on["route"] {
			f.Route = selfcheck.RouteFact{}
		}
		dead := upstream || on["datacenter"] || on["keys"]
		switch {
		case on["datacenter"] || dead && !on["keys"]:
			allDead(&f, true, selfcheck.ReachSilent)
		case on["keys"]:
			allDead(&f, false, selfcheck.ReachAnswered)
		case on["partial"]:
			f.Endpoints[1].Health = tunnel.Dead
		}
		if on["tunnel"] {
			f.TunnelKnown, f.Endpoints, f.Tunnel = false, nil, tunnel.Status{}
		}
		if on["clock"] {
			clockOff(&f)
		}

		// The first broken segment, with partial meaningless once every
		// endpoint is dead and keys meaningless once the tunnel job is
		// gone.
		eff := slices.DeleteFunc(slices.Clone(names), func(s string) bool {
			return s == "partial" && dead || (s == "keys" || s == "datacenter" || s == "partial") && on["tunnel"]
		})
		want := selfcheck.SegmentNone
		if len(eff) > 0 {
			want = segOf[eff[0]]
		}
		// The documented exception: no handshake ever and a clock known
		// to be wrong is the clock's doing.
		if want == selfcheck.SegmentKeys && on["clock"] {
			want = selfcheck.SegmentClock
		}
		d := selfcheck.Explain(f)
		if d.Segment != want {
			t.Errorf("broken %v: named %s (%q), want %s", names, d.Segment, d.Sentence, want)
		}
		n++
	}
	t.Logf("%d combinations", n)
}

// TestExplainEvidence pins the evidence items of a working box.
func TestExplainEvidence(t *testing.T) {
	f := good()
	f.Endpoints[1].Health, f.Endpoints[1].Misses = tunnel.Dead, 4
	d := selfcheck.Explain(f)
	var got []string
	for _, it := range d.Evidence {
		got = append(got, fmt.Sprintf("%s %v %s", it.Name, it.OK, it.Detail))
	}
	want := []string{
		"lan_link true eth1 up with carrier, MTU 1500",
		"wan_link true eth0 up with carrier, MTU 1500",
		"default_route true default route via 192.0.2.1 on eth0, gateway ARP reachable",
		"endpoint:dc1 true alive, active, handshake 40s ago, received 1.0 MiB",
		"probe:dc1 true answered, round trip 4.2 ms",
		"endpoint:dc2 false dead, handshake 40s ago, received 1.0 MiB",
		"probe:dc2 false 4 probes in a row unanswered (limit 3)",
		"ntp true offset +12 ms from ntp1 (stratum 2, limit 500ms), system clock synchronised",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("evidence:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestWriteText pins what `shisactl diagnose` prints, after the
// diagnosis went through JSON as it does between shisad and shisactl.
func TestWriteText(t *testing.T) {
	f := good()
	unplug(&f.WAN)
	allDead(&f, true, selfcheck.ReachUntested)
	f.Endpoints = f.Endpoints[:1]
	f.Clock = nil
	b, err := json.Marshal(selfcheck.Explain(f))
	if err != nil {
		t.Fatal(err)
	}
	var d selfcheck.Diagnosis
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string]string{
		"en": `The WAN cable is unplugged or the line is down: check the cable on the WAN port (eth0) and the line's modem.

  ✓  lan_link       eth1 up with carrier, MTU 1500
  ✗  wan_link       eth0 has no carrier (cable unplugged or the other end off), state lowerlayerdown
  ✓  default_route  default route via 192.0.2.1 on eth0, gateway ARP reachable
  ✗  endpoint:dc1   dead, active, handshake 4m ago, received 1.0 MiB
  ✗  probe:dc1      7 probes in a row unanswered (limit 3)
  –  ntp            skipped: the time-sync check has not run yet
`,
		"ja": "WANケーブルが抜けているか回線が止まっています：WANポート（eth0）のケーブルと回線のモデム（ONU）を確認してください。\n",
	} {
		var out strings.Builder
		if err := d.WriteText(&out, lang); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if lang == "ja" {
			got, _, _ = strings.Cut(got, "\n")
			got += "\n"
		}
		if got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", lang, got, want)
		}
	}
}
