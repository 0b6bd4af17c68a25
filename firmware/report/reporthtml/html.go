package reporthtml

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/report"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTmpl = template.Must(template.New("report").Parse(htmlSource))

// Write writes the report as one self-contained page (inline CSS and SVG,
// no external assets) that prints on A4, in Japanese (lang "" or "ja") or
// English ("en"). Everything that comes from the journal is escaped.
func Write(w io.Writer, r *report.Report, lang string) error {
	l, ok := labelSets[lang]
	if lang == "" {
		l, ok, lang = labelSets["ja"], true, "ja"
	}
	if !ok {
		return fmt.Errorf("reporthtml: language %q: want ja or en", lang)
	}
	return htmlTmpl.Execute(w, newView(r, lang, l))
}

// The timeline's geometry, in SVG user units (about CSS px at 180 mm).
const (
	tlLabelW = 84 // day labels on the left
	tlHourW  = 22 // one hour
	tlPlotW  = 24 * tlHourW
	tlPctW   = 64 // availability on the right
	tlWidth  = tlLabelW + tlPlotW + tlPctW
	tlTop    = 18 // hour labels
	tlRowH   = 15
	tlBarH   = 11
	tlMinW   = 2.0 // shortest drawn outage, so a 30 s one still shows
)

type view struct {
	Lang string
	L    *labels
	R    *report.Report

	MonthLabel string
	Period     string
	Generated  string
	Avail      string
	RawAvail   string
	Unplanned  string
	Planned    string
	NoData     string
	WorstSync  string

	SVG      svgView
	Days     []dayView
	Outages  []outageView
	Switches []switchView
	SyncFail []syncView
	SelfFail []selfView
	Windows  []windowView
}

type svgView struct {
	Width, Height float64
	PlotX, PlotW  float64
	PctX          float64
	Ticks         []tick
	Rows          []svgRow
}

type tick struct {
	X     float64
	Major bool
	Label string
}

type svgRow struct {
	Date     string
	Label    string
	Y, TextY float64
	Weekend  bool
	Future   bool
	Pct      string
	Rects    []svgRect
}

type svgRect struct {
	X, Y, W float64
	Class   string
	Title   string
}

type dayView struct {
	Label, Avail, RawAvail, Unplanned, Planned string
	Failovers, Failbacks                       int
	Weekend, Future                            bool
}

type outageView struct{ Start, End, Duration, InMonth, Kind, Cause, Detail string }
type switchView struct{ Time, Kind, From, To, Reason string }
type syncView struct{ Time, Offset, Server, Stratum string }
type selfView struct{ Time, Failed string }
type windowView struct{ Announced, ID, Start, End string }

func newView(r *report.Report, lang string, l *labels) *view {
	v := &view{Lang: lang, L: l, R: r}
	v.MonthLabel = l.monthLabel(r.Start)
	v.Period = fmtTime(r.Start) + " – " + fmtTime(r.Until) + " (" + r.TimeZone + ")"
	v.Generated = fmtTime(r.Generated)
	s := r.Summary
	v.Avail, v.RawAvail = pctText(s.AvailabilityPct), pctText(s.RawAvailabilityPct)
	v.Unplanned = fmt.Sprintf(l.CountDur, s.UnplannedOutages, fmtDur(s.UnplannedS))
	v.Planned = fmt.Sprintf(l.CountDur, s.PlannedOutages, fmtDur(s.PlannedS))
	if s.NoDataS > 0 {
		v.NoData = fmtDur(s.NoDataS)
	}
	if w := r.TimeSync.Worst; w != nil {
		v.WorstSync = fmt.Sprintf("%+.1f ms (%s, %s)", w.OffsetMs, fmtTime(w.Time), w.Server)
	}

	v.SVG = svgOf(r, l)
	for _, d := range r.Days {
		dv := dayView{Label: l.dayLabel(d.Start), Weekend: weekend(d.Start), Future: d.Future,
			Failovers: d.Failovers, Failbacks: d.Failbacks}
		if !d.Future {
			dv.Avail, dv.RawAvail = pctText(d.AvailabilityPct), pctText(d.RawAvailabilityPct)
			dv.Unplanned, dv.Planned = minText(d.UnplannedS), minText(d.PlannedS)
		}
		v.Days = append(v.Days, dv)
	}
	for _, o := range r.Outages {
		ov := outageView{Start: fmtTime(o.Start), End: fmtTime(o.End), Duration: fmtDur(o.DurationS),
			InMonth: fmtDur(o.InMonthS), Kind: l.Unplanned, Cause: l.cause(o.Cause), Detail: fmtWindow(o.Detail, r.Start.Location())}
		if o.Planned {
			ov.Kind = l.Planned
		}
		if o.Ongoing {
			ov.End = l.Ongoing
		}
		v.Outages = append(v.Outages, ov)
	}
	for _, sw := range r.Switches {
		v.Switches = append(v.Switches, switchView{Time: fmtTime(sw.Time), Kind: l.switchKind(sw.Kind),
			From: sw.From, To: sw.To, Reason: sw.Reason})
	}
	for _, c := range r.TimeSync.Failed {
		st := ""
		if c.Stratum > 0 {
			st = fmt.Sprint(c.Stratum)
		}
		v.SyncFail = append(v.SyncFail, syncView{Time: fmtTime(c.Time), Offset: fmt.Sprintf("%+.1f ms", c.OffsetMs), Server: c.Server, Stratum: st})
	}
	for _, c := range r.SelfChecks.Failed {
		v.SelfFail = append(v.SelfFail, selfView{Time: fmtTime(c.Time), Failed: strings.Join(c.Failed, ", ")})
	}
	for _, a := range r.Announced {
		v.Windows = append(v.Windows, windowView{Announced: fmtTime(a.Announced), ID: a.ID,
			Start: fmtRFC3339(a.Start, r.Start.Location()), End: fmtRFC3339(a.End, r.Start.Location())})
	}
	return v
}

