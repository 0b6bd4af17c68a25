package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/shisa-gw/shisa/firmware/journal"
)

// Options says whose report it is and when it is made.
type Options struct {
	Site, Unit string
	// Location is the site's time zone; months and days are its calendar
	// periods. Default JST.
	Location *time.Location
	// Now is the time of the report; only time before it counts. Required.
	Now time.Time
	// Lookback bounds how far before the month Build reads to find the
	// state at its start. Zero reads the whole journal (journal.Range reads
	// every segment whatever its from, so this costs no extra I/O).
	Lookback time.Duration
}

// RecordsFunc calls fn for every record with from <= Time < to, in
// sequence order, as (*journal.Journal).Range does.
type RecordsFunc func(from, to time.Time, fn func(journal.Record) error) error

// State is the tunnel's state at an instant, as the report sees it.
type State string

// States.
const (
	StateUp        State = "up"
	StateUnplanned State = "down"    // unplanned outage
	StatePlanned   State = "planned" // planned outage
	StateNoData    State = "nodata"  // before the first record
)

// Report is one month's operation report. Times are in the site's zone.
type Report struct {
	Site     string    `json:"site"`
	Unit     string    `json:"unit"`
	Month    string    `json:"month"` // YYYY-MM
	TimeZone string    `json:"time_zone"`
	Start    time.Time `json:"start"` // the month's first instant
	End      time.Time `json:"end"`   // the next month's first instant
	// Until is where the figures stop: End, or Now for a month not over.
	Until     time.Time `json:"until"`
	Generated time.Time `json:"generated"`
	Partial   bool      `json:"partial"` // the month was not over at Generated

	Summary    Summary         `json:"summary"`
	Days       []Day           `json:"days"`
	Outages    []Outage        `json:"outages"`
	Switches   []Switch        `json:"switches"`
	TimeSync   TimeSync        `json:"time_sync"`
	SelfChecks SelfChecks      `json:"self_checks"`
	Announced  []PlannedWindow `json:"announced"`
	// Timeline is the month up to Until as runs of one state.
	Timeline []Segment `json:"timeline"`
}

// Figures are the time accounting of a period (the month or a day).
type Figures struct {
	ElapsedS   float64 `json:"elapsed_s"` // up to Until
	UpS        float64 `json:"up_s"`
	UnplannedS float64 `json:"unplanned_s"`
	PlannedS   float64 `json:"planned_s"`
	NoDataS    float64 `json:"nodata_s"`
	// AvailabilityPct is up / (elapsed − planned − nodata), rounded down to
	// three decimals; null when that is zero.
	AvailabilityPct *float64 `json:"availability_pct"`
	// RawAvailabilityPct is up / (elapsed − nodata).
	RawAvailabilityPct *float64 `json:"raw_availability_pct"`
}

// Summary is the month's figures and counts.
type Summary struct {
	Figures
	UnplannedOutages int `json:"unplanned_outages"`
	PlannedOutages   int `json:"planned_outages"`
	Failovers        int `json:"failovers"`
	Failbacks        int `json:"failbacks"`
}

// Day is one calendar day in the site's zone.
type Day struct {
	Date   string    `json:"date"` // YYYY-MM-DD
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Future bool      `json:"future,omitempty"` // starts at or after Until
	Figures
	Failovers int `json:"failovers"`
	Failbacks int `json:"failbacks"`
}

// Outage is one run of unplanned or planned down time.
type Outage struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	DurationS float64   `json:"duration_s"`
	InMonthS  float64   `json:"in_month_s"`
	Planned   bool      `json:"planned"`
	Cause     string    `json:"cause"`            // see the Cause… constants and Shutdown… reasons
	Detail    string    `json:"detail,omitempty"` // from the journal: a reason or a window
	Ongoing   bool      `json:"ongoing,omitempty"`
}

// Switch is one move of the tunnel between datacenter endpoints.
type Switch struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // failover, failback, failback_trial, failback_failed
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// TimeSync summarises the month's timesync.check records.
type TimeSync struct {
	Checks   int `json:"checks"`
	Failures int `json:"failures"`
	// Worst is the check with the largest absolute offset; nil if none.
	Worst    *TimeCheck  `json:"worst"`
	Failed   []TimeCheck `json:"failed"`
	Unparsed int         `json:"unparsed,omitempty"` // records without a usable offset
}

