package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/report/reporthtml"
)

// manualReport is this command's section of the manual (issue 5).
const manualReport = `  report [--month YYYY-MM] [--format html|csv|json] [--lang ja|en] [--out FILE]
      The monthly operation report (稼働報告書) of this box, made by shisad
      from its journal: tunnel availability (excluding planned outages, and
      over all time), planned and unplanned outages with their causes,
      failovers, time-sync and self-check results, day by day. The month is
      a calendar month in JST; the default is the previous month. html (the
      default) is one printable A4 page, in Japanese unless --lang en; csv
      is UTF-8 with a BOM for Excel; json is for programs. Written to FILE
      (atomically) or to standard output.

`

// getter is the one call the report needs from the local API: a GET that
// returns the body. The lead adds (*api.Client).Get with this signature.
type getter interface {
	Get(ctx context.Context, path string) ([]byte, error)
}

func cmdReport(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	g, ok := any(c).(getter)
	if !ok {
		return errors.New("report: this shisactl cannot fetch reports (its api.Client has no Get); build it from a newer tree")
	}
	return runReport(ctx, g, args, w, time.Now())
}

// runReport is cmdReport with the API and the clock passed in.
func runReport(ctx context.Context, g getter, args []string, w io.Writer, now time.Time) error {
	fs := flags("report")
	month := fs.String("month", "", "")
	format := fs.String("format", "html", "")
	lang := fs.String("lang", "ja", "")
	out := fs.String("out", "", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *month == "" {
		*month = report.PreviousMonth(now, report.JST)
	}
	if _, _, err := report.ParseMonth(*month); err != nil {
		return usageError{fmt.Sprintf("report: --month %q: want YYYY-MM, for example %s", *month, report.PreviousMonth(now, report.JST))}
	}
	switch *format {
	case "html", "csv", "json":
	default:
		return usageError{fmt.Sprintf("report: --format %q: want html, csv or json", *format)}
	}
	switch *lang {
	case "ja", "en":
	default:
		return usageError{fmt.Sprintf("report: --lang %q: want ja or en", *lang)}
	}
	// The box serves json and csv; the HTML page is rendered here from the
	// json (it keeps html/template, 4 MB, out of shisad).
	fetch := *format
	if fetch == "html" {
		fetch = "json"
	}
	q := url.Values{"month": {*month}, "format": {fetch}, "lang": {*lang}}
	body, err := g.Get(ctx, "/v1/report?"+q.Encode())
	if err != nil {
		return fmt.Errorf("report %s: %w", *month, err)
	}
	if *format == "html" {
		var rep report.Report
		if err := json.Unmarshal(body, &rep); err != nil {
			return fmt.Errorf("report %s: shisad's answer is not a report this shisactl understands (different versions?): %w", *month, err)
		}
		var b bytes.Buffer
		if err := reporthtml.Write(&b, &rep, *lang); err != nil {
			return fmt.Errorf("report %s: %w", *month, err)
		}
		body = b.Bytes()
	}
	if *out == "" {
		_, err := w.Write(body)
		return err
	}
	if err := atomicfile.WriteFile(*out, body, 0o644); err != nil {
		return fmt.Errorf("report %s: %w", *month, err)
	}
	fmt.Fprintf(w, "wrote the %s report of %s to %s (%d bytes)\n", *format, *month, *out, len(body))
	return nil
}
