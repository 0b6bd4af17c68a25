package itest

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/benchfig"
	"github.com/shisa-gw/shisa/firmware/fleet"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// The management API benchmarks: api_p99_ms, scrape_cpu_ms and
// fleet_poll_500_s. They need no root: loopback and httptest only, with a
// backend that answers what shisad would (a journal on disk, two
// endpoints, a time-sync check, a self-check).

const benchToken = "bench-token-0123456789abcdefghijklmnopqrstuvwxyz"

// benchBackend is an api.ManagementBackend shaped like the daemon's.
type benchBackend struct {
	j       *journal.Journal
	started time.Time
	inv     inventory.Inventory
}

func newBenchBackend(t testing.TB) *benchBackend {
	t.Helper()
	j, err := journal.Open(t.TempDir(), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	for i := range 200 {
		if _, err := j.Append("tunnel.probe", fmt.Sprintf("probe round %d", i), map[string]any{"endpoint": "dc1", "rtt_ms": 12.5}); err != nil {
			t.Fatal(err)
		}
	}
	return &benchBackend{j: j, started: time.Now().Add(-72 * time.Hour), inv: inventory.Read(inventory.Options{Version: "bench"})}
}

func (b *benchBackend) Status() api.Status {
	recent, _ := b.j.Last(10) // as the daemon does
	now := time.Now()
	checks := []api.CheckItem{{Name: "wan_link", OK: true}, {Name: "lan_link", OK: true}, {Name: "default_route", OK: true},
		{Name: "endpoint:dc1", OK: true}, {Name: "endpoint:dc2", OK: true}, {Name: "probe:dc1", OK: true},
		{Name: "ntp", OK: true}, {Name: "free_space", OK: true, Detail: "412 MiB free"}, {Name: "temperature", OK: true, Detail: "48 °C"}}
	return api.Status{
		Site: "hamamatsu-honcho", Unit: "a", Version: "v1.4.0", Role: "active",
		StartedAt: b.started, Uptime: now.Sub(b.started).Seconds(), Backend: "tun", Interface: "wg0",
		Tunnel: tunnel.Status{State: tunnel.Up, Since: b.started, Active: "dc1", Layout: "shared", Failovers: 3, Endpoints: []tunnel.EndpointStatus{
			{Name: "dc1", Endpoint: "192.0.2.2:51820", Health: tunnel.Alive, Active: true, RTT: 12.5, AliveSince: b.started, LastHandshake: now.Add(-37 * time.Second), RxBytes: 81 << 30, TxBytes: 9 << 30},
			{Name: "dc2", Endpoint: "198.51.100.2:51820", Health: tunnel.Alive, RTT: 18.2, AliveSince: b.started, LastHandshake: now.Add(-95 * time.Second), RxBytes: 4 << 20, TxBytes: 4 << 20},
		}},
		TimeSync:  &api.TimeSync{At: now.Add(-4 * time.Minute), OK: true, Offset: 0.0031, MaxOffset: 0.5, Server: "10.20.0.123:123", Stratum: 2, SystemSynced: true},
		SelfCheck: &api.SelfCheck{At: now.Add(-6 * time.Hour), OK: true, Items: checks},
		Runtime:   api.ReadRuntime(),
		Events:    recent,
	}
}

func (b *benchBackend) Events(since uint64, limit int) ([]journal.Record, uint64, error) {
	return b.j.Since(since, limit)
}

func (b *benchBackend) Report(month, format, lang string) (string, []byte, error) {
	return "application/json", []byte(`{"month":"` + month + `"}`), nil
}

func (b *benchBackend) Inventory() inventory.Inventory { return b.inv }
func (b *benchBackend) Metrics(io.Writer)              {}

var _ api.ManagementBackend = (*benchBackend)(nil)

// The api_p99_ms server runs in a child process (this test binary again,
// with envAPIServer set) so that, like shisad, it has one P
// (GOMAXPROCS=1) shared between the API and the tunnel's packet work,
// while the load generator runs apart from it.
const envAPIServer = "SHISA_BENCH_API_SERVER"

// TestBenchAPIServer is the child of TestBenchAPIP99; it skips otherwise.
// It prints "LISTEN host:port", serves the management API while two
// goroutines pass 1420-byte packets to each other, sealing and opening
// each with AES-GCM (the tunnel's crypto and copying, on the same P), and
// prints "MOVED bytes" when its stdin closes.
func TestBenchAPIServer(t *testing.T) {
	if os.Getenv(envAPIServer) == "" {
		t.Skip("the child of TestBenchAPIP99")
	}
	b := newBenchBackend(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	listen := func(network, a string) (net.Listener, error) {
		ln, err := net.Listen(network, a)
		if err == nil {
			addr <- ln.Addr().String()
		}
		return ln, err
	}
	served := make(chan error, 1)
	go func() {
		served <- api.ServeManagement(ctx, []string{"127.0.0.1:0"}, listen, api.ManagementHandler(b, []byte(benchToken), nil))
	}()
	var moved atomic.Int64
	var wg sync.WaitGroup
	mbit, _ := strconv.ParseFloat(os.Getenv(envAPIServer), 64)
	tunnelTraffic(ctx, &wg, &moved, mbit)
	fmt.Printf("LISTEN %s\n", <-addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	wg.Wait()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	fmt.Printf("MOVED %d\n", moved.Load())
}

// tunnelTraffic starts the packet pair: an "encrypt" goroutine seals
// packets and hands them to a "decrypt" goroutine that opens them and
// hands the buffer back, as wireguard-go's pipeline does, until ctx ends.
// mbit > 0 paces it to that rate (a burst every millisecond); 0 runs it
// flat out, saturating the P.
func tunnelTraffic(ctx context.Context, wg *sync.WaitGroup, moved *atomic.Int64, mbit float64) {
	block, _ := aes.NewCipher(make([]byte, 32))
	aead, _ := cipher.NewGCM(block)
	sealed, free := make(chan []byte, 64), make(chan []byte, 64)
	for range 64 {
		free <- make([]byte, 0, 1420+aead.Overhead())
	}
	nonce := make([]byte, aead.NonceSize())
	plain := make([]byte, 1420)
	perMS := int(mbit * 1e6 / 8 / 1000 / 1420) // packets per millisecond
	wg.Go(func() {
		defer close(sealed)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			for i := 0; perMS == 0 || i < perMS; i++ {
				buf := <-free
				sealed <- aead.Seal(buf[:0], nonce, plain, nil)
				if perMS == 0 && ctx.Err() != nil {
					return
				}
			}
			<-tick.C
		}
	})
	wg.Go(func() {
		out := make([]byte, 0, 1420)
		for p := range sealed {
			if _, err := aead.Open(out[:0], nonce, p, nil); err == nil {
				moved.Add(1420)
			}
			free <- p
		}
	})
}

// TestBenchAPIP99 measures api_p99_ms: the management API over TCP on
// loopback at 200 requests/s for 10 s, open loop (each request is sent at
// its scheduled time whatever the others do, and timed from that time),
// while the server's single P also carries tunnel-like packet work.
func TestBenchAPIP99Loopback(t *testing.T) {
	requireBench(t)
	const (
		rate     = 200
		duration = 10 * time.Second
		mbit     = 400 // a fast office line through the tunnel
	)
	lat, got := apiLoad(t, rate, duration, mbit)
	sat, satGot := apiLoad(t, rate, duration, 0)
	fs := benchfig.FromSamples("api_p99_ms_saturated", "ms", sat, 0)
	t.Logf("with the P saturated by packet work (%.0f Mbit/s): p50 %.3f ms, p99 %.3f ms, max %.3f ms", satGot, fs.P50, fs.P99, fs.Max)
	f := benchfig.FromSamples("api_p99_loopback_ms", "ms", lat, 10)
	f.Note = fmt.Sprintf("management API (bearer auth) over loopback TCP, open loop %d req/s for %v (status, status, events, metrics, inventory in turn), timed from each request's scheduled send; server GOMAXPROCS=1 like shisad, sharing its P with an AES-GCM packet pipeline paced at %d Mbit/s (%.0f Mbit/s done); with the pipeline flat out (%.0f Mbit/s, the P saturated) p50 %.1f ms, p99 %.1f ms", rate, duration, mbit, got, satGot, fs.P50, fs.P99)
	writeFigure(t, f)
}

// apiLoad starts the API server child with its packet pipeline at mbit
// (0: flat out), sends rate requests per second for d, and returns each
// request's latency in ms and the pipeline's Mbit/s.
func apiLoad(t *testing.T, rate int, d time.Duration, mbit float64) ([]float64, float64) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run", "^TestBenchAPIServer$", "-test.count=1")
	child.Env = append(os.Environ(), envAPIServer+"="+strconv.FormatFloat(mbit, 'f', -1, 64), "GOMAXPROCS=1")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = child.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	var addr string
	for addr == "" && lines.Scan() {
		addr, _ = strings.CutPrefix(lines.Text(), "LISTEN ")
	}
	if addr == "" {
		t.Fatalf("the API server child did not say where it listens (%v)", lines.Err())
	}

	paths := []string{"/v1/status", "/v1/status", "/v1/events?since=150&limit=50", "/metrics", "/v1/inventory"}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func(p string) error {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+p, nil)
		req.Header.Set("Authorization", "Bearer "+benchToken)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", p, resp.Status)
		}
		return nil
	}
	for _, p := range paths { // warm: connections, the child's first answers
		if err := get(p); err != nil {
			t.Fatal(err)
		}
	}

	n := int(d.Seconds() * float64(rate))
	lat := make([]float64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now().Add(10 * time.Millisecond)
	for i := range n {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		time.Sleep(time.Until(at))
		wg.Go(func() {
			errs[i] = get(paths[i%len(paths)])
			lat[i] = float64(time.Since(at).Microseconds()) / 1000
		})
	}
	wg.Wait()
	t.Logf("%v Mbit/s: load generator finished %v after the schedule", mbit, (time.Since(start) - d).Round(time.Millisecond))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	stdin.Close()
	var moved int64
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "MOVED "); ok {
			moved, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("the API server child: %v", err)
	}
	return lat, float64(moved) * 8 / d.Seconds() / 1e6
}

