package timesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
)

// EventLog receives the checker's events (the daemon writes them to the
// journal); tunnel.EventLog has the same shape.
type EventLog interface {
	Event(kind, msg string, fields map[string]any)
}

// Event kinds.
const (
	EventCheck    = "timesync.check"
	EventDegraded = "timesync.degraded"
	EventOK       = "timesync.ok"
)

// Options configures a Checker. Zero values take the defaults noted.
type Options struct {
	// Servers are tried in order each check; the first that answers wins.
	Servers []string
	// MaxOffset is the largest acceptable |offset|. Default 500ms.
	MaxOffset time.Duration
	// Interval between checks. Default 15m.
	Interval time.Duration
	// FirstAfter is the delay of the first check after Run starts, so that
	// the tunnel has a moment to come up. Default 10s.
	FirstAfter time.Duration
	// Timeout for one server's answer. Default 3s.
	Timeout time.Duration
	// Dial opens the UDP sockets; nil uses the kernel's stack
	// (net.Dialer). Through netstack pass (*netstack.Net).DialContext.
	Dial DialFunc
	// System reads the kernel's sync state; nil uses adjtimex.
	System SystemClock
	// Events receives the events; nil drops them.
	Events EventLog
	// Logger; nil discards. Failures are logged at most once per
	// LogEvery unless the verdict changes.
	Logger   *slog.Logger
	LogEvery time.Duration // default 1h
	// Skip, when set and returning true at a check's time, makes Run leave
	// that check out (no measurement, no event; Last keeps the previous
	// one): a hot-standby unit's servers are behind a tunnel it does not
	// hold. Check itself always measures.
	Skip func() bool
	// Alive is called on every round of the loop, at least every
	// AliveEvery (default 30s), as the job's watchdog check.
	Alive      func()
	AliveEvery time.Duration
}

// Checker is the time-sync job. Create it with New, run it with Run.
type Checker struct {
	opts Options
	log  *slog.Logger

	// Owned by the goroutine running checks.
	degraded bool      // last verdict was bad
	checked  bool      // a check has run
	lastLog  time.Time // of the last failure logged

	mu   sync.Mutex // guards last
	last *api.TimeSync
}

