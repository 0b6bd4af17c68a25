package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// Status is the answer to GET /v1/status.
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
	Stuck   []string         `json:"stuck,omitempty"`
	Tunnel  tunnel.Status    `json:"tunnel"`
	Runtime Runtime          `json:"runtime"`
	Events  []journal.Record `json:"recent_events"`
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

// Backend is what the server serves; the daemon implements it.
type Backend interface {
	Status() Status
	Events(since uint64, limit int) ([]journal.Record, uint64, error)
}

// MaxPage bounds one page of events.
const MaxPage = 1000

// Handler returns the local API's routes.
func Handler(b Backend, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		since, limit, err := parseEventsQuery(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		recs, next, err := b.Events(since, limit+1)
		if err != nil {
			log.Error("reading the journal for the API", "err", err)
			writeError(w, http.StatusInternalServerError, "reading the journal failed")
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
	})
	return mux
}

// parseEventsQuery validates since= (a cursor, default 0) and limit=
// (1..MaxPage, default 100). A parameter given empty or twice is an error;
// so is any other parameter. Errors name the parameter.
func parseEventsQuery(q url.Values) (uint64, int, error) {
	for k, v := range q {
		if k != "since" && k != "limit" {
			return 0, 0, fmt.Errorf("%s: unknown parameter (want since and limit)", k)
		}
		if len(v) != 1 || v[0] == "" {
			return 0, 0, fmt.Errorf("%s: give it once, with a value", k)
		}
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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api: creating the socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("api: %s exists and is not a socket; remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("api: another shisad is serving %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("api: removing the stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
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
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
