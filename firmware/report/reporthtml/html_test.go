package reporthtml

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/report"
)

var update = flag.Bool("update", false, "rewrite the golden HTML files in ../testdata/")

// novemberReport is the report of the realistic November fixture, read
// back from its golden JSON (package report keeps it): this is exactly what
// shisactl does with the box's answer before rendering.
func novemberReport(t *testing.T) *report.Report {
	t.Helper()
	b, err := os.ReadFile("../testdata/november.json")
	require.NoError(t, err)
	var rep report.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	return &rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./firmware/report/reporthtml -update to create it")
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got); if the change is meant, run go test ./firmware/report/reporthtml -update:\n%s", path, d)
	}
}

func TestGoldenHTML(t *testing.T) {
	rep := novemberReport(t)
	var ja, en, def bytes.Buffer
	require.NoError(t, Write(&ja, rep, "ja"))
	require.NoError(t, Write(&en, rep, "en"))
	golden(t, "november.ja.html", ja.Bytes())
	golden(t, "november.en.html", en.Bytes())
	require.NoError(t, Write(&def, rep, ""))
	assert.Equal(t, ja.String(), def.String(), "Japanese is the default")
	assert.ErrorContains(t, Write(&def, rep, "fr"), `"fr"`)
}

func TestPctText(t *testing.T) {
	fp := func(f float64) *float64 { return &f }
	assert.Equal(t, "99.99%", pctText(fp(99.99)))
	assert.Equal(t, "99.99%", pctText(fp(99.9999)))
	assert.Equal(t, "100.00%", pctText(fp(100)))
	assert.Equal(t, "—", pctText(nil))
}

// TestHTMLStructure parses the page and checks what a reader relies on.
func TestHTMLStructure(t *testing.T) {
	rep := novemberReport(t)
	for _, lang := range []string{"ja", "en"} {
		t.Run(lang, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, Write(&b, rep, lang))
			doc, err := html.Parse(&b)
			require.NoError(t, err)
			root := find(doc, func(n *html.Node) bool { return n.Data == "html" })
			require.NotNil(t, root)
			assert.Equal(t, lang, attr(root, "lang"))
			title := find(doc, func(n *html.Node) bool { return n.Data == "title" && n.Parent.Data == "head" })
			require.NotNil(t, title)
			want := map[string]string{"ja": "稼働報告書", "en": "Operation report"}[lang]
			assert.Equal(t, want+" 浜松市 本庁舎 (hamamatsu-honcho) 2026-11", text(title))
			h1 := find(doc, func(n *html.Node) bool { return n.Data == "h1" })
			assert.Equal(t, want, text(h1))

			svgs := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" })
			require.Len(t, svgs, 1, "one timeline")
			rows := findAll(svgs[0], func(n *html.Node) bool { return n.Data == "g" && attr(n, "class") == "day" })
			require.Len(t, rows, 30, "a row per day of November")
			assert.Equal(t, "2026-11-01", attr(rows[0], "data-date"))
			assert.Equal(t, "2026-11-30", attr(rows[29], "data-date"))
			// 10 November: up, the power cut in red, up.
			var classes []string
			for _, r := range findAll(rows[9], func(n *html.Node) bool { return n.Data == "rect" }) {
				classes = append(classes, attr(r, "class"))
			}
			assert.Equal(t, []string{"bg", "up", "up", "down"}, classes)
			planned := findAll(rows[14], func(n *html.Node) bool { return n.Data == "rect" && attr(n, "class") == "planned" })
			assert.Len(t, planned, 1, "15 November starts in the planned outage")
			ticks := findAll(svgs[0], func(n *html.Node) bool { return n.Data == "line" && strings.HasPrefix(attr(n, "class"), "tick") })
			assert.Len(t, ticks, 25, "hour ticks 0…24")

			// Self-contained and printable.
			for _, n := range findAll(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
				for _, a := range []string{"src", "href"} {
					assert.Empty(t, attr(n, a), "no external asset: <%s %s>", n.Data, a)
				}
				assert.NotEqual(t, "script", n.Data)
			}
			style := text(find(doc, func(n *html.Node) bool { return n.Data == "style" }))
			assert.Contains(t, style, "@page { size: A4; margin: 15mm; }")
			assert.Contains(t, style, "thead { display: table-header-group; }")
			assert.NotContains(t, style, "url(http")
			days := findAll(doc, func(n *html.Node) bool { return n.Data == "table" && attr(n, "class") == "days" })
			require.Len(t, days, 1)
			assert.Len(t, findAll(days[0], func(n *html.Node) bool { return n.Data == "tr" && n.Parent.Data == "tbody" }), 30)
		})
	}
}

func TestHTMLEscapesTheJournal(t *testing.T) {
	evil := `<script>alert("x")</script>&<b>`
	jst := report.JST
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, jst)
		require.NoError(t, err)
		return tm
	}
	recs := []journal.Record{
		{Seq: 1, Time: at("2026-10-01 00:00:00"), Kind: report.KindTunnelUp},
		{Seq: 2, Time: at("2026-11-03 10:00:00"), Kind: report.KindTunnelDown, Fields: map[string]any{"reason": evil}},
		{Seq: 3, Time: at("2026-11-03 10:05:00"), Kind: report.KindFailover, Fields: map[string]any{"from": evil, "to": "dc2", "reason": evil}},
		{Seq: 4, Time: at("2026-11-03 10:06:00"), Kind: report.KindTunnelUp},
		{Seq: 5, Time: at("2026-11-04 04:00:00"), Kind: report.KindSelfCheckResult, Fields: map[string]any{"ok": false, "failed": []any{evil}}},
		{Seq: 6, Time: at("2026-11-05 04:00:00"), Kind: report.KindOutagePlanned, Fields: map[string]any{"id": evil}},
	}
	src := func(from, to time.Time, fn func(journal.Record) error) error {
		for _, r := range recs {
			if !r.Time.Before(from) && r.Time.Before(to) {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	rep, err := report.Build("2026-11", src, report.Options{Site: evil, Unit: evil, Now: at("2026-12-01 00:00:00")})
	require.NoError(t, err)
	for _, lang := range []string{"ja", "en"} {
		var b bytes.Buffer
		require.NoError(t, Write(&b, rep, lang))
		assert.NotContains(t, b.String(), "<script>")
		assert.NotContains(t, b.String(), "<b>")
		assert.Contains(t, b.String(), "&lt;script&gt;")
	}
}

func find(n *html.Node, ok func(*html.Node) bool) *html.Node {
	if all := findAll(n, ok); len(all) > 0 {
		return all[0]
	}
	return nil
}

func findAll(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && ok(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}
