package reporthtml

import (
	"github.com/shisa-gw/shisa/firmware/report"

	"fmt"
	"time"
)

// labels are the words of the HTML page in one language.
type labels struct {
	Title, Site, Unit, Month, Period, Generated, PartialNote               string
	Summary, Availability, AvailabilityNote, RawAvailability, RawNote      string
	Unplanned, Planned, NoData, Failovers, Failbacks, TimeSync, SelfCheck  string
	CountDur, Checks, Failures, WorstOffset                                string
	Timeline, LegendUp, LegendUnplanned, LegendPlanned, LegendNoData, Hour string
	Daily, Date, UnplannedMin, PlannedMin                                  string
	Outages, Start, End, Duration, InMonth, Kind, Cause, Detail, None      string
	Ongoing, Switches, Time, From, To, Reason, Offset, Server, Stratum     string
	SelfFailed, Items, Announced, AnnouncedAt, ID, Method                  string
	MethodItems                                                            []string
	Footer                                                                 string

	ja       bool
	weekdays [7]string
	months   [12]string
	causes   map[string]string
	kinds    map[string]string
	states   map[report.State]string
}

var labelSets = map[string]*labels{"ja": &ja, "en": &en}

var ja = labels{
	Title: "稼働報告書", Site: "拠点", Unit: "装置", Month: "対象月", Period: "集計期間", Generated: "作成日時",
	PartialNote: "月の途中で作成したため、作成日時までの集計です。",
	Summary:     "概要", Availability: "稼働率", AvailabilityNote: "計画停止を除く",
	RawAvailability: "稼働率", RawNote: "全時間",
	Unplanned: "計画外停止", Planned: "計画停止", NoData: "記録なし",
	Failovers: "フェイルオーバー", Failbacks: "フェイルバック", TimeSync: "時刻同期", SelfCheck: "自己診断",
	CountDur: "%d件 %s", Checks: "確認回数", Failures: "失敗", WorstOffset: "最大時刻ずれ",
	Timeline: "日別稼働状況", LegendUp: "稼働", LegendUnplanned: "計画外停止", LegendPlanned: "計画停止",
	LegendNoData: "記録なし", Hour: "時",
	Daily: "日別集計", Date: "日付", UnplannedMin: "計画外停止（分）", PlannedMin: "計画停止（分）",
	Outages: "停止一覧", Start: "開始", End: "終了", Duration: "時間", InMonth: "当月分", Kind: "区分",
	Cause: "原因", Detail: "詳細", None: "なし",
	Ongoing: "継続中", Switches: "フェイルオーバー・フェイルバック一覧", Time: "日時", From: "切替元", To: "切替先",
	Reason: "理由", Offset: "時刻ずれ", Server: "サーバ", Stratum: "階層",
	SelfFailed: "自己診断の異常", Items: "異常項目", Announced: "計画停止の予告", AnnouncedAt: "予告日時", ID: "ID",
	Method: "算出方法",
	MethodItems: []string{
		"日と月は拠点の時刻帯（日本標準時）の暦日・暦月です。作成日時より後の時間は集計に含みません。",
		"稼働率（計画停止を除く）＝ 稼働時間 ÷（経過時間 − 計画停止 − 記録なし）。稼働率（全時間）＝ 稼働時間 ÷（経過時間 − 記録なし）。小数点以下は切り捨てです。",
		"稼働はトンネル確立（tunnel.up）から切断・停止までです。計画停止は計画停止・計画再起動による電源断（power.shutdown）から次の起動（daemon.start）までです。",
		"停止の記録なしに起動した場合は、直前の記録から起動までを「装置停止または異常終了」として計画外停止に数えます。",
		"時間は 時:分:秒 です。",
	},
	Footer:   "shisa VPN ゲートウェイの運用記録（ジャーナル）から自動作成",
	ja:       true,
	weekdays: [7]string{"日", "月", "火", "水", "木", "金", "土"},
	causes: map[string]string{
		report.CauseCrash: "装置停止または異常終了（記録なし）", report.CauseStopped: "shisad 停止", report.CauseStarting: "起動中",
		report.CauseConnecting: "接続中", report.CauseTunnelDown: "トンネル断（データセンタ応答なし）", report.CauseTunnelStopped: "トンネル停止",
		report.CausePower: "電源断", report.ShutdownPlanned: "計画停止", report.ShutdownRestart: "計画再起動",
		report.ShutdownBattery: "停電（UPS バッテリー運転）", report.ShutdownLowBattery: "UPS バッテリー残量低下", report.ShutdownFSD: "UPS 強制停止",
	},
	kinds: map[string]string{
		"failover": "フェイルオーバー", "failback": "フェイルバック", "failback_trial": "フェイルバック試行",
		"failback_failed": "フェイルバック失敗",
	},
	states: map[report.State]string{report.StateUp: "稼働", report.StateUnplanned: "計画外停止", report.StatePlanned: "計画停止", report.StateNoData: "記録なし"},
}

