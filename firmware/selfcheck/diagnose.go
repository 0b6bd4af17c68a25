package selfcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/timesync"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
)

// Segment names a part of the path from the office to the datacenter.
type Segment string

// The segments, in the order Diagnose walks them.
const (
	SegmentNone       Segment = "none" // everything works
	SegmentLAN        Segment = "lan"
	SegmentWAN        Segment = "wan"
	SegmentRoute      Segment = "route"
	SegmentTunnel     Segment = "tunnel" // the tunnel job itself
	SegmentDatacenter Segment = "datacenter"
	SegmentKeys       Segment = "keys"
	SegmentClock      Segment = "clock"
)

// Diagnosis is the answer of `shisactl diagnose` (GET /v1/diagnose): the
// first broken segment in one sentence with what to check, in English
// and Japanese, and the evidence.
type Diagnosis struct {
	At time.Time `json:"at"`
	// OK: every segment works (Segment is SegmentNone).
	OK      bool    `json:"ok"`
	Segment Segment `json:"segment"`
	// Sentence is the finding and the advice in one sentence; Advice is
	// the advice alone ("" when OK). SentenceJA and AdviceJA in Japanese.
	Sentence   string          `json:"sentence"`
	Advice     string          `json:"advice,omitempty"`
	SentenceJA string          `json:"sentence_ja"`
	AdviceJA   string          `json:"advice_ja,omitempty"`
	Evidence   []api.CheckItem `json:"evidence"`
}

