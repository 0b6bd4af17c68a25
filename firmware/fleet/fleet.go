// Package fleet polls many shisa boxes' management APIs at once and ranks
// what it finds, worst first: the datacenter side of `shisactl fleet
// status`.
//
// A poll asks every target's GET /v1/status concurrently (at most
// Options.Concurrency at a time, each bounded by Options.Timeout) and
// classifies each box by the worst thing wrong with it:
//
//	Unreachable      no answer, an error status, or an answer that is not a status
//	TunnelDown       the tunnel is not up (down, connecting, stopped)
//	SafeMode         shisad runs in safe mode
//	Stuck            a job's watchdog check is stale
//	TimeOffset       the last time-sync check failed
//	SelfCheckFailed  the last daily self-check failed
//	OnBattery        the UPS runs on battery
//	Healthy          none of the above
package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// Target is one box to poll.
type Target struct {
	Name string `json:"name"`
	// URL is the base of the box's management API, such as
	// http://10.99.1.2:8080.
	URL string `json:"url"`
}

// ParseTargets reads a targets file: one box per line, "NAME URL";
// blank lines and comments (from a field starting with #) are skipped.
// Errors give the line number; names must be unique.
func ParseTargets(r io.Reader) ([]Target, error) {
	var ts []Target
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if i := slices.IndexFunc(fields, func(f string) bool { return strings.HasPrefix(f, "#") }); i >= 0 {
			fields = fields[:i]
		}
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want NAME URL, got %d fields", n, len(fields))
		}
		name, raw := fields[0], strings.TrimRight(fields[1], "/")
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("line %d: %s: %q is not an http:// or https:// base URL (e.g. http://10.99.1.2:8080)", n, name, fields[1])
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("line %d: %s is already on line %d", n, name, prev)
		}
		seen[name] = n
		ts = append(ts, Target{Name: name, URL: raw})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ts, nil
}

// Class is how a box is doing, the worst first.
type Class int

const (
	Unreachable Class = iota
	TunnelDown
	SafeMode
	Stuck
	TimeOffset
	SelfCheckFailed
	OnBattery
	Healthy
)

var classNames = [...]string{"UNREACHABLE", "TUNNEL DOWN", "SAFE MODE", "STUCK", "TIME OFFSET", "SELF-CHECK", "ON BATTERY", "OK"}

func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("Class(%d)", int(c))
	}
	return classNames[c]
}

// MarshalText makes a Class print as its name in JSON.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Result is one box's answer.
type Result struct {
	Target
	Class Class `json:"class"`
	// Status is the box's answer; nil when unreachable.
	Status *api.Status `json:"status,omitempty"`
	// Error says why the box is unreachable.
	Error string `json:"error,omitempty"`
	// Note is what is wrong, in a few words ("" when healthy).
	Note string `json:"note,omitempty"`
	// Latency of the request, in seconds.
	Latency float64 `json:"latency_s"`
}

// Options tune a poll. The zero value is usable but sends no token.
type Options struct {
	// Token is sent as "Authorization: Bearer TOKEN" to every box.
	Token []byte
	// Timeout of each box's request; default 2s.
	Timeout time.Duration
	// Concurrency: at most this many requests at once; default 64.
	Concurrency int
	// Client for the requests; nil means one made for the poll (no
	// proxy from the environment: boxes are reached through the VPN).
	Client *http.Client
}

// Poll asks every target for its status and returns the results sorted
// worst first (by Class, then by name). It returns when every request has
// been answered or has timed out, or ctx ends (the rest are Unreachable).
func Poll(ctx context.Context, targets []Target, o Options) []Result {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	hc := o.Client
	if hc == nil {
		tr := &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: o.Timeout}).DialContext,
			MaxIdleConns:          o.Concurrency,
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       10 * time.Second,
			ResponseHeaderTimeout: o.Timeout,
		}
		defer tr.CloseIdleConnections()
		hc = &http.Client{Transport: tr}
	}
	results := make([]Result, len(targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(o.Concurrency, len(targets)) {
		wg.Go(func() {
			for i := range next {
				results[i] = pollOne(ctx, hc, targets[i], o)
			}
		})
	}
	for i := range targets {
		next <- i
	}
	close(next)
	wg.Wait()
	Sort(results)
	return results
}

// Sort orders results worst first: by Class, then by name.
func Sort(rs []Result) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		if a.Class != b.Class {
			return int(a.Class) - int(b.Class)
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// maxStatus bounds one status answer (a status with its recent events is
// a few kB).
const maxStatus = 1 << 20

func pollOne(ctx context.Context, hc *http.Client, t Target, o Options) Result {
	r := Result{Target: t}
	start := time.Now()
	st, err := fetch(ctx, hc, t, o)
	r.Latency = time.Since(start).Seconds()
	if err != nil {
		r.Class, r.Error, r.Note = Unreachable, err.Error(), err.Error()
		return r
	}
	r.Status = st
	r.Class, r.Note = Classify(st)
	return r
}

func fetch(ctx context.Context, hc *http.Client, t Target, o Options) (*api.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/v1/status", nil)
	if err != nil {
		return nil, err
	}
	if len(o.Token) > 0 {
		req.Header.Set("Authorization", "Bearer "+string(o.Token))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, explain(err, o.Timeout)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatus))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", explain(err, o.Timeout))
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, errors.New("token refused (401): check --token-file against the box's health.token_file")
	default:
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	var st api.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("not a shisa status: %w", err)
	}
	return &st, nil
}

// explain shortens the usual network failures to what they mean.
func explain(err error, timeout time.Duration) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Errorf("no answer within %v", timeout)
	case errors.Is(err, context.Canceled):
		return errors.New("poll cancelled")
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("%s: %w", oe.Op, oe.Err)
	}
	return err
}

// Classify says how a box with status st is doing, and why in a few words.
func Classify(st *api.Status) (Class, string) {
	note := strings.Join(st.Problems(), "; ")
	switch {
	case st.Tunnel.State != tunnel.Up:
		return TunnelDown, note
	case st.SafeMode != "":
		return SafeMode, note
	case len(st.Stuck) > 0:
		return Stuck, note
	case st.TimeSync != nil && !st.TimeSync.OK:
		return TimeOffset, note
	case st.SelfCheck != nil && !st.SelfCheck.OK:
		return SelfCheckFailed, note
	case st.UPS.OnBattery():
		return OnBattery, note
	}
	return Healthy, note
}
