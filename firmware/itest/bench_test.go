package itest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/benchfig"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// requireBench skips unless make bench asked for figures.
func requireBench(t *testing.T) {
	t.Helper()
	if os.Getenv(benchfig.EnvDir) == "" {
		t.Skip("bench: run 'make bench'")
	}
}

func writeFigure(t *testing.T, f benchfig.Figure) {
	t.Helper()
	if err := benchfig.Write(benchfig.Dir(), f); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: n=%d p50=%.3f p99=%.3f max=%.3f %s (target %v) — %s", f.Figure, f.N, f.P50, f.P99, f.Max, f.Unit, f.Target, f.Note)
}

// TestBenchDCFailover measures dc_failover_s: from cutting dc1's WAN link
// to the first UDP echo, sent after the cut, that the cloud answers (through
// dc2), with the default probe settings.
func TestBenchDCFailover(t *testing.T) {
	requireBench(t)
	const (
		trials   = 20
		holdDown = 2 * time.Second // only to get back to dc1 quickly between trials
		every    = 10 * time.Millisecond
		timeout  = 500 * time.Millisecond
	)
	s := newSite(t, siteOptions{HoldDown: holdDown})
	p, _ := s.startShisad()
	s.mustStatus(p, "tunnel up via dc1", upVia("dc1"))
	u := startUDPEcho(t, s.office, udpEchoAddr, every, timeout)
	if _, err := u.await(t, time.Now(), 10*time.Second); err != nil {
		t.Fatalf("UDP echo through dc1: %v", err)
	}

	var samples []float64
	for i := range trials {
		s.wan.SetLink(wanToDC1, false)
		cut := time.Now()
		a, err := u.await(t, cut, 15*time.Second)
		if err != nil {
			t.Fatalf("trial %d: %v", i+1, err)
		}
		d := a.sent.Sub(cut).Seconds()
		samples = append(samples, d)
		s.mustStatus(p, "tunnel up via dc2", upVia("dc2"))

		s.wan.SetLink(wanToDC1, true)
		restored := time.Now()
		s.mustStatus(p, "failback to dc1", upVia("dc1"))
		if _, err := u.await(t, time.Now(), 10*time.Second); err != nil {
			t.Fatalf("trial %d: UDP echo after failback: %v", i+1, err)
		}
		t.Logf("trial %2d: failover %.3fs (echo sent %.3fs after the cut answered %.1fms later); failback %.3fs after restore",
			i+1, d, d, float64(a.recv.Sub(a.sent).Microseconds())/1000, time.Since(restored).Seconds())
	}
	sent, answered := u.counts()
	t.Logf("UDP echo: %d sent, %d answered", sent, answered)
	f := benchfig.FromSamples("dc_failover_s", "s", samples, 3)
	f.Note = fmt.Sprintf("namespaces, shisad tun backend, default probes (500ms × 3 misses); cut dc1's WAN link → first answered UDP echo sent after the cut (10 ms apart); hold_down %v between trials", holdDown)
	writeFigure(t, f)
}

// TestBenchStartToHandshake measures start_to_handshake_s: from just
// before shisad is exec'd to its first WireGuard handshake, as the API's
// endpoints report it (the handshake's own time, however late it is read).
func TestBenchStartToHandshake(t *testing.T) {
	requireBench(t)
	const trials = 10
	s := newSite(t, siteOptions{})
	var samples []float64
	for i := range trials {
		p, start := s.startShisad()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		st, err := s.waitStatus(ctx, p, 5*time.Millisecond, "first handshake", func(st *api.Status) bool {
			return !firstHandshake(st).IsZero()
		})
		cancel()
		if err != nil {
			t.Fatalf("trial %d: %v\n%s", i+1, err, p.Output())
		}
		hs := firstHandshake(st)
		d := hs.Sub(start).Seconds()
		samples = append(samples, d)
		t.Logf("trial %2d: first handshake %.3fs after start (seen by the API %.3fs after start)", i+1, d, time.Since(start).Seconds())
		if err := stopShisad(p, 10*time.Second); err != nil {
			t.Fatalf("trial %d: SIGTERM: %v\n%s", i+1, err, p.Output())
		}
	}
	f := benchfig.FromSamples("start_to_handshake_s", "s", samples, 1)
	f.Note = "namespaces, shisad tun backend; wall clock just before exec (through ip netns exec) → earliest endpoint last_handshake in the API"
	writeFigure(t, f)
}