// svg lays out the timeline: a row per day, 24 h across.
func svgOf(r *report.Report, l *labels) svgView {
	sv := svgView{Width: tlWidth, PlotX: tlLabelW, PlotW: tlPlotW, PctX: tlWidth - 4}
	sv.Height = tlTop + float64(len(r.Days))*tlRowH + 2
	for h := 0; h <= 24; h++ {
		t := tick{X: tlLabelW + float64(h*tlHourW), Major: h%6 == 0}
		if h%3 == 0 {
			t.Label = fmt.Sprint(h)
		}
		sv.Ticks = append(sv.Ticks, t)
	}
	for i, d := range r.Days {
		y := tlTop + float64(i)*tlRowH
		row := svgRow{Date: d.Date, Label: l.dayLabel(d.Start), Y: y + (tlRowH-tlBarH)/2, TextY: y + tlRowH/2 + 4,
			Weekend: weekend(d.Start), Future: d.Future}
		if !d.Future {
			row.Pct = pctText(d.AvailabilityPct)
		}
		dayLen := d.End.Sub(d.Start) // 23 or 25 h on a DST change; 24 h in JST
		x := func(t time.Time) float64 {
			return tlLabelW + float64(t.Sub(d.Start))/float64(dayLen)*tlPlotW
		}
		for _, s := range r.Timeline {
			c, ok := report.Clip(s, d.Start, d.End)
			if !ok {
				continue
			}
			x0, x1 := x(c.Start), x(c.End)
			w := x1 - x0
			if s.State != report.StateUp && w < tlMinW {
				w = tlMinW
				x0 = math.Min(x0, tlLabelW+tlPlotW-w)
			}
			title := fmt.Sprintf("%s–%s %s", c.Start.Format("15:04:05"), c.End.Format("15:04:05"), l.stateName(s.State))
			if s.Cause != "" {
				title += ": " + l.cause(s.Cause)
			}
			row.Rects = append(row.Rects, svgRect{X: round2(x0), Y: row.Y, W: round2(w), Class: string(s.State), Title: title})
		}
		sv.Rows = append(sv.Rows, row)
	}
	// Outages drawn last, so a short one is not hidden by its neighbours.
	for i := range sv.Rows {
		rs := sv.Rows[i].Rects
		var up, other []svgRect
		for _, r := range rs {
			if r.Class == string(report.StateUp) {
				up = append(up, r)
			} else {
				other = append(other, r)
			}
		}
		sv.Rows[i].Rects = append(up, other...)
	}
	return sv
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func weekend(t time.Time) bool { return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday }

func fmtTime(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

func fmtRFC3339(s string, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return fmtTime(t.In(loc))
}

// fmtWindow shows an RFC 3339 interval "start/end" in the site's zone,
// and anything else as it is.
func fmtWindow(s string, loc *time.Location) string {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return s
	}
	ta, err1 := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339, b)
	if err1 != nil || err2 != nil {
		return s
	}
	return ta.In(loc).Format("2006-01-02 15:04") + " – " + tb.In(loc).Format("2006-01-02 15:04")
}

// fmtDur writes seconds as H:MM:SS (hours may exceed 24).
func fmtDur(s float64) string {
	n := int64(math.Round(s))
	return fmt.Sprintf("%d:%02d:%02d", n/3600, n/60%60, n%60)
}

func minText(s float64) string {
	if s == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1f", s/60)
}

// pctText shows a percentage with two decimals, rounded down, "—" for none.
func pctText(p *float64) string {
	if p == nil {
		return "—"
	}
	v := math.Floor(*p*100+1e-6) / 100
	if *p < 100 && v >= 100 {
		v = 99.99
	}
	return fmt.Sprintf("%.2f%%", v)
}
