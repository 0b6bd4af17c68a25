package acceptance_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/shisa-gw/shisa/firmware/acceptance"
	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
)

// htmlReport is a failed check with a passed, a failed, a skipped and a
// hostile item, in that order.
func htmlReport() api.Acceptance {
	return api.Acceptance{At: time.Date(2026, 4, 1, 9, 30, 0, 0, time.Local), OK: false, TookS: 2.25, Items: []api.CheckItem{
		{Name: "wan_link", OK: true, Detail: "eth0 up, 1000 Mb/s"},
		{Name: "handshake:dc2", Detail: "no handshake yet"},
		{Name: "ups", OK: true, Detail: selfcheck.SkippedPrefix + "no UPS configured"},
		{Name: "service:10.1.2.3:443", Detail: `<script>alert("x")</script> & more`},
	}}
}

func parse(t *testing.T, page []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	require.NoError(t, err)
	return doc
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if match(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, findAll(c, match)...)
	}
	return out
}

func element(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == tag }
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return strings.Contains(" "+v+" ", " "+class+" ")
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for _, t := range findAll(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}

// rows returns the item table's body rows as their cells' texts.
func rows(t *testing.T, doc *html.Node) [][]string {
	t.Helper()
	tables := findAll(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "items") })
	require.Len(t, tables, 1)
	bodies := findAll(tables[0], element("tbody"))
	require.Len(t, bodies, 1)
	var out [][]string
	for _, tr := range findAll(bodies[0], element("tr")) {
		var cells []string
		for _, td := range findAll(tr, element("td")) {
			cells = append(cells, textOf(td))
		}
		out = append(out, cells)
	}
	return out
}

func TestHTMLPage(t *testing.T) {
	for _, tc := range []struct {
		lang, wantLang, title, verdict, other string
		rows                                  [][]string
		sign                                  []string
	}{
		{"ja", "ja", "動作確認報告書", "不合格", "合格", [][]string{
			{"NG", "ハンドシェイク dc2", "no handshake yet"},
			{"NG", "クラウドサービス 10.1.2.3:443", `<script>alert("x")</script> & more`},
			{"OK", "WANポート", "eth0 up, 1000 Mb/s"},
			{"--", "UPS", selfcheck.SkippedPrefix + "no UPS configured"},
		}, []string{"作業者", "確認者", "日付"}},
		{"", "ja", "動作確認報告書", "不合格", "合格", nil, nil},
		{"en", "en", "Acceptance check report", "FAIL", "PASS", [][]string{
			{"NG", "handshake:dc2", "no handshake yet"},
			{"NG", "service:10.1.2.3:443", `<script>alert("x")</script> & more`},
			{"OK", "wan_link", "eth0 up, 1000 Mb/s"},
			{"--", "ups", selfcheck.SkippedPrefix + "no UPS configured"},
		}, []string{"Technician", "Checked by", "Date"}},
	} {
		t.Run("lang="+tc.lang, func(t *testing.T) {
			page := acceptance.HTML(htmlReport(), `Iwata <"east">`, "b&c", tc.lang)
			doc := parse(t, page)

			root := findAll(doc, element("html"))
			require.Len(t, root, 1)
			lang, _ := attr(root[0], "lang")
			assert.Equal(t, tc.wantLang, lang)
			metas := findAll(doc, element("meta"))
			require.NotEmpty(t, metas)
			cs, _ := attr(metas[0], "charset")
			assert.Equal(t, "utf-8", cs, "the first meta is the charset")

			// Self-contained: no scripts, nothing fetched.
			assert.Empty(t, findAll(doc, element("script")), "a script element: the detail was not escaped")
			assert.Empty(t, findAll(doc, func(n *html.Node) bool {
				_, src := attr(n, "src")
				_, href := attr(n, "href")
				return n.Type == html.ElementNode && (src || href || n.Data == "link")
			}))
			assert.NotContains(t, string(page), "url(")
			assert.NotContains(t, string(page), "@import")
			assert.Contains(t, string(page), "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more")

			body := textOf(findAll(doc, element("body"))[0])
			titles := findAll(doc, element("h1"))
			require.Len(t, titles, 1)
			assert.Equal(t, tc.title, textOf(titles[0]))
			assert.Contains(t, textOf(findAll(doc, element("title"))[0]), tc.title)
			assert.Contains(t, body, `Iwata <"east">`)
			assert.Contains(t, body, "b&c")
			assert.Contains(t, body, time.Date(2026, 4, 1, 9, 30, 0, 0, time.Local).Format("2006-01-02 15:04:05"))
			assert.Contains(t, body, "2.2")

			verdicts := findAll(doc, func(n *html.Node) bool { return hasClass(n, "verdict") })
			require.Len(t, verdicts, 1)
			assert.Equal(t, tc.verdict, textOf(verdicts[0]))
			assert.True(t, hasClass(verdicts[0], "fail"))

			got := rows(t, doc)
			require.Len(t, got, len(htmlReport().Items), "one row per item")
			if tc.rows != nil {
				assert.Equal(t, tc.rows, got, "failed first, each group in order")
			}
			sign := findAll(doc, func(n *html.Node) bool { return hasClass(n, "sign") })
			require.Len(t, sign, 1)
			for _, w := range tc.sign {
				assert.Contains(t, textOf(sign[0]), w)
			}
			assert.True(t, strings.HasSuffix(strings.TrimSpace(body), strings.TrimSpace(textOf(sign[0]))), "the signatures are at the bottom")

			// The passing report says the other word.
			r := htmlReport()
			r.OK = true
			for i := range r.Items {
				r.Items[i].OK = true
			}
			pass := findAll(parse(t, acceptance.HTML(r, "s", "u", tc.lang)), func(n *html.Node) bool { return hasClass(n, "verdict") })
			require.Len(t, pass, 1)
			assert.Equal(t, tc.other, textOf(pass[0]))
			assert.True(t, hasClass(pass[0], "pass"))
		})
	}
}

func TestHTMLNoItems(t *testing.T) {
	doc := parse(t, acceptance.HTML(api.Acceptance{At: time.Now(), OK: true}, "s", "u", "en"))
	got := rows(t, doc)
	require.Len(t, got, 1)
	assert.Equal(t, []string{"No items were checked"}, got[0])
}
