package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
)

// Status is the answer to GET /v1/status, on the local socket and on the
// management API.
type Status struct {
	Site      string    `json:"site"`
	Unit      string    `json:"unit"`
	Version   string    `json:"version"`
	Role      string    `json:"role"`
	StartedAt time.Time `json:"started_at"`
	Uptime    float64   `json:"uptime_s"`
	Backend   string    `json:"backend"`
	Interface string    `json:"interface"`
	// SafeMode says why the daemon runs in safe mode ("" when it does not).
	SafeMode string `json:"safe_mode,omitempty"`
	// Stuck names the jobs whose watchdog checks are stale.
	Stuck  []string      `json:"stuck,omitempty"`
	Tunnel tunnel.Status `json:"tunnel"`
	// HandshakeAge is the age in seconds of the active endpoint's last
	// handshake when the status was served; nil before the first one. The
	// handlers fill it from Tunnel; backends leave it nil.
	HandshakeAge *float64 `json:"handshake_age_s,omitempty"`
	// TimeSync is the last time-sync check; nil before the first one.
	TimeSync *TimeSync `json:"time_sync,omitempty"`
	// SelfCheck is the last daily self-check; nil before the first one.
	SelfCheck *SelfCheck `json:"self_check,omitempty"`
	// UPS is the power supply's state; nil where the box has no UPS or
	// the power job (issue 4) does not run.
	UPS *UPSStatus `json:"ups,omitempty"`
	// NextOutage is the planned power outage in progress or the next one;
	// nil when none is planned or the power job does not run.
	NextOutage *Outage `json:"next_outage,omitempty"`
	// Pair is the hot-standby election (role, peer, last heartbeat, the
	// reason of the last transition); nil for a box without a pair.
	Pair *ha.Status `json:"pair,omitempty"`
	// Power is the power state machine's state (one of the Power…
	// constants); empty where the power job does not run.
	Power string `json:"power_state,omitempty"`
	// Box is this box's own name (shisad -box, default the host name):
	// the hardware, where Unit is its role in the site. A spare swapped
	// in keeps its Box and takes the failed unit's Unit.
	Box string `json:"box,omitempty"`
	// Spare is set on a unit with no site (Role "spare"): a shelf spare.
	Spare *Spare `json:"spare,omitempty"`
	// Pack is the site pack this unit runs; nil when configured by hand.
	Pack *PackInfo `json:"pack,omitempty"`
	// Acceptance is the last acceptance check since this start; nil
	// before the first.
	Acceptance *Acceptance      `json:"acceptance,omitempty"`
	Runtime    Runtime          `json:"runtime"`
	Events     []journal.Record `json:"recent_events"`
}

// TimeSync is the result of one time-sync check: the offset of the local
// clock from the configured NTP servers and the system's own sync state.
type TimeSync struct {
	At time.Time `json:"at"`
	// OK: the offset is within MaxOffset and the system clock is synced.
	OK bool `json:"ok"`
	// Offset is the local clock minus the servers' time, in seconds.
	Offset    float64 `json:"offset_s"`
	MaxOffset float64 `json:"max_offset_s"`
	// Server answered (host:port) and its stratum.
	Server  string `json:"server,omitempty"`
	Stratum int    `json:"stratum,omitempty"`
	// SystemSynced is the kernel's view (adjtimex: not STA_UNSYNC).
	SystemSynced bool `json:"system_synced"`
	// Error says why no server could be asked ("" when one answered).
	Error string `json:"error,omitempty"`
}

// SelfCheck is the result of one daily self-check.
type SelfCheck struct {
	At    time.Time   `json:"at"`
	OK    bool        `json:"ok"` // every item passed
	Items []CheckItem `json:"items"`
}

// Acceptance is the report of an acceptance check (動作確認; package
// acceptance): the self-check's items and more, pass or fail each.
type Acceptance struct {
	At    time.Time   `json:"at"`
	OK    bool        `json:"ok"` // every item passed
	TookS float64     `json:"took_s"`
	Items []CheckItem `json:"items"`
}