// New returns a checker.
func New(opts Options) (*Checker, error) {
	setDefault(&opts.MaxOffset, 500*time.Millisecond)
	setDefault(&opts.Interval, 15*time.Minute)
	setDefault(&opts.FirstAfter, 10*time.Second)
	setDefault(&opts.Timeout, 3*time.Second)
	setDefault(&opts.LogEvery, time.Hour)
	setDefault(&opts.AliveEvery, 30*time.Second)
	if opts.MaxOffset < 0 || opts.Interval < 0 || opts.Timeout < 0 {
		return nil, errors.New("timesync: negative duration in options")
	}
	for _, s := range opts.Servers {
		if _, err := serverAddr(s); err != nil {
			return nil, err
		}
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.System == nil {
		opts.System = Adjtimex{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{opts: opts, log: log.With("job", "timesync")}, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Last returns a copy of the latest check, nil before the first.
func (c *Checker) Last() *api.TimeSync {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return nil
	}
	s := *c.last
	return &s
}

// Run checks FirstAfter after it starts and then every Interval until ctx
// ends; it returns nil then.
func (c *Checker) Run(ctx context.Context) error {
	next := time.NewTimer(c.opts.FirstAfter)
	defer next.Stop()
	alive := time.NewTicker(c.opts.AliveEvery)
	defer alive.Stop()
	for {
		if c.opts.Alive != nil {
			c.opts.Alive()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-alive.C:
		case <-next.C:
			if c.opts.Skip == nil || !c.opts.Skip() {
				c.Check(ctx)
			}
			next.Reset(c.opts.Interval)
		}
	}
}

// Check runs one check now, records it as Last and emits its events. Run
// calls it; calls must not overlap.
func (c *Checker) Check(ctx context.Context) *api.TimeSync {
	m := c.measure(ctx)
	st := &api.TimeSync{
		At:           m.at,
		OK:           m.ok,
		Offset:       -m.offset.Seconds(), // api: local clock minus the servers'
		MaxOffset:    c.opts.MaxOffset.Seconds(),
		Server:       m.server,
		Stratum:      m.stratum,
		SystemSynced: m.sys.Synced,
		Error:        m.errText(),
	}
	c.mu.Lock()
	c.last = st
	c.mu.Unlock()
	c.emit(st, m)
	return c.Last()
}

// measurement is one check before it becomes an api.TimeSync.
type measurement struct {
	at       time.Time
	answered bool
	server   string
	offset   time.Duration // the server's clock minus ours
	stratum  int
	sys      SystemState
	sysKnown bool
	errs     []string
	ok       bool
	detail   string // the verdict and its reason, for people
}

func (m *measurement) errText() string {
	if m.answered {
		return ""
	}
	if len(m.errs) == 0 {
		return "no NTP servers configured"
	}
	return strings.Join(m.errs, "; ")
}

func (c *Checker) measure(ctx context.Context) *measurement {
	m := &measurement{}
	sys, err := c.opts.System.SyncState()
	if err == nil {
		m.sys, m.sysKnown = sys, true
	} else {
		m.errs = append(m.errs, err.Error())
	}
	for _, srv := range c.opts.Servers {
		if ctx.Err() != nil {
			break
		}
		qctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		r, err := Query(qctx, c.opts.Dial, srv)
		cancel()
		if err != nil {
			m.errs = append(m.errs, err.Error())
			continue
		}
		m.answered, m.server, m.offset, m.stratum = true, srv, r.Offset, r.Stratum
		break
	}
	m.at = time.Now()
	m.ok, m.detail = verdict(m, len(c.opts.Servers), c.opts.MaxOffset)
	return m
}

// verdict applies the rules in the package comment.
func verdict(m *measurement, servers int, maxOffset time.Duration) (bool, string) {
	sysOK := m.sysKnown && m.sys.Synced
	sys := "the system clock reports synchronised"
	switch {
	case !m.sysKnown:
		sys = "the system clock's state is unknown"
	case !m.sys.Synced:
		sys = "the system clock reports unsynchronised (is chronyd or systemd-timesyncd running?)"
	}
	if m.answered {
		if m.offset.Abs() > maxOffset {
			return false, fmt.Sprintf("clock off by %s against %s (limit %s)", HumanOffset(m.offset), m.server, maxOffset)
		}
		ok := fmt.Sprintf("clock within %s of %s (stratum %d)", HumanOffset(m.offset), m.server, m.stratum)
		if !sysOK {
			return false, ok + ", but " + sys
		}
		return true, ok
	}
	if servers == 0 {
		return sysOK, "no NTP servers configured; " + sys
	}
	return sysOK, "no NTP server answered; " + sys
}

// HumanOffset prints an offset's size for people: "12 ms", "3.4 s",
// "3h", "2h5m".
func HumanOffset(d time.Duration) string {
	d = d.Abs()
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	s := d.Round(time.Minute).String() // "3h0m0s", "2h5m0s", "5m0s"
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (c *Checker) emit(st *api.TimeSync, m *measurement) {
	fields := map[string]any{
		"ok":            st.OK,
		"offset_ms":     round3(st.Offset * 1000),
		"server":        st.Server,
		"stratum":       st.Stratum,
		"system_synced": st.SystemSynced,
	}
	if st.Error != "" {
		fields["error"] = st.Error
	}
	c.event(EventCheck, m.detail, fields)
	changed := !c.checked || st.OK == c.degraded
	switch {
	case !st.OK && changed:
		c.event(EventDegraded, "time sync degraded: "+m.detail, fields)
	case st.OK && c.checked && c.degraded:
		c.event(EventOK, "time sync good again: "+m.detail, fields)
	}
	c.checked = true
	c.degraded = !st.OK

	// Logs: every change, and a failure repeated at most once per LogEvery.
	now := time.Now()
	if changed || (!st.OK && now.Sub(c.lastLog) >= c.opts.LogEvery) {
		c.lastLog = now
		if st.OK {
			c.log.Info("time sync ok", "detail", m.detail)
		} else {
			c.log.Warn("time sync degraded", "detail", m.detail, "error", st.Error)
		}
	}
}

func (c *Checker) event(kind, msg string, fields map[string]any) {
	if c.opts.Events != nil {
		c.opts.Events.Event(kind, msg, fields)
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