// TimeCheck is one timesync.check record.
type TimeCheck struct {
	Time     time.Time `json:"time"`
	OK       bool      `json:"ok"`
	OffsetMs float64   `json:"offset_ms"`
	Server   string    `json:"server,omitempty"`
	Stratum  int       `json:"stratum,omitempty"`
}

// SelfChecks summarises the month's selfcheck.result records.
type SelfChecks struct {
	Checks   int            `json:"checks"`
	Failures int            `json:"failures"`
	Failed   []SelfCheckRun `json:"failed"`
}

// SelfCheckRun is one failed self-check.
type SelfCheckRun struct {
	Time   time.Time `json:"time"`
	Failed []string  `json:"failed"`
}

// PlannedWindow is one announced outage window (outage.planned).
type PlannedWindow struct {
	Announced time.Time `json:"announced"`
	ID        string    `json:"id"`
	Start     string    `json:"start"` // RFC 3339 in the site's zone, or as written if unparsable
	End       string    `json:"end"`
}

// Segment is a run of one state.
type Segment struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	State State     `json:"state"`
	Cause string    `json:"cause,omitempty"`
}

// Build derives the report of month ("YYYY-MM") from the records recs
// returns (see the package comment for the rules).
func Build(month string, recs RecordsFunc, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		return nil, errors.New("report: Options.Now is required")
	}
	loc := opts.Location
	if loc == nil {
		loc = JST
	}
	start, end, err := ParseMonthIn(month, loc)
	if err != nil {
		return nil, err
	}
	now := opts.Now.In(loc)
	until := end
	if now.Before(end) {
		until = now
	}
	if until.Before(start) {
		until = start
	}
	r := &Report{
		Site: opts.Site, Unit: opts.Unit, Month: month, TimeZone: zoneName(start),
		Start: start, End: end, Until: until, Generated: now, Partial: now.Before(end),
		Outages: []Outage{}, Switches: []Switch{}, Announced: []PlannedWindow{}, Timeline: []Segment{},
		TimeSync:   TimeSync{Failed: []TimeCheck{}},
		SelfChecks: SelfChecks{Failed: []SelfCheckRun{}},
	}

	var from time.Time
	if opts.Lookback > 0 {
		from = start.Add(-opts.Lookback)
	}
	m := machine{state: StateNoData}
	var segs []Segment
	m.emit = func(s Segment) { segs = append(segs, s) }
	err = recs(from, opts.Now, func(rec journal.Record) error {
		t := m.step(rec)
		if !t.Before(start) && t.Before(until) {
			r.collect(rec, t.In(loc), loc)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report %s: reading the journal: %w", month, err)
	}
	m.finish(opts.Now)
	segs = mergeRuns(segs)

	r.outages(segs, now)
	for _, s := range segs {
		if c, ok := Clip(s, start, until); ok {
			c.Start, c.End = c.Start.In(loc), c.End.In(loc)
			r.Timeline = append(r.Timeline, c)
		}
	}
	r.Summary.Figures = figures(r.Timeline, start, until)
	for _, s := range r.Switches {
		switch s.Kind {
		case "failover":
			r.Summary.Failovers++
		case "failback":
			r.Summary.Failbacks++
		}
	}
	for d := start; d.Before(end); d = time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc) {
		next := time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
		day := Day{Date: d.Format("2006-01-02"), Start: d, End: next, Future: !d.Before(until)}
		day.Figures = figures(r.Timeline, d, minTime(next, until))
		for _, s := range r.Switches {
			if !s.Time.Before(d) && s.Time.Before(next) {
				switch s.Kind {
				case "failover":
					day.Failovers++
				case "failback":
					day.Failbacks++
				}
			}
		}
		r.Days = append(r.Days, day)
	}
	return r, nil
}

// machine is the state machine of the package comment. Times are clamped
// so they never go backwards.
type machine struct {
	state  State
	cause  string
	detail string
	since  time.Time // when state began
	last   time.Time // the latest record's (clamped) time
	seen   bool      // a record has been read
	halted bool      // daemon.stop or power.shutdown since the last daemon.start
	power  bool      // the halt came from power.shutdown
	emit   func(Segment)
}