// TestBenchFootprint measures rss_mb and goroutines of shisad in steady
// state: after 10 s with a TCP transfer running through the tunnel, once a
// second for 5 s.
func TestBenchFootprint(t *testing.T) {
	requireBench(t)
	s := newSite(t, siteOptions{})
	var env []string
	if v := os.Getenv("SHISA_BENCH_ENV"); v != "" {
		env = strings.Fields(v)
	}
	p, _ := s.startShisad(env...)
	s.mustStatus(p, "tunnel up via dc1", upVia("dc1"))
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid)); err != nil || strings.TrimSpace(string(comm)) != "shisad" {
		t.Fatalf("pid %d is not shisad (comm %q, %v): ip netns exec did not exec in place?", p.Pid, comm, err)
	}

	// Steady state: the tunnel up, probes and keepalives running, no
	// office traffic: what the box spends most of its life doing.
	// sample reads shisad's VmRSS (MB), threads and runtime figures.
	sample := func() (mb float64, threads int, rt api.Runtime) {
		kb, th, err := procStatus(p.Pid)
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(t.Context(), 2*time.Second)
		st, err := s.api.Status(sctx)
		scancel()
		if err != nil {
			t.Fatal(err)
		}
		return float64(kb) * 1024 / 1e6, th, st.Runtime
	}
	var idle, idleGor []float64
	idleTick := time.NewTicker(time.Second)
	for range 6 {
		<-idleTick.C
		mb, th, rt := sample()
		idle = append(idle, mb)
		idleGor = append(idleGor, float64(rt.Goroutines))
		t.Logf("idle, tunnel up: VmRSS %.2f MB, threads %d, goroutines %d", mb, th, rt.Goroutines)
	}
	idleTick.Stop()
	f := benchfig.FromSamples("rss_mb", "MB", idle, 20)
	f.Note = "VmRSS of shisad (tun backend) in steady state: tunnel up, probes every 500 ms, no office traffic; 6 samples 1 s apart; 1 MB = 10^6 bytes"
	writeFigure(t, f)
	g := benchfig.FromSamples("goroutines", "count", idleGor, 0)
	g.Note = "api.Status runtime.goroutines of shisad, same samples as rss_mb"
	writeFigure(t, g)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var moved atomic.Int64
	var transferErr error
	wg.Go(func() { transferErr = transferLoop(ctx, s.office, &moved) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	start := time.Now()
	steady := time.NewTimer(10 * time.Second)
	select {
	case <-steady.C:
	case <-p.Done():
		t.Fatalf("shisad exited: %v\n%s", p.Wait(), p.Output())
	}
	var rss, gor []float64
	var threads []int
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range 6 {
		mb, th, rt := sample()
		rss = append(rss, mb)
		gor = append(gor, float64(rt.Goroutines))
		threads = append(threads, th)
		t.Logf("%.1fs: VmRSS %.2f MB, threads %d, goroutines %d, Go heap %.1f MiB, Go sys %.1f MiB",
			time.Since(start).Seconds(), mb, th, rt.Goroutines, rt.HeapMB, rt.SysMB)
		<-tick.C
	}
	cancel()
	wg.Wait()
	if transferErr != nil {
		t.Fatalf("transfer during the measurement: %v", transferErr)
	}
	mbit := float64(moved.Load()) * 8 / time.Since(start).Seconds() / 1e6
	t.Logf("transfer: %d MiB in %.1fs (%.0f Mbit/s)", moved.Load()>>20, time.Since(start).Seconds(), mbit)

	f = benchfig.FromSamples("rss_loaded_mb", "MB", rss, 20)
	f.Note = fmt.Sprintf("VmRSS of shisad (tun backend, soft memory limit 16 MiB above the heap after start), 6 samples 1 s apart after 10 s of a saturating TCP transfer through the tunnel (%.0f Mbit/s); threads %v; goroutines %v", mbit, threads, gor)
	writeFigure(t, f)
}

// transferLoop streams 32 MiB transfers from the office to the sink until
// ctx ends, adding what it moved to moved.
func transferLoop(ctx context.Context, office *netnstest.NS, moved *atomic.Int64) error {
	const size = 32 << 20
	for ctx.Err() == nil {
		c, err := office.DialTCP(ctx, sinkAddr)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if _, err := netnstest.Sink(ctx, c, size); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		moved.Add(size)
	}
	return nil
}

// procStatus reads VmRSS (kB) and Threads of pid.
func procStatus(pid int) (rssKB int64, threads int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var haveRSS, haveThreads bool
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB, err = strconv.ParseInt(fs[0], 10, 64)
			haveRSS = err == nil
		case "Threads":
			threads, err = strconv.Atoi(fs[0])
			haveThreads = err == nil
		}
	}
	if !haveRSS || !haveThreads {
		return 0, 0, errors.Join(fmt.Errorf("/proc/%d/status: no VmRSS or Threads", pid), sc.Err())
	}
	return rssKB, threads, nil
}