// WriteText writes the diagnosis for people: the sentence in lang ("ja"
// or "en"), then the evidence as a table, ✓ passed, ✗ failed, – skipped.
func (d *Diagnosis) WriteText(w io.Writer, lang string) error {
	s := d.SentenceJA
	if lang == "en" || s == "" {
		s = d.Sentence
	}
	var b strings.Builder
	b.WriteString(s + "\n")
	if len(d.Evidence) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		for _, it := range d.Evidence {
			mark := "✗"
			switch {
			case Skipped(it):
				mark = "–"
			case it.OK:
				mark = "✓"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark, it.Name, it.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Diagnose gathers the facts of the path and explains them.
func Diagnose(ctx context.Context, in Inputs) Diagnosis {
	return Explain(Gather(ctx, in))
}

// finding is a decision before it is written out.
type finding struct {
	seg          Segment
	en, adviceEN string
	ja, adviceJA string
}

// Explain decides which segment is broken, walking the path in order (see
// the package comment), and writes the diagnosis.
func Explain(f Facts) Diagnosis {
	fd := decide(f)
	d := Diagnosis{At: f.At, OK: fd.seg == SegmentNone, Segment: fd.seg, Evidence: PathItems(f)}
	if d.OK {
		d.Sentence, d.SentenceJA = fd.en+".", fd.ja+"。"
		return d
	}
	d.Advice, d.AdviceJA = fd.adviceEN, fd.adviceJA
	d.Sentence = fd.en + ": " + fd.adviceEN + "."
	d.SentenceJA = fd.ja + "：" + fd.adviceJA + "。"
	return d
}

func decide(f Facts) finding {
	if !f.LAN.Up() {
		return linkFinding(SegmentLAN, f.LAN)
	}
	if !f.WAN.Up() {
		return linkFinding(SegmentWAN, f.WAN)
	}
	var alive, dead, names []string
	ever, answered, tested := false, false, false
	for _, e := range f.Endpoints {
		names = append(names, e.Name)
		switch e.Health {
		case tunnel.Alive:
			alive = append(alive, e.Name)
		case tunnel.Dead:
			dead = append(dead, e.Name)
		}
		ever = ever || e.HandshakeAge >= 0
		answered = answered || e.Reach == ReachAnswered
		tested = tested || e.Reach != ReachUntested
	}
	// A live endpoint proves the route, whatever the table says.
	if len(alive) == 0 && routeBroken(f) != "" {
		return routeFinding(f)
	}
	if !f.TunnelKnown {
		return finding{SegmentTunnel,
			"shisad's tunnel job is not running", "check `systemctl status shisad` and `shisactl events`",
			"shisadのトンネル処理が動いていません", "`systemctl status shisad` と `shisactl events` を確認してください"}
	}
	if f.Tunnel.State == tunnel.Stopped {
		return finding{SegmentTunnel,
			"The tunnel is stopped on this unit (it is the standby, or shisad is stopping)", "run diagnose on the active unit",
			"この機器ではトンネルが止まっています（待機機か、shisadの停止中です）", "稼働中の機器で diagnose を実行してください"}
	}
	if len(f.Endpoints) == 0 {
		return finding{SegmentTunnel,
			"The tunnel job has not reported yet", "wait a few seconds and run diagnose again",
			"トンネル処理がまだ状態を報告していません", "数秒待ってからもう一度 diagnose を実行してください"}
	}
	list := strings.Join(names, ", ")
	listJA := strings.Join(names, "、")
	clockBad := f.Clock != nil && !f.Clock.OK
	if len(alive) == 0 {
		switch {
		case ever, tested && !answered:
			// Keys worked before (a handshake completed), or the
			// endpoints' addresses are silent too.
			return finding{SegmentDatacenter,
				"The datacenter endpoints do not answer although the WAN works",
				fmt.Sprintf("check the datacenter's VPN devices (%s) with the datacenter", list),
				"WANは正常ですがデータセンターの接続先が応答しません",
				fmt.Sprintf("データセンターのVPN装置（%s）の状態をデータセンターに確認してください", listJA)}
		case clockBad:
			return clockFinding(f.Clock)
		case answered:
			return finding{SegmentKeys,
				"WAN and datacenter are reachable but no handshake ever completed",
				"the site key or the datacenter's public keys do not match; compare them with the datacenter",
				"WANとデータセンターには到達できますがハンドシェイクが一度も成立していません",
				"拠点の鍵かデータセンターの公開鍵が一致していないので、データセンターと鍵を照合してください"}
		default:
			return finding{SegmentDatacenter,
				"No handshake with the datacenter has completed although the WAN works",
				fmt.Sprintf("ask the datacenter whether its VPN devices (%s) are up and hold this site's public key", list),
				"WANは正常ですがデータセンターとのハンドシェイクが一度も成立していません",
				fmt.Sprintf("VPN装置（%s）が動いているか、この拠点の公開鍵が登録されているかをデータセンターに確認してください", listJA)}
		}
	}
	if len(dead) > 0 {
		verb := "does"
		if len(dead) > 1 {
			verb = "do"
		}
		d := strings.Join(dead, ", ")
		return finding{SegmentDatacenter,
			fmt.Sprintf("The tunnel works via %s, but %s %s not answer", alive[0], d, verb),
			fmt.Sprintf("ask the datacenter to check its VPN device %s", d),
			fmt.Sprintf("トンネルは%s経由で動いていますが、%sが応答しません", alive[0], strings.Join(dead, "、")),
			fmt.Sprintf("データセンターにVPN装置%sの確認を依頼してください", strings.Join(dead, "、"))}
	}
	if clockBad {
		return clockFinding(f.Clock)
	}
	return allWell(f, alive)
}

func linkFinding(seg Segment, l LinkFact) finding {
	port, portJA, key := "LAN", "LAN", "lan"
	if seg == SegmentWAN {
		port, portJA, key = "WAN", "WAN", "wan"
	}
	switch {
	case errors.Is(l.Err, netctl.ErrNoLink):
		return finding{seg,
			fmt.Sprintf("The %s port (%s) does not exist on this box", port, l.Name),
			fmt.Sprintf("check %s.interface in site.yaml against `ip link`", key),
			fmt.Sprintf("%sポート（%s）が本機にありません", portJA, l.Name),
			fmt.Sprintf("site.yamlの%s.interfaceを`ip link`の表示と照合してください", key)}
	case l.Err != nil:
		return finding{seg,
			fmt.Sprintf("The %s port (%s) could not be read (%v)", port, l.Name, l.Err),
			fmt.Sprintf("check `ip link show %s` and shisad's log", l.Name),
			fmt.Sprintf("%sポート（%s）の状態を読めません（%v）", portJA, l.Name, l.Err),
			fmt.Sprintf("`ip link show %s` とshisadのログを確認してください", l.Name)}
	case !l.Info.AdminUp:
		return finding{seg,
			fmt.Sprintf("The %s port (%s) is set down on the box", port, l.Name),
			"restart shisad (systemctl restart shisad) and call for service if it stays down",
			fmt.Sprintf("本機の%sポート（%s）が無効になっています", portJA, l.Name),
			"shisadを再起動し（systemctl restart shisad）、直らなければ保守を依頼してください"}
	case seg == SegmentLAN:
		return finding{seg,
			"The LAN cable is unplugged or the office switch is off",
			fmt.Sprintf("check the cable on the LAN port (%s) and the office switch", l.Name),
			"LANケーブルが抜けているか事務所のスイッチが止まっています",
			fmt.Sprintf("LANポート（%s）のケーブルとスイッチを確認してください", l.Name)}
	}
	return finding{seg,
		"The WAN cable is unplugged or the line is down",
		fmt.Sprintf("check the cable on the WAN port (%s) and the line's modem", l.Name),
		"WANケーブルが抜けているか回線が止まっています",
		fmt.Sprintf("WANポート（%s）のケーブルと回線のモデム（ONU）を確認してください", l.Name)}
}

func routeFinding(f Facts) finding {
	r, wan := f.Route, f.WAN.Name
	switch {
	case r.Err != nil:
		return finding{SegmentRoute,
			fmt.Sprintf("The routing table could not be read (%v)", r.Err),
			"check `ip route` and shisad's log",
			fmt.Sprintf("経路表を読めません（%v）", r.Err),
			"`ip route` とshisadのログを確認してください"}
	case len(r.Routes) == 0:
		return finding{SegmentRoute,
			fmt.Sprintf("There is no default route, so nothing leaves by the WAN port (%s)", wan),
			"check the WAN address and gateway (DHCP or static) with the line provider",
			fmt.Sprintf("デフォルトルートがないため、WANポート（%s）から外へ出られません", wan),
			"WANのアドレスとゲートウェイ（DHCPまたは固定設定）を回線事業者と確認してください"}
	case r.ViaWAN == nil:
		return finding{SegmentRoute,
			fmt.Sprintf("The default route leaves by %s instead of the WAN port (%s)", r.Routes[0].Interface, wan),
			"check the box's network configuration (wan.interface and the addresses on each port)",
			fmt.Sprintf("デフォルトルートがWANポート（%s）ではなく%sを向いています", wan, r.Routes[0].Interface),
			"本機のネットワーク設定（wan.interfaceと各ポートのアドレス）を確認してください"}
	}
	return finding{SegmentRoute,
		fmt.Sprintf("The WAN gateway %s does not answer", r.ViaWAN.Gateway),
		"check the router or modem on the WAN line and ask the line provider whether the line is up",
		fmt.Sprintf("WANのゲートウェイ %s が応答しません", r.ViaWAN.Gateway),
		"WAN回線のルーター・モデムを確認し、回線の状態を回線事業者に問い合わせてください"}
}

func clockFinding(c *api.TimeSync) finding {
	off := time.Duration(c.Offset * float64(time.Second))
	switch {
	case c.Server != "" && off.Abs() > time.Duration(c.MaxOffset*float64(time.Second)):
		return finding{SegmentClock,
			fmt.Sprintf("The clock is off by %s", timesync.HumanOffset(off)),
			"WireGuard and the cloud reject stale time; check NTP",
			fmt.Sprintf("時計が%sずれています", durationJA(off)),
			"WireGuardやクラウドはずれた時刻を拒否するので、NTPを確認してください"}
	case c.Server != "":
		return finding{SegmentClock,
			"The clock is right now but nothing keeps it synchronised",
			"check that chronyd or systemd-timesyncd runs",
			"時計は今は正しいものの、同期が保たれていません",
			"chronydかsystemd-timesyncdが動いているか確認してください"}
	}
	return finding{SegmentClock,
		"The clock is not synchronised and no NTP server answers",
		"WireGuard and the cloud reject stale time; check NTP (chronyd and time_sync.servers)",
		"時計が同期しておらず、NTPサーバーも応答しません",
		"WireGuardやクラウドはずれた時刻を拒否するので、NTP（chronydとtime_sync.servers）を確認してください"}
}

func allWell(f Facts, alive []string) finding {
	n := len(f.Endpoints)
	eps, epsJA := fmt.Sprintf("all %d datacenter endpoints", n), fmt.Sprintf("データセンターの接続先%dか所すべて", n)
	switch n {
	case 1:
		eps, epsJA = "the datacenter endpoint", "データセンターの接続先"
	case 2:
		eps, epsJA = "both datacenter endpoints", "データセンターの接続先2か所とも"
	}
	active := f.Tunnel.Active
	if active == "" && len(alive) > 0 {
		active = alive[0]
	}
	tun := fmt.Sprintf("tunnel %s via %s", f.Tunnel.State, active)
	tunJA := fmt.Sprintf("%s経由のトンネル（%s）", active, f.Tunnel.State)
	clk, clkJA := "clock not checked yet", "時計は未確認"
	if c := f.Clock; c != nil {
		if c.Server != "" {
			off := time.Duration(c.Offset * float64(time.Second))
			clk = "clock within " + timesync.HumanOffset(off)
			clkJA = "時計のずれ" + durationJA(off)
		} else {
			clk, clkJA = "clock synchronised (system clock)", "時計は同期済み（システム時計）"
		}
	}
	return finding{seg: SegmentNone,
		en: fmt.Sprintf("Everything works: LAN, WAN, %s, %s, %s", eps, tun, clk),
		ja: fmt.Sprintf("すべて正常です：LAN、WAN、%s、%s、%s", epsJA, tunJA, clkJA)}
}

// durationJA prints an offset's size in Japanese: "12ミリ秒", "3.4秒",
// "3時間", "2時間5分".
func durationJA(d time.Duration) string {
	d = d.Abs()
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dミリ秒", d.Round(time.Millisecond).Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f秒", d.Seconds())
	}
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%d分", m)
	case m == 0:
		return fmt.Sprintf("%d時間", h)
	}
	return fmt.Sprintf("%d時間%d分", h, m)
}