// CheckItem is one thing the self-check looked at.
type CheckItem struct {
	// Name is what was checked: "wan_link", "lan_link", "default_route",
	// "endpoint:dc1", "probe:dc1", "ntp", "free_space", "temperature", "ups".
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"` // the evidence, for people
}

// UPS states.
const (
	UPSOnline     = "online"
	UPSOnBattery  = "on_battery"
	UPSLowBattery = "low_battery"
)

// UPSStatus is the power supply as the power job (issue 4) sees it.
type UPSStatus struct {
	Source    string  `json:"source"`     // where the state comes from (driver, GPIO …)
	State     string  `json:"state"`      // UPSOnline, UPSOnBattery, UPSLowBattery or UPSUnknown
	ChargePct float64 `json:"charge_pct"` // -1 when unknown
	RuntimeS  float64 `json:"runtime_s"`  // estimated seconds left on battery; -1 when unknown
	// Flags are the UPS's status flags ("OB DISCHRG LB").
	Flags string `json:"flags,omitempty"`
	// Stale says the data is not current (NUT server lost, DATA-STALE);
	// Reason says why. A UPS lost while on battery counts as low battery.
	Stale  bool   `json:"stale,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// OnBattery reports whether the box runs on its battery.
func (u *UPSStatus) OnBattery() bool {
	return u != nil && (u.State == UPSOnBattery || u.State == UPSLowBattery)
}

// Outage is a planned power outage, or a scheduled restart (Restart set,
// End equal to Start).
type Outage struct {
	ID     string    `json:"id"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason string    `json:"reason,omitempty"`
	// Restart marks a scheduled restart.
	Restart bool `json:"restart,omitempty"`
	// ShutdownAt is when the box shuts down for it (power.lead before the
	// start; a restart's start).
	ShutdownAt time.Time `json:"shutdown_at,omitzero"`
	// From is when the box starts to report it in progress: a little
	// before ShutdownAt, so that the datacenter's last scrape before the
	// box goes dark sees it (deploy/prometheus). Zero means Start.
	From time.Time `json:"active_from,omitzero"`
}

// Active reports whether the outage is in progress at now: from From (or
// Start) until End, or until the restart is done for a restart.
func (o *Outage) Active(now time.Time) bool {
	if o == nil {
		return false
	}
	from, end := o.Start, o.End
	if !o.From.IsZero() {
		from = o.From
	}
	if o.Restart {
		end = o.Start.Add(time.Minute)
	}
	return !now.Before(from) && now.Before(end)
}

// Healthy reports whether nothing in the status needs a person: the tunnel
// is up, no safe mode, no stuck job, the time in sync and the last
// self-check passed (where they have run), mains power. Problems says
// what is wrong otherwise.
func (st *Status) Healthy() bool { return len(st.Problems()) == 0 }

// Problems lists what is wrong, worst first, one short phrase each.
func (st *Status) Problems() []string {
	var p []string
	if t := st.Tunnel; t.State != tunnel.Up {
		if t.Reason != "" {
			p = append(p, "tunnel "+t.State.String()+": "+t.Reason)
		} else {
			p = append(p, "tunnel "+t.State.String())
		}
	}
	if st.SafeMode != "" {
		p = append(p, "safe mode: "+st.SafeMode)
	}
	if len(st.Stuck) > 0 {
		p = append(p, "stuck: "+strings.Join(st.Stuck, ", "))
	}
	if ts := st.TimeSync; ts != nil && !ts.OK {
		switch {
		case ts.Error != "":
			p = append(p, "time sync: "+ts.Error)
		case !ts.SystemSynced && math.Abs(ts.Offset) <= ts.MaxOffset:
			p = append(p, "clock not synced")
		default:
			p = append(p, fmt.Sprintf("time offset %+.3fs", ts.Offset))
		}
	}
	if sc := st.SelfCheck; sc != nil && !sc.OK {
		var failed []string
		for _, it := range sc.Items {
			if !it.OK {
				failed = append(failed, it.Name)
			}
		}
		p = append(p, "self-check failed: "+strings.Join(failed, ", "))
	}
	if st.UPS.OnBattery() {
		p = append(p, "on battery ("+st.UPS.State+")")
	}
	if pr := st.Pair; pr != nil {
		switch peer := pr.Peer; {
		case peer == nil || !peer.Alive:
			p = append(p, "hot standby: peer unit silent")
		case !peer.Health.Eligible():
			p = append(p, "hot standby: peer unit "+peer.UnitID+" cannot take over ("+peer.Health.Broken()+")")
		}
	}
	if st.Power == PowerShuttingDown || st.Power == PowerHalted {
		p = append(p, "power: "+st.Power)
	}
	return p
}

