package api

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzQuery feeds the query parsers arbitrary values (and a raw query
// string): they never panic, every error names its parameter, and what
// they accept is in range.
func FuzzQuery(f *testing.F) {
	f.Add("2026-11", "0", "100", "json", "ja", "since=1&limit=2")
	f.Add("2026-13", "-1", "0", "pdf", "fr", "month=2026-11&month=2026-12")
	f.Add("1999-12", "18446744073709551616", "1001", "", "", "%zz")
	f.Add("２０２６-11", "1e3", " 1", "HTML", "EN", "lang=ja;format=csv")
	f.Fuzz(func(t *testing.T, month, since, limit, format, lang, raw string) {
		named := func(err error, params ...string) {
			t.Helper()
			for _, p := range params {
				if strings.HasPrefix(err.Error(), p+":") {
					return
				}
			}
			t.Fatalf("error does not name one of %v: %v", params, err)
		}
		s, l, err := parseEventsQuery(url.Values{"since": {since}, "limit": {limit}})
		if err != nil {
			named(err, "since", "limit")
		} else if l < 1 || l > MaxPage || since == "" || limit == "" {
			t.Fatalf("accepted since=%q limit=%q as %d, %d", since, limit, s, l)
		}

		r, err := parseReportQuery(url.Values{"month": {month}, "format": {format}, "lang": {lang}})
		if err != nil {
			named(err, "month", "format", "lang")
		} else {
			m, perr := time.Parse("2006-01", r.Month)
			if perr != nil || m.Format("2006-01") != month || m.Year() < 2000 {
				t.Fatalf("accepted month %q", month)
			}
			if reportTypes[r.Format] == "" || (r.Lang != LangJA && r.Lang != LangEN) {
				t.Fatalf("accepted format %q lang %q", format, lang)
			}
		}

		// A raw query: anything it holds either parses or is named.
		q, perr := parseQuery(raw)
		if perr != nil {
			return
		}
		keys := func() []string {
			var ks []string
			for k := range q {
				ks = append(ks, k)
			}
			return ks
		}()
		if _, _, err := parseEventsQuery(q); err != nil {
			named(err, keys...)
		}
		if _, err := parseReportQuery(q); err != nil {
			named(err, append(keys, "month")...)
		}
		if err := checkParams(q); err != nil {
			named(err, keys...)
		} else if len(q) != 0 {
			t.Fatalf("checkParams accepted %q with no parameters allowed", raw)
		}
	})
}

func TestParseQuery(t *testing.T) {
	for raw, want := range map[string]string{
		"since=%zz&limit=3": "since: bad %-escape in the value",
		"limit=3&since=%zz": "since: bad %-escape in the value",
		"%zz=1":             "%zz: not a parameter name (bad %-escape?)",
		"=1":                ": not a parameter name (bad %-escape?)",
		"since=1;limit=2":   "since: separate parameters with &, not ;",
		"l%C3%A9=1;":        `"lé": separate parameters with &, not ;`,
		"%0A=1;":            `"\n": separate parameters with &, not ;`,
	} {
		_, err := parseQuery(raw)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", raw, err, want)
		}
	}
	q, err := parseQuery("since=1&limit=2&limit=3&&x=&y&month=2026%2D11&a+b=c+d")
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"since": {"1"}, "limit": {"2", "3"}, "x": {""}, "y": {""}, "month": {"2026-11"}, "a b": {"c d"}}
	if q.Encode() != want.Encode() {
		t.Errorf("got %v, want %v", q, want)
	}
}

func TestMalformedQueryIs400(t *testing.T) {
	_, h := newMgmt(t)
	for url, param := range map[string]string{
		"/v1/events?since=%zz&limit=3": "since",
		"/v1/status?a=%zz":             "a",
		"/v1/report?month=2026-11;":    "month",
	} {
		rec := auth(h, url)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"error": "`+param+`:`) {
			t.Errorf("%s: got %d %s, want a 400 naming %s", url, rec.Code, rec.Body, param)
		}
	}
}