var en = labels{
	Title: "Operation report", Site: "Site", Unit: "Unit", Month: "Month", Period: "Period", Generated: "Generated",
	PartialNote: "Made before the month ended: figures up to the time of generation.",
	Summary:     "Summary", Availability: "Availability", AvailabilityNote: "excluding planned outages",
	RawAvailability: "Availability", RawNote: "all time",
	Unplanned: "Unplanned outages", Planned: "Planned outages", NoData: "No data",
	Failovers: "Failovers", Failbacks: "Failbacks", TimeSync: "Time sync", SelfCheck: "Self-check",
	CountDur: "%d (%s)", Checks: "Checks", Failures: "Failures", WorstOffset: "Worst offset",
	Timeline: "Day by day", LegendUp: "Up", LegendUnplanned: "Unplanned outage", LegendPlanned: "Planned outage",
	LegendNoData: "No data", Hour: "h",
	Daily: "Daily figures", Date: "Date", UnplannedMin: "Unplanned (min)", PlannedMin: "Planned (min)",
	Outages: "Outages", Start: "Start", End: "End", Duration: "Duration", InMonth: "In month", Kind: "Type",
	Cause: "Cause", Detail: "Detail", None: "None",
	Ongoing: "ongoing", Switches: "Failovers and failbacks", Time: "Time", From: "From", To: "To",
	Reason: "Reason", Offset: "Offset", Server: "Server", Stratum: "Stratum",
	SelfFailed: "Failed self-checks", Items: "Failed items", Announced: "Announced planned outages", AnnouncedAt: "Announced", ID: "ID",
	Method: "How the figures are made",
	MethodItems: []string{
		"Days and the month are calendar periods in the site's time zone. Time after the report was generated is not counted.",
		"Availability excluding planned outages = up ÷ (elapsed − planned − no data). Availability, all time = up ÷ (elapsed − no data). Percentages are rounded down.",
		"Up is from tunnel.up to the tunnel's next loss or stop. A planned outage runs from a power.shutdown for a planned outage or a scheduled restart to the next daemon.start.",
		"A start with no stop before it counts the time since the last record as unplanned: box off or crashed.",
		"Durations are H:MM:SS.",
	},
	Footer:   "Made automatically from the journal of the shisa VPN gateway",
	weekdays: [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
	months:   [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	causes: map[string]string{
		report.CauseCrash: "box off or crashed (no record)", report.CauseStopped: "shisad stopped", report.CauseStarting: "starting",
		report.CauseConnecting: "connecting", report.CauseTunnelDown: "tunnel down (datacenter not answering)", report.CauseTunnelStopped: "tunnel stopped",
		report.CausePower: "power off", report.ShutdownPlanned: "planned outage", report.ShutdownRestart: "scheduled restart",
		report.ShutdownBattery: "power cut (on UPS battery)", report.ShutdownLowBattery: "UPS battery low", report.ShutdownFSD: "UPS forced shutdown",
	},
	kinds: map[string]string{
		"failover": "failover", "failback": "failback", "failback_trial": "failback trial", "failback_failed": "failback failed",
	},
	states: map[report.State]string{report.StateUp: "up", report.StateUnplanned: "unplanned outage", report.StatePlanned: "planned outage", report.StateNoData: "no data"},
}

// Paren puts s in the language's parentheses.
func (l *labels) Paren(s string) string {
	if l.ja {
		return "（" + s + "）"
	}
	return "(" + s + ")"
}

func (l *labels) monthLabel(t time.Time) string {
	if l.ja {
		return fmt.Sprintf("%d年%d月", t.Year(), int(t.Month()))
	}
	return fmt.Sprintf("%s %d", l.months[t.Month()-1], t.Year())
}

func (l *labels) dayLabel(t time.Time) string {
	return fmt.Sprintf("%02d/%02d %s", int(t.Month()), t.Day(), l.weekdays[t.Weekday()])
}

func (l *labels) cause(c string) string {
	if s, ok := l.causes[c]; ok {
		return s
	}
	return c
}

func (l *labels) switchKind(k string) string {
	if s, ok := l.kinds[k]; ok {
		return s
	}
	return k
}

func (l *labels) stateName(s report.State) string { return l.states[s] }