// TestBenchScrapeCPU measures scrape_cpu_ms: the CPU time of one GET
// /metrics through the management handler (auth, the backend's status
// with its journal read, rendering), 1000 times. Each render is timed with
// the calling thread's CPU clock; getrusage of the whole process around
// all of them (which adds the garbage collector's work on other threads)
// is logged and in the note.
func TestBenchScrapeCPU(t *testing.T) {
	requireBench(t)
	const renders = 1000
	h := api.ManagementHandler(newBenchBackend(t), []byte(benchToken), nil)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+benchToken)
	render := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.Len()
	}
	size := render()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		t.Fatal(err)
	}
	samples := make([]float64, renders)
	var ts0, ts1 unix.Timespec
	wall := time.Now()
	for i := range renders {
		_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts0)
		render()
		_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts1)
		samples[i] = float64(ts1.Nano()-ts0.Nano()) / 1e6
	}
	elapsed := time.Since(wall)
	if err := unix.Getrusage(unix.RUSAGE_SELF, &after); err != nil {
		t.Fatal(err)
	}
	cpu := time.Duration(after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano())
	perRender := cpu.Seconds() * 1e3 / renders
	t.Logf("%d renders of %d bytes in %v wall; getrusage(RUSAGE_SELF): %v CPU, %.3f ms per render", renders, size, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), perRender)
	f := benchfig.FromSamples("scrape_cpu_ms", "ms", samples, 0)
	f.Note = fmt.Sprintf("one GET /metrics through ManagementHandler (auth, Status with a journal read of 10 records, %d-byte render), thread CPU clock per render, %d renders on the build machine (%s); whole-process getrusage: %.3f ms per render", size, renders, runtime.GOARCH, perRender)
	writeFigure(t, f)
}

