package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func novemberReport(t *testing.T) *Report {
	t.Helper()
	r, opts := novemberFixture(t)
	rep, err := Build("2026-11", r.source(), opts)
	require.NoError(t, err)
	return rep
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./firmware/report -update to create it")
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got); if the change is meant, run go test ./firmware/report -update:\n%s", path, d)
	}
}

func TestGolden(t *testing.T) {
	rep := novemberReport(t)
	var js, csv, ja, en bytes.Buffer
	require.NoError(t, rep.JSON(&js))
	require.NoError(t, rep.CSV(&csv))
	require.NoError(t, rep.HTML(&ja, "ja"))
	require.NoError(t, rep.HTML(&en, "en"))
	golden(t, "november.json", js.Bytes())
	golden(t, "november.csv", csv.Bytes())
	golden(t, "november.ja.html", ja.Bytes())
	golden(t, "november.en.html", en.Bytes())

	var back Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back), "the JSON reads back")
	assert.Equal(t, rep.Summary, back.Summary)

	var def bytes.Buffer
	require.NoError(t, rep.HTML(&def, ""))
	assert.Equal(t, ja.String(), def.String(), "Japanese is the default")
	assert.ErrorContains(t, rep.HTML(&def, "fr"), `"fr"`)
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, novemberReport(t).CSV(&b))
	s := b.String()
	require.True(t, strings.HasPrefix(s, "\uFEFF日付(date),"), "UTF-8 BOM, then the header")
	lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	assert.Equal(t, "2026-11-01,100.000,100.000,1440.0,0.0,0.0,0.0,0,0", lines[1])
	assert.True(t, strings.HasPrefix(lines[30], "2026-11-30,"))
	assert.True(t, strings.HasPrefix(lines[31], "合計(total),99.765,98.703,"), lines[31])
	assert.Equal(t, "", lines[32])
	assert.Contains(t, s, "\r\n拠点(site),浜松市 本庁舎 (hamamatsu-honcho)\r\n")
	assert.Equal(t, "'=cmd()", cell("=cmd()"), "no formulas from a site name")
}

// TestHTMLStructure parses the page and checks what a reader relies on.
func TestHTMLStructure(t *testing.T) {
	rep := novemberReport(t)
	for _, lang := range []string{"ja", "en"} {
		t.Run(lang, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, rep.HTML(&b, lang))
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
	r := &recorder{t: t}
	evil := `<script>alert("x")</script>&<b>`
	r.add("2026-10-01 00:00:00", "tunnel.up", nil)
	r.add("2026-11-03 10:00:00", "tunnel.down", map[string]any{"reason": evil})
	r.add("2026-11-03 10:05:00", KindFailover, map[string]any{"from": evil, "to": "dc2", "reason": evil})
	r.add("2026-11-03 10:06:00", "tunnel.up", nil)
	r.add("2026-11-04 04:00:00", KindSelfCheckResult, map[string]any{"ok": false, "failed": []any{evil}})
	r.add("2026-11-05 04:00:00", KindOutagePlanned, map[string]any{"id": evil})
	rep, err := Build("2026-11", r.source(), Options{Site: evil, Unit: evil, Now: at(t, "2026-12-01 00:00:00")})
	require.NoError(t, err)
	for _, lang := range []string{"ja", "en"} {
		var b bytes.Buffer
		require.NoError(t, rep.HTML(&b, lang))
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