// activeHandshakeAge is the age of the active endpoint's last handshake
// at now, or nil before the first one.
func activeHandshakeAge(t tunnel.Status, now time.Time) *float64 {
	for _, e := range t.Endpoints {
		if e.Name == t.Active && !e.LastHandshake.IsZero() {
			age := max(now.Sub(e.LastHandshake).Seconds(), 0)
			return &age
		}
	}
	return nil
}

// Runtime is the daemon process's own footprint (the box is small).
type Runtime struct {
	Goroutines int     `json:"goroutines"`
	HeapMB     float64 `json:"heap_mb"`
	SysMB      float64 `json:"sys_mb"` // memory obtained from the OS by the Go runtime
}

// ReadRuntime samples the calling process's runtime figures.
func ReadRuntime() Runtime {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Runtime{
		Goroutines: runtime.NumGoroutine(),
		HeapMB:     float64(ms.HeapAlloc) / (1 << 20),
		SysMB:      float64(ms.Sys) / (1 << 20),
	}
}

// EventsPage is the answer to GET /v1/events.
type EventsPage struct {
	Events []journal.Record `json:"events"`
	// Next is the cursor to pass as since= for the following page.
	Next uint64 `json:"next"`
	More bool   `json:"more"`
}

// Backend is what the local API serves; the daemon implements it.
//
// Handler serves GET /v1/report when the backend also implements Reporter
// and GET /v1/diagnose when it implements Diagnoser, and answers 501
// otherwise; LocalBackend is all three, for a compile-time check in the
// daemon (var _ api.LocalBackend = (*Daemon)(nil)).
type Backend interface {
	Status() Status
	// Events returns at most limit journal records after cursor since,
	// oldest first, and the cursor after the last one returned.
	Events(since uint64, limit int) ([]journal.Record, uint64, error)
}

// Reporter renders the monthly operation report.
type Reporter interface {
	// Report renders month ("2026-11") in format (ReportJSON or ReportCSV)
	// and lang ("ja" or "en"), all already validated, and
	// returns the body with its Content-Type. An error wrapping ErrNotFound
	// is a 404 (no journal for that month); any other a 500.
	Report(month, format, lang string) (contentType string, body []byte, err error)
}

// Diagnoser walks the path from the LAN to the datacenter (shisactl
// diagnose).
type Diagnoser interface {
	// Diagnose returns its findings as a JSON-able value.
	// ctx is the request's: a caller gone or a daemon stopping ends it.
	Diagnose(ctx context.Context) (any, error)
}

// LocalBackend is everything the local API can serve.
type LocalBackend interface {
	Backend
	Reporter
	Diagnoser
}

// ErrNotFound from a Backend method becomes a 404 with its message.
var ErrNotFound = errors.New("not found")

// MaxPage bounds one page of events.
const MaxPage = 1000