// firstHandshake is the earliest non-zero last handshake of st's endpoints.
func firstHandshake(st *api.Status) time.Time {
	var first time.Time
	for _, e := range st.Tunnel.Endpoints {
		if !e.LastHandshake.IsZero() && (first.IsZero() || e.LastHandshake.Before(first)) {
			first = e.LastHandshake
		}
	}
	return first
}

// SHISA_BENCH_ENV (VAR=value ...) adds to shisad's environment in the
// footprint and idle benches, for experiments such as GOMAXPROCS=2.

// TestBenchIdle measures idle_cpu_pct and wakeups_per_s: shisad with the
// tunnel up (probes every 500 ms to both endpoints, keepalives, watchdog)
// and no office traffic, over 6 windows of 10 s. CPU is utime+stime of all
// its threads (/proc/PID/stat); wakeups are the context switches of all its
// threads (/proc/PID/task/*/status), voluntary and not. Timers cost battery
// and, through logs, flash on a small box.
func TestBenchIdle(t *testing.T) {
	requireBench(t)
	s := newSite(t, siteOptions{})
	var env []string
	if v := os.Getenv("SHISA_BENCH_ENV"); v != "" {
		env = strings.Fields(v)
	}
	p, _ := s.startShisad(env...)
	s.mustStatus(p, "tunnel up via dc1", upVia("dc1"))
	time.Sleep(3 * time.Second)     // past the start-up work
	const window = 10 * time.Second // USER_HZ ticks are 10 ms: 0.1% resolution
	var cpu, wake []float64
	prevCPU, err := procCPU(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	prevSw, err := procSwitches(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	prevT := time.Now()
	for range 6 {
		time.Sleep(window)
		c, err := procCPU(p.Pid)
		if err != nil {
			t.Fatal(err)
		}
		sw, err := procSwitches(p.Pid)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		el := now.Sub(prevT).Seconds()
		cpu = append(cpu, (c-prevCPU).Seconds()/el*100)
		wake = append(wake, float64(sw-prevSw)/el)
		prevCPU, prevSw, prevT = c, sw, now
	}
	f := benchfig.FromSamples("idle_cpu_pct", "%", cpu, 1)
	f.Note = "CPU of shisad (all threads) as % of one core, tunnel up, no office traffic, 6 windows of 10 s; probes every 500 ms to the active endpoint, every 1 s to the standby; GOMAXPROCS=1 (shisad's default)"
	writeFigure(t, f)
	w := benchfig.FromSamples("wakeups_per_s", "1/s", wake, 0)
	w.Note = "context switches per second of all shisad threads (voluntary + involuntary), same windows"
	writeFigure(t, w)
}

// procCPU is utime+stime of the whole process.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	fs := strings.Fields(rest)
	if len(fs) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(fs[11], 10, 64)
	st, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// procSwitches sums the context switches of every thread of pid.
func procSwitches(pid int) (int64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue // the thread exited
		}
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n, nil
}
