package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shisa-gw/shisa/firmware/inventory"
)

// ManagementBackend is what the management API serves: the local API's
// status, events and report, plus the inventory and extra metrics.
type ManagementBackend interface {
	Backend
	Reporter
	// Inventory returns what the box is (serial, model, MACs …); the
	// daemon reads it once at start (inventory.Read) and may cache it.
	Inventory() inventory.Inventory
	// Metrics writes samples of the daemon's own in the Prometheus text
	// format after the standard ones that GET /metrics derives from
	// Status; it may write nothing. Names must not clash with those in
	// metrics.go.
	Metrics(w io.Writer)
}

// Management is the management API's handler: the routes the datacenter
// polls, behind a bearer token. Create it with ManagementHandler.
type Management struct {
	routes
	mb   ManagementBackend
	mux  *http.ServeMux
	want [sha256.Size]byte // SHA-256 of the token
	ok   bool              // a token was given

	authFailures atomic.Uint64

	logMu      sync.Mutex
	lastLog    time.Time // of an auth failure
	suppressed int       // auth failures not logged since lastLog
}

// authLogEvery bounds the logging of failed authentications: a scanner
// hammering the port must not wear the flash.
const authLogEvery = time.Minute

// ManagementHandler returns the management API (HTTP inside the tunnel,
// polled by the datacenter):
//
//	GET /v1/status
//	GET /v1/events?since=N&limit=M
//	GET /v1/inventory
//	GET /v1/report?month=YYYY-MM&format=json|csv|html&lang=ja|en
//	GET /metrics                       Prometheus text format
//
// and the power routes (power.go) when b is a PowerBackend: the
// datacenter plans outages and restarts through them; and POST/DELETE
// /v1/ha/handover (ha.go) when b can hand over: the datacenter moves a
// pair's active role for maintenance. The scrape reaches the active unit
// (both units share the management address), so that is where it runs.
//
// Every request must carry "Authorization: Bearer TOKEN". A missing or
// wrong token is a 401 with the body {} and "WWW-Authenticate: Bearer",
// nothing more, before any routing (so a prober learns not even which
// paths exist); failures are counted in shisa_api_auth_failures_total and
// logged at most once a minute. The token is compared in constant time,
// as SHA-256 hashes so that its length does not leak either. Surrounding
// white space of token (a file's newline) is ignored; an empty token
// refuses everything.
func ManagementHandler(b ManagementBackend, token []byte, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Management{
		routes: routes{b: b, log: log, now: time.Now},
		mb:     b,
		mux:    http.NewServeMux(),
	}
	if t := bytes.TrimSpace(token); len(t) > 0 {
		m.want, m.ok = sha256.Sum256(t), true
	} else {
		log.Error("the management API has no token: it refuses every request")
	}
	m.mux.HandleFunc("GET /v1/status", m.status)
	m.mux.HandleFunc("GET /v1/events", m.events)
	m.mux.HandleFunc("GET /v1/inventory", m.inventory)
	m.mux.HandleFunc("GET /v1/report", m.report(b))
	m.mux.HandleFunc("GET /metrics", m.metrics)
	m.registerPower(m.mux, b)
	haRoutes(m.mux, b)
	acceptanceRoutes(m.mux, b, m.routes)
	return m
}

func (m *Management) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !m.authorized(r) {
		m.authFailed(r)
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "{}\n")
		return
	}
	m.mux.ServeHTTP(w, r)
}

// authorized checks the request's single Authorization header. The
// scheme is case-insensitive (RFC 9110, 11.1).
func (m *Management) authorized(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return false
	}
	scheme, tok, _ := strings.Cut(h[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], m.want[:])&boolInt(m.ok) == 1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *Management) authFailed(r *http.Request) {
	n := m.authFailures.Add(1)
	now := m.now()
	m.logMu.Lock()
	defer m.logMu.Unlock()
	if !m.lastLog.IsZero() && now.Sub(m.lastLog) < authLogEvery {
		m.suppressed++
		return
	}
	// Never the header itself: a near-miss token is still a secret.
	m.log.Warn("management API: request without a valid token refused",
		"remote", r.RemoteAddr, "path", r.URL.Path, "failures_total", n, "not_logged_since_last", m.suppressed)
	m.lastLog, m.suppressed = now, 0
}

func (m *Management) inventory(w http.ResponseWriter, r *http.Request) {
	if !noParams(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, m.mb.Inventory())
}

func (m *Management) metrics(w http.ResponseWriter, r *http.Request) {
	if !noParams(w, r) {
		return
	}
	var buf bytes.Buffer
	buf.Grow(4 << 10)
	writeMetrics(&buf, m.mb.Status(), m.now(), m.authFailures.Load())
	m.mb.Metrics(&buf)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// ReadTokenFile reads the management API's bearer token: the file must be
// private (mode 0600 or 0400) and hold one token of at least 32
// characters. Errors never hold the token.
func ReadTokenFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("api: token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("api: token file: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("api: token file %s must be a regular file readable only by its owner (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("api: token file: %w", err)
	}
	t := bytes.TrimSpace(b)
	if len(t) < 32 || bytes.ContainsAny(t, " \t\r\n") {
		return nil, fmt.Errorf("api: token file %s must hold one token of at least 32 characters (make one with: shisactl token new %s)", path, path)
	}
	return t, nil
}

// Management server limits: requests are small GETs; the largest answer
// is a month's HTML report.
const (
	mgmtReadHeaderTimeout = 5 * time.Second
	mgmtReadTimeout       = 10 * time.Second
	mgmtWriteTimeout      = 30 * time.Second
	mgmtIdleTimeout       = 2 * time.Minute // Prometheus keeps its connection between scrapes
	mgmtMaxHeaderBytes    = 8 << 10
	mgmtShutdownTimeout   = 2 * time.Second
)

// ServeManagement serves h on exactly addrs (host:port each: the
// management address inside the tunnel and health.also_listen) until ctx
// ends, then shuts down gracefully. listen opens each listener (nil means
// net.Listen; the daemon passes netstack's for rootless runs). If any
// address cannot be opened none is served and the error names it; if one
// listener fails later, all stop and the error is returned.
func ServeManagement(ctx context.Context, addrs []string, listen func(network, addr string) (net.Listener, error), h http.Handler) error {
	if len(addrs) == 0 {
		return errors.New("api: management API: no address to listen on")
	}
	if listen == nil {
		listen = net.Listen
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("api: management API on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: mgmtReadHeaderTimeout,
		ReadTimeout:       mgmtReadTimeout,
		WriteTimeout:      mgmtWriteTimeout,
		IdleTimeout:       mgmtIdleTimeout,
		MaxHeaderBytes:    mgmtMaxHeaderBytes,
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	var err error
	received := 0 // Serve results already taken from errc
	select {
	case e := <-errc:
		err, received = fmt.Errorf("api: management API: %w", e), 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), mgmtShutdownTimeout)
	defer cancel()
	if e := srv.Shutdown(sctx); e != nil {
		err = errors.Join(err, fmt.Errorf("api: management API shutdown: %w", e))
	}
	for range len(lns) - received {
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("api: management API: %w", e))
		}
	}
	return err
}