// Handler returns the local API's routes (the unix socket; its file mode
// is the access control):
//
//	GET /v1/status
//	GET /v1/events?since=N&limit=M
//	GET /v1/report?month=YYYY-MM&format=json|csv|html&lang=ja|en
//	GET /v1/diagnose
//	POST, DELETE /v1/ha/handover (see haRoutes)
//	POST /v1/acceptance (see acceptanceRoutes)
//	POST /v1/spare/activate, /v1/spare/prepare (see spareRoutes)
//
// and the power routes (power.go) when b is a PowerBackend.
func Handler(b Backend, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := routes{b: b, log: log, detail: true, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", r.status)
	mux.HandleFunc("GET /v1/events", r.events)
	if rep, ok := b.(Reporter); ok {
		mux.HandleFunc("GET /v1/report", r.report(rep))
	} else {
		mux.HandleFunc("GET /v1/report", notBuilt("the monthly report"))
	}
	if d, ok := b.(Diagnoser); ok {
		mux.HandleFunc("GET /v1/diagnose", r.diagnose(d))
	} else {
		mux.HandleFunc("GET /v1/diagnose", notBuilt("diagnose"))
	}
	haRoutes(mux, b)
	acceptanceRoutes(mux, b, r)
	spareRoutes(mux, b, r)
	r.registerPower(mux, b)
	return mux
}

// routes are the handlers the local and the management API share.
type routes struct {
	b   Backend
	log *slog.Logger
	// detail: error messages for a 500 carry the backend's error (the
	// local socket); otherwise only the log does.
	detail bool
	now    func() time.Time
}

func (rt routes) status(w http.ResponseWriter, r *http.Request) {
	if !noParams(w, r) {
		return
	}
	st := rt.b.Status()
	if st.HandshakeAge == nil {
		st.HandshakeAge = activeHandshakeAge(st.Tunnel, rt.now())
	}
	writeJSON(w, http.StatusOK, st)
}

func (rt routes) events(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	since, limit, err := parseEventsQuery(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	recs, next, err := rt.b.Events(since, limit+1)
	if err != nil {
		rt.fail(w, "reading the journal", err)
		return
	}
	page := EventsPage{Events: recs, Next: next}
	if len(recs) > limit {
		page.Events = recs[:limit]
		page.Next = recs[limit-1].Seq
		page.More = true
	}
	if page.Events == nil {
		page.Events = []journal.Record{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (rt routes) report(rep Reporter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, err := parseQuery(r.URL.RawQuery)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		q, err := parseReportQuery(raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		ctype, body, err := rep.Report(q.Month, q.Format, q.Lang)
		if err != nil {
			rt.fail(w, "rendering the report for "+q.Month, err)
			return
		}
		if ctype == "" {
			ctype = reportTypes[q.Format]
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body) // the client went away; nothing to do
	}
}

func (rt routes) diagnose(d Diagnoser) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !noParams(w, r) {
			return
		}
		v, err := d.Diagnose(r.Context())
		if err != nil {
			rt.fail(w, "diagnosing", err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// fail answers a backend error: ErrNotFound is a 404 with its message,
// anything else a 500, logged.
func (rt routes) fail(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s: %v", what, err))
		return
	}
	rt.log.Error(what+" for the API failed", "err", err)
	msg := what + " failed (see the box's journal)"
	if rt.detail {
		msg = fmt.Sprintf("%s: %v", what, err)
	}
	writeError(w, http.StatusInternalServerError, msg)
}

func notBuilt(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, what+" is not built into this shisad")
	}
}

// noParams answers 400 and returns false when the request has a query.
func noParams(w http.ResponseWriter, r *http.Request) bool {
	q, err := parseQuery(r.URL.RawQuery)
	if err == nil {
		err = checkParams(q)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// ListenUnix opens the local API socket at path with mode 0660, creating
// its directory (0755) and replacing a stale socket left by a crash. It
// refuses to replace a socket another daemon is still serving.
func ListenUnix(path string) (net.Listener, error) {
	ln, err := netctl.ListenUnixSocket(path, 0o660)
	if errors.Is(err, netctl.ErrSocketInUse) {
		return nil, fmt.Errorf("api: another shisad is serving %s", path)
	}
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// A request still running after the grace (a slow diagnose) is
		// cut off; that is part of stopping, not a failure.
		err = srv.Close()
	}
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