// step feeds one record and returns its clamped time.
func (m *machine) step(rec journal.Record) time.Time {
	t := rec.Time
	if m.seen && t.Before(m.last) {
		t = m.last
	}
	switch rec.Kind {
	case KindDaemonStart:
		if m.seen && !m.halted {
			// Nothing said goodbye: off or crashed since the last record.
			m.set(m.last, StateUnplanned, CauseCrash, "")
		}
		m.halted, m.power = false, false
		m.set(t, StateUnplanned, CauseStarting, "")
	case KindDaemonStop:
		if !m.halted {
			m.halted = true
			m.set(t, StateUnplanned, CauseStopped, stringField(rec.Fields, "reason"))
		}
	case KindPowerShutdown:
		if !m.power {
			m.halted, m.power = true, true
			reason := stringField(rec.Fields, "reason")
			switch reason {
			case ShutdownPlanned, ShutdownRestart:
				m.set(t, StatePlanned, reason, stringField(rec.Fields, "window"))
			case ShutdownBattery, ShutdownLowBattery, ShutdownFSD:
				m.set(t, StateUnplanned, reason, "")
			default:
				m.set(t, StateUnplanned, CausePower, reason)
			}
		}
	case KindTunnelUp:
		if !m.halted {
			m.set(t, StateUp, "", "")
		}
	case KindTunnelDown:
		if !m.halted {
			m.set(t, StateUnplanned, CauseTunnelDown, stringField(rec.Fields, "reason"))
		}
	case KindTunnelConnect, KindTunnelStart:
		if !m.halted {
			m.set(t, StateUnplanned, CauseConnecting, stringField(rec.Fields, "reason"))
		}
	case KindTunnelStopped:
		if !m.halted {
			m.set(t, StateUnplanned, CauseTunnelStopped, "")
		}
	}
	m.seen = true
	m.last = t
	return t
}

// set ends the current run at t and starts one of state st.
func (m *machine) set(t time.Time, st State, cause, detail string) {
	if st == m.state && cause == m.cause && detail == m.detail {
		return
	}
	if m.state != StateNoData && t.After(m.since) {
		m.emit(Segment{Start: m.since, End: t, State: m.state, Cause: m.cause + detailSep + m.detail})
	}
	m.state, m.cause, m.detail, m.since = st, cause, detail, t
}

// finish ends the current run at now.
func (m *machine) finish(now time.Time) {
	if m.state != StateNoData && now.After(m.since) {
		m.emit(Segment{Start: m.since, End: now, State: m.state, Cause: m.cause + detailSep + m.detail})
	}
}

// detailSep joins cause and detail inside the machine's segments until
// mergeRuns splits them; a journal string cannot hold it.
const detailSep = "\x00"

// mergeRuns joins adjacent segments of the same state, keeping the first
// one's cause (and detail, which Report.outages splits off).
func mergeRuns(segs []Segment) []Segment {
	var out []Segment
	for _, s := range segs {
		if n := len(out); n > 0 && out[n-1].State == s.State && out[n-1].End.Equal(s.Start) {
			out[n-1].End = s.End
			continue
		}
		out = append(out, s)
	}
	return out
}

func splitCause(c string) (cause, detail string) {
	for i := range len(c) {
		if c[i] == 0 {
			return c[:i], c[i+1:]
		}
	}
	return c, ""
}

// outages lists the runs of down time that overlap the month, and strips
// the details from the segments' causes.
func (r *Report) outages(segs []Segment, now time.Time) {
	loc := r.Start.Location()
	for i := range segs {
		s := &segs[i]
		cause, detail := splitCause(s.Cause)
		s.Cause = cause
		if s.State != StateUnplanned && s.State != StatePlanned {
			continue
		}
		c, ok := Clip(*s, r.Start, r.Until)
		if !ok {
			continue
		}
		o := Outage{
			Start: s.Start.In(loc), End: s.End.In(loc), DurationS: secs(s.End.Sub(s.Start)),
			InMonthS: secs(c.End.Sub(c.Start)), Planned: s.State == StatePlanned,
			Cause: cause, Detail: detail, Ongoing: !s.End.Before(now),
		}
		r.Outages = append(r.Outages, o)
		if o.Planned {
			r.Summary.PlannedOutages++
		} else {
			r.Summary.UnplannedOutages++
		}
	}
}

