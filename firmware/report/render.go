package report

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
)

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// utf8BOM lets Excel, which assumes Shift_JIS in a Japanese Windows, know
// that the file is UTF-8.
const utf8BOM = "\uFEFF"

// CSV writes the report for a spreadsheet: UTF-8 with a byte-order mark (so
// Excel in a Japanese office opens it as UTF-8, not Shift_JIS), CRLF line
// ends, RFC 4180 quoting. The header names each column in Japanese with a
// stable English key in parentheses. Then one row per day of the month
// (empty figures for future days), a total row (date 合計(total)), an empty
// row, and key/value rows for what does not fit the table (site, unit,
// period, counts of outages, time-sync and self-check results). Minutes
// have one decimal; percentages three, rounded down.
func (r *Report) CSV(w io.Writer) error {
	if _, err := io.WriteString(w, utf8BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	rows := [][]string{{
		"日付(date)", "稼働率%(availability_pct)", "稼働率%・全時間(raw_availability_pct)",
		"稼働(分)(up_min)", "計画外停止(分)(unplanned_min)", "計画停止(分)(planned_min)",
		"記録なし(分)(nodata_min)", "フェイルオーバー(failovers)", "フェイルバック(failbacks)",
	}}
	figs := func(date string, f Figures, failovers, failbacks int, future bool) []string {
		if future {
			return []string{date, "", "", "", "", "", "", "", ""}
		}
		return []string{date, pctCell(f.AvailabilityPct), pctCell(f.RawAvailabilityPct),
			minutes(f.UpS), minutes(f.UnplannedS), minutes(f.PlannedS), minutes(f.NoDataS),
			strconv.Itoa(failovers), strconv.Itoa(failbacks)}
	}
	for _, d := range r.Days {
		rows = append(rows, figs(d.Date, d.Figures, d.Failovers, d.Failbacks, d.Future))
	}
	s := r.Summary
	rows = append(rows, figs("合計(total)", s.Figures, s.Failovers, s.Failbacks, false), []string{})
	kv := func(k string, v string) { rows = append(rows, []string{k, v}) }
	kv("拠点(site)", cell(r.Site))
	kv("装置(unit)", cell(r.Unit))
	kv("対象月(month)", r.Month)
	kv("集計終了(until)", r.Until.Format("2006-01-02 15:04:05 MST"))
	kv("作成日時(generated)", r.Generated.Format("2006-01-02 15:04:05 MST"))
	kv("集計途中(partial)", strconv.FormatBool(r.Partial))
	kv("計画外停止件数(unplanned_outages)", strconv.Itoa(s.UnplannedOutages))
	kv("計画停止件数(planned_outages)", strconv.Itoa(s.PlannedOutages))
	kv("時刻同期確認(timesync_checks)", strconv.Itoa(r.TimeSync.Checks))
	kv("時刻同期失敗(timesync_failures)", strconv.Itoa(r.TimeSync.Failures))
	worst := ""
	if r.TimeSync.Worst != nil {
		worst = strconv.FormatFloat(r.TimeSync.Worst.OffsetMs, 'f', -1, 64)
	}
	kv("最大時刻ずれms(timesync_worst_offset_ms)", worst)
	kv("自己診断実施(selfcheck_runs)", strconv.Itoa(r.SelfChecks.Checks))
	kv("自己診断異常(selfcheck_failures)", strconv.Itoa(r.SelfChecks.Failures))
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

func pctCell(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', 3, 64)
}

func minutes(s float64) string { return strconv.FormatFloat(s/60, 'f', 1, 64) }

// cell keeps a spreadsheet from reading a string as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
