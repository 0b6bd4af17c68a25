package acceptance

import (
	"fmt"
	"html"
	"strings"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
)

// The page is written by hand with html.EscapeString rather than with
// html/template: shisad links this package (for Run), and html/template
// would add megabytes to it (see the dependency guard in
// firmware/hygiene). Every value that is not a constant of this file goes
// through esc.

// htmlWords are the page's fixed words in one language.
type htmlWords struct {
	Lang, Title, Site, Unit, Date, Took, Verdict          string
	Pass, Fail, Result, Item, Detail, Summary, NoItems    string
	Technician, Checker, SignDate, Seconds, SummaryFormat string
}

var (
	wordsJA = htmlWords{
		Lang: "ja", Title: "動作確認報告書", Site: "拠点", Unit: "機器", Date: "実施日時",
		Took: "所要時間", Verdict: "判定", Pass: "合格", Fail: "不合格",
		Result: "結果", Item: "項目", Detail: "詳細", Summary: "集計", NoItems: "確認項目がありません",
		Technician: "作業者", Checker: "確認者", SignDate: "日付", Seconds: "%.1f 秒",
		SummaryFormat: "全 %d 項目、不合格 %d、未確認 %d",
	}
	wordsEN = htmlWords{
		Lang: "en", Title: "Acceptance check report", Site: "Site", Unit: "Unit", Date: "Date",
		Took: "Took", Verdict: "Verdict", Pass: "PASS", Fail: "FAIL",
		Result: "Result", Item: "Item", Detail: "Detail", Summary: "Summary", NoItems: "No items were checked",
		Technician: "Technician", Checker: "Checked by", SignDate: "Date", Seconds: "%.1f s",
		SummaryFormat: "%d items, %d failed, %d skipped",
	}
)

const htmlStyle = `@page { size: A4; margin: 15mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Kaku Gothic ProN", "Yu Gothic", Meiryo, sans-serif;
  font-size: 10pt; line-height: 1.45; color: #111; max-width: 180mm; margin: 0 auto; padding: 0; }
h1 { font-size: 18pt; margin: 0 0 3mm; letter-spacing: 0.05em; border-bottom: 3px double #333; padding-bottom: 2mm; }
.head { display: flex; justify-content: space-between; align-items: center; gap: 6mm; }
table { border-collapse: collapse; }
table.meta th, table.meta td { text-align: left; padding: 0.5mm 3mm 0.5mm 0; vertical-align: top; }
table.meta th { font-weight: normal; color: #555; white-space: nowrap; }
.verdict-box { text-align: center; }
.verdict-box .k { font-size: 9pt; color: #555; }
.verdict { font-size: 30pt; font-weight: 700; border: 3px solid; border-radius: 2mm; padding: 1mm 6mm; white-space: nowrap; }
.verdict.pass { color: #1b5e20; border-color: #2e7d32; }
.verdict.fail { color: #b71c1c; border-color: #c62828; }
.summary { margin: 3mm 0 2mm; }
table.items { width: 100%; }
table.items th, table.items td { border: 1px solid #999; padding: 0.8mm 1.5mm; text-align: left; vertical-align: top; }
table.items th { background: #eef0f3; font-weight: 600; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.mark { font-weight: 700; text-align: center; white-space: nowrap; font-family: monospace; }
td.item { white-space: nowrap; }
td.detail { overflow-wrap: anywhere; word-break: break-word; }
tr.ng td { color: #b71c1c; font-weight: 600; }
tr.skip td { color: #666; }
.sign { display: grid; grid-template-columns: 1fr 1fr; gap: 10mm; margin-top: 14mm; break-inside: avoid; page-break-inside: avoid; }
.sign div { border-bottom: 1px solid #333; padding-top: 10mm; display: flex; justify-content: space-between; }
.sign span { color: #555; }
.sign span.date { min-width: 35mm; }
`

// HTML renders r as one self-contained page that prints on A4: title, site,
// unit, date and time, the verdict in large letters, the time taken, a
// table of the items (failed ones first, marked as Text marks them), and
// blank lines for the technician's and the checker's signatures with the
// date. It is in Japanese unless lang is "en". site, unit and every item's
// name and detail are escaped.
func HTML(r api.Acceptance, site, unit, lang string) []byte {
	w := wordsJA
	if lang == "en" {
		w = wordsEN
	}
	ja := w.Lang == "ja"
	verdict, verdictClass := w.Pass, "pass"
	if !r.OK {
		verdict, verdictClass = w.Fail, "fail"
	}
	at := r.At.Local().Format("2006-01-02 15:04:05")

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n", w.Lang)
	p("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	p("<title>%s %s %s</title>\n", w.Title, esc(site), esc(unit))
	p("<style>\n%s</style>\n</head>\n<body>\n", htmlStyle)
	p("<h1>%s</h1>\n<div class=\"head\">\n<table class=\"meta\">\n", w.Title)
	p("<tr><th>%s</th><td>%s</td></tr>\n", w.Site, esc(site))
	p("<tr><th>%s</th><td>%s</td></tr>\n", w.Unit, esc(unit))
	p("<tr><th>%s</th><td>%s</td></tr>\n", w.Date, esc(at))
	p("<tr><th>%s</th><td>%s</td></tr>\n", w.Took, esc(fmt.Sprintf(w.Seconds, r.TookS)))
	p("</table>\n<div class=\"verdict-box\"><div class=\"k\">%s</div><div class=\"verdict %s\">%s</div></div>\n</div>\n", w.Verdict, verdictClass, verdict)

	var failed, skipped int
	for _, it := range r.Items {
		switch {
		case !it.OK:
			failed++
		case selfcheck.Skipped(it):
			skipped++
		}
	}
	p("<p class=\"summary\">%s: %s</p>\n", w.Summary, esc(fmt.Sprintf(w.SummaryFormat, len(r.Items), failed, skipped)))

	p("<table class=\"items\">\n<thead><tr><th>%s</th><th>%s</th><th>%s</th></tr></thead>\n<tbody>\n", w.Result, w.Item, w.Detail)
	if len(r.Items) == 0 {
		p("<tr><td colspan=\"3\">%s</td></tr>\n", w.NoItems)
	}
	for _, it := range failedFirst(r.Items) {
		m := mark(it)
		class := map[string]string{"NG": "ng", "--": "skip", "OK": "ok"}[m]
		p("<tr class=\"%s\"><td class=\"mark\">%s</td><td class=\"item\">%s</td><td class=\"detail\">%s</td></tr>\n",
			class, m, esc(label(it.Name, ja)), esc(it.Detail))
	}
	p("</tbody>\n</table>\n")

	p("<div class=\"sign\">\n")
	for _, who := range []string{w.Technician, w.Checker} {
		p("<div><span>%s</span><span class=\"date\">%s</span></div>\n", who, w.SignDate)
	}
	p("</div>\n</body>\n</html>\n")
	return []byte(b.String())
}

// esc escapes s for HTML text and attribute values.
func esc(s string) string { return html.EscapeString(s) }

// failedFirst returns items with the failed ones first, each group in its
// order, as Text lists them.
func failedFirst(items []api.CheckItem) []api.CheckItem {
	out := make([]api.CheckItem, 0, len(items))
	for _, ok := range []bool{false, true} {
		for _, it := range items {
			if it.OK == ok {
				out = append(out, it)
			}
		}
	}
	return out
}
