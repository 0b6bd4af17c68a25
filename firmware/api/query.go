package api

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report formats (format=) and languages (lang=) of GET /v1/report.
const (
	ReportJSON = "json"
	ReportCSV  = "csv"
	// ReportHTML is not served by the box: html/template would grow shisad
	// by 4 MB (its reflection keeps every method alive), so shisactl and
	// the datacenter render the page from the JSON (package reporthtml).
	ReportHTML = "html"

	LangJA = "ja"
	LangEN = "en"
)

// reportTypes is the Content-Type of each format, used when the backend
// does not say.
var reportTypes = map[string]string{
	ReportJSON: "application/json",
	ReportCSV:  "text/csv; charset=utf-8",
	ReportHTML: "text/html; charset=utf-8",
}

// ReportQuery is a validated GET /v1/report query.
type ReportQuery struct {
	Month  string // YYYY-MM
	Format string // ReportJSON (default) or ReportCSV
	Lang   string // LangJA (default) or LangEN
}

// Query parsing. Every error begins with the parameter's name and a colon
// ("limit: …"), so the caller sees which one to fix; an unknown parameter
// is an error (a typo must not silently mean the default), and so is one
// given twice or with an empty value.

// parseQuery decodes a raw query string like url.ParseQuery, but an
// undecodable pair is an error naming its parameter instead of being
// dropped (net/http's URL.Query drops it: "since=%zz" would mean "from the
// start").
func parseQuery(raw string) (url.Values, error) {
	q := url.Values{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rk, rv, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(rk)
		if err != nil || k == "" {
			return nil, fmt.Errorf("%s: not a parameter name (bad %%-escape?)", printable(rk))
		}
		if strings.Contains(pair, ";") {
			return nil, fmt.Errorf("%s: separate parameters with &, not ;", printable(k))
		}
		v, err := url.QueryUnescape(rv)
		if err != nil {
			return nil, fmt.Errorf("%s: bad %%-escape in the value", printable(k))
		}
		q[k] = append(q[k], v)
	}
	return q, nil
}

// printable quotes s when it holds anything but letters, digits, and
// ASCII punctuation, so that an error message shows it plainly.
func printable(s string) string {
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}

// checkParams checks that q holds only the allowed parameters, each once
// and with a value.
func checkParams(q url.Values, allowed ...string) error {
	// Sorted, so that the error names the same parameter every time.
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("%s: unknown parameter (this path takes none)", k)
			}
			return fmt.Errorf("%s: unknown parameter (want %s)", k, strings.Join(allowed, ", "))
		}
		if v := q[k]; len(v) != 1 || v[0] == "" {
			return fmt.Errorf("%s: give it once, with a value", k)
		}
	}
	return nil
}

// parseEventsQuery validates since= (a cursor, default 0) and limit=
// (1..MaxPage, default 100).
func parseEventsQuery(q url.Values) (uint64, int, error) {
	if err := checkParams(q, "since", "limit"); err != nil {
		return 0, 0, err
	}
	since, limit := q.Get("since"), q.Get("limit")
	var s uint64
	if since != "" {
		v, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("since: want a cursor (a whole number ≥ 0), got %q", since)
		}
		s = v
	}
	l := 100
	if limit != "" {
		v, err := strconv.Atoi(limit)
		if err != nil || v < 1 || v > MaxPage {
			return 0, 0, fmt.Errorf("limit: want a whole number from 1 to %d, got %q", MaxPage, limit)
		}
		l = v
	}
	return s, l, nil
}

// parseReportQuery validates month= (YYYY-MM, required, year 2000 or
// later), format= (json or csv; default json) and lang= (ja or en;
// default ja).
func parseReportQuery(q url.Values) (ReportQuery, error) {
	if err := checkParams(q, "month", "format", "lang"); err != nil {
		return ReportQuery{}, err
	}
	r := ReportQuery{Month: q.Get("month"), Format: q.Get("format"), Lang: q.Get("lang")}
	if r.Month == "" {
		return ReportQuery{}, fmt.Errorf("month: required (YYYY-MM, e.g. 2026-11)")
	}
	if t, err := time.Parse("2006-01", r.Month); err != nil || len(r.Month) != 7 || t.Year() < 2000 {
		return ReportQuery{}, fmt.Errorf("month: want YYYY-MM (e.g. 2026-11), got %q", r.Month)
	}
	switch r.Format {
	case "":
		r.Format = ReportJSON
	case ReportJSON, ReportCSV:
	case ReportHTML:
		return ReportQuery{}, fmt.Errorf("format: html is rendered from the json by `shisactl report --format html`; the box serves json and csv")
	default:
		return ReportQuery{}, fmt.Errorf("format: want json or csv, got %q", r.Format)
	}
	switch r.Lang {
	case "":
		r.Lang = LangJA
	case LangJA, LangEN:
	default:
		return ReportQuery{}, fmt.Errorf("lang: want ja or en, got %q", r.Lang)
	}
	return r, nil
}