// TestBenchFleetPoll500 measures fleet_poll_500_s: one fleet.Poll (the
// code of shisactl fleet status, default concurrency 64 and timeout 2 s)
// of 500 boxes, each an httptest server on loopback that checks the token
// and answers a realistic status (the management handler's own answer,
// rendered once: the boxes' work happens on their own CPUs, not the
// poller's); 5 trials, each with fresh connections.
func TestBenchFleetPoll500(t *testing.T) {
	requireBench(t)
	const boxes, trials = 500, 5
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+benchToken)
	api.ManagementHandler(newBenchBackend(t), []byte(benchToken), nil).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status: %d", rec.Code)
	}
	status := rec.Body.Bytes()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+benchToken || r.URL.Path != "/v1/status" {
			http.Error(w, "{}", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(status)
	})
	targets := make([]fleet.Target, boxes)
	for i := range targets {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		targets[i] = fleet.Target{Name: fmt.Sprintf("box-%03d", i), URL: s.URL}
	}
	var samples []float64
	for trial := range trials {
		start := time.Now()
		rs := fleet.Poll(t.Context(), targets, fleet.Options{Token: []byte(benchToken)})
		d := time.Since(start).Seconds()
		samples = append(samples, d)
		for _, r := range rs {
			if r.Class != fleet.Healthy {
				t.Fatalf("trial %d: %s is %s: %s", trial+1, r.Name, r.Class, r.Note)
			}
		}
		t.Logf("trial %d: %d boxes polled in %.3fs", trial+1, len(rs), d)
	}
	f := benchfig.FromSamples("fleet_poll_500_s", "s", samples, 2)
	f.Note = fmt.Sprintf("fleet.Poll (shisactl fleet status: 64 at once, 2 s timeout, fresh connections) of 500 httptest servers on loopback, each checking the token and answering a %d-byte status (2 endpoints, time sync, 9-item self-check, 10 recent events); 5 trials", len(status))
	writeFigure(t, f)
}