// collect adds a record of the month to the lists.
func (r *Report) collect(rec journal.Record, t time.Time, loc *time.Location) {
	f := rec.Fields
	switch rec.Kind {
	case KindFailover, KindFailback, KindFailbackTrial, KindFailbackFailed:
		r.Switches = append(r.Switches, Switch{
			Time: t, Kind: rec.Kind[len("tunnel."):],
			From: stringField(f, "from"), To: stringField(f, "to"), Reason: stringField(f, "reason"),
		})
	case KindTimeSyncCheck:
		ts := &r.TimeSync
		ts.Checks++
		ok, _ := boolField(f, "ok")
		off, hasOff := numField(f, "offset_ms")
		st, _ := numField(f, "stratum")
		c := TimeCheck{Time: t, OK: ok, OffsetMs: off, Server: stringField(f, "server"), Stratum: int(st)}
		if !ok {
			ts.Failures++
			ts.Failed = append(ts.Failed, c)
		}
		if !hasOff {
			ts.Unparsed++
		} else if ts.Worst == nil || math.Abs(off) > math.Abs(ts.Worst.OffsetMs) {
			ts.Worst = &c
		}
	case KindSelfCheckResult:
		sc := &r.SelfChecks
		sc.Checks++
		if ok, _ := boolField(f, "ok"); !ok {
			sc.Failures++
			sc.Failed = append(sc.Failed, SelfCheckRun{Time: t, Failed: stringsField(f, "failed")})
		}
	case KindOutagePlanned:
		r.Announced = append(r.Announced, PlannedWindow{
			Announced: t, ID: stringField(f, "id"),
			Start: zoneTime(stringField(f, "start"), loc), End: zoneTime(stringField(f, "end"), loc),
		})
	}
}

// figures accounts the timeline's time within [from, to).
func figures(timeline []Segment, from, to time.Time) Figures {
	var f Figures
	if !to.After(from) {
		return f
	}
	var up, unpl, pl, nodata time.Duration
	for _, s := range timeline {
		c, ok := Clip(s, from, to)
		if !ok {
			continue
		}
		d := c.End.Sub(c.Start)
		switch s.State {
		case StateUp:
			up += d
		case StateUnplanned:
			unpl += d
		case StatePlanned:
			pl += d
		}
	}
	elapsed := to.Sub(from)
	nodata = elapsed - up - unpl - pl
	f.ElapsedS, f.UpS, f.UnplannedS, f.PlannedS, f.NoDataS = secs(elapsed), secs(up), secs(unpl), secs(pl), secs(nodata)
	f.AvailabilityPct = pct(up, up+unpl)
	f.RawAvailabilityPct = pct(up, up+unpl+pl)
	return f
}

// pct is 100·num/den rounded down to three decimals, nil when den is 0.
// Below 100 % it stays below 100 %, however close.
func pct(num, den time.Duration) *float64 {
	if den <= 0 {
		return nil
	}
	v := math.Floor(float64(num)*1e5/float64(den)) / 1000
	if num < den && v >= 100 {
		v = 99.999
	}
	return &v
}

func secs(d time.Duration) float64 { return math.Round(float64(d)/1e6) / 1e3 }

// Clip cuts s to [from, to) and says whether anything is left.
func Clip(s Segment, from, to time.Time) (Segment, bool) {
	if s.Start.Before(from) {
		s.Start = from
	}
	if s.End.After(to) {
		s.End = to
	}
	return s, s.End.After(s.Start)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// zoneName is the zone's name, or its offset when it has none.
func zoneName(t time.Time) string {
	name, _ := t.Zone()
	if name == "" || name[0] == '+' || name[0] == '-' {
		return t.Format("-07:00")
	}
	return name
}

func zoneTime(s string, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.In(loc).Format(time.RFC3339)
}

// Fields come from JSON (numbers float64, arrays []any) or, in tests and
// before a round trip, from Go values.

func stringField(f map[string]any, k string) string {
	switch v := f[k].(type) {
	case string:
		return v
	case nil:
		return ""
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(f[k])
}

func boolField(f map[string]any, k string) (v, ok bool) {
	v, ok = f[k].(bool)
	return v, ok
}

func numField(f map[string]any, k string) (float64, bool) {
	switch v := f[k].(type) {
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		x, err := v.Float64()
		return x, err == nil
	case string:
		x, err := strconv.ParseFloat(v, 64)
		return x, err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return 0, false
}

func stringsField(f map[string]any, k string) []string {
	switch v := f[k].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, fmt.Sprint(e))
			}
		}
		return out
	case string:
		return []string{v}
	}
	return []string{}
}
