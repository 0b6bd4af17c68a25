package itest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/benchfig"
	"github.com/shisa-gw/shisa/firmware/ha"
)

// TestBenchHAFailover measures ha_failover_s: from SIGKILL of the active
// unit's shisad to the first UDP datagram from the office host, sent after
// the kill, that the datacenter's service answers (through the standby),
// with the default pair settings (10 ms heartbeats, dead after 15). The
// killed unit is started again and becomes the standby of the next trial,
// so the trials alternate between the units.
func TestBenchHAFailover(t *testing.T) {
	requireBench(t)
	const (
		trials  = 20
		every   = 5 * time.Millisecond
		timeout = 500 * time.Millisecond
	)
	ps := newPairSite(t)
	active, standby := ps.units[0], ps.units[1]
	ps.startPair()
	u := startUDPEcho(t, ps.office, udpEchoAddr, every, timeout)
	if _, err := u.await(t, time.Now(), 10*time.Second); err != nil {
		t.Fatalf("UDP echo: %v", err)
	}
	var samples []float64
	for i := range trials {
		if err := active.proc.Kill(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		kill := time.Now()
		a, err := u.await(t, kill, 10*time.Second)
		if err != nil {
			t.Fatalf("trial %d: %v", i+1, err)
		}
		d := a.sent.Sub(kill).Seconds()
		samples = append(samples, d)
		<-active.proc.Done()
		ps.wait(standby, "the standby active", 10*time.Second, activeWithTunnel)
		ps.start(active)
		ps.wait(active, "the killed unit back as standby", 20*time.Second, standbyWithPeer)
		t.Logf("trial %2d: unit %s killed, first echo through %s sent %.3fs after the kill, answered %.1fms later",
			i+1, active.name, standby.name, d, float64(a.recv.Sub(a.sent).Microseconds())/1000)
		active, standby = standby, active
	}
	sent, answered := u.counts()
	t.Logf("UDP echo: %d sent, %d answered", sent, answered)
	f := benchfig.FromSamples("ha_failover_s", "s", samples, 0.5)
	f.Note = fmt.Sprintf("namespaces, two shisad units on a LAN bridge, tun backend, default pair settings (10 ms heartbeats × 15); SIGKILL of the active → first UDP echo from the office (every %v) sent after the kill and answered through the standby", every)
	writeFigure(t, f)
}

// TestBenchHAFalseFailovers measures ha_false_failovers: role changes in
// a healthy pair while nftables in both units drops 30% of the heartbeats
// at random, over SHISA_HA_SOAK (default 10m). Any change of the active
// unit is a false failover.
func TestBenchHAFalseFailovers(t *testing.T) {
	requireBench(t)
	soak := 10 * time.Minute
	if v := os.Getenv("SHISA_HA_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SHISA_HA_SOAK=%q: %v", v, err)
		}
		soak = d
	}
	ps := newPairSite(t)
	a, b := ps.units[0], ps.units[1]
	ps.startPair()

	rules := fmt.Sprintf(`table inet hbloss {
 chain in {
  type filter hook input priority 0; policy accept;
  udp dport %d numgen random mod 100 < 30 counter drop
  udp dport %d counter accept
 }
}
`, pairPort, pairPort)
	for _, x := range ps.units {
		nft(t, x.ns, rules)
	}
	activations := func() (int, int) {
		sa := ps.wait(a, "a's status", 5*time.Second, isRole(ha.Active))
		sb := ps.wait(b, "b's status", 5*time.Second, isRole(ha.Standby))
		return sa.Pair.Activations + sb.Pair.Activations, sa.Pair.Freezes + sb.Pair.Freezes
	}
	act0, frz0 := activations()
	start := time.Now()
	changes := 0
	for time.Since(start) < soak {
		time.Sleep(time.Second)
		sa, errA := a.api.Status(t.Context())
		sb, errB := b.api.Status(t.Context())
		if errA != nil || errB != nil {
			t.Fatalf("status: %v %v", errA, errB)
		}
		if sa.Pair.Role != ha.Active || sb.Pair.Role != ha.Standby {
			changes++
			t.Logf("%.0fs: a %s, b %s", time.Since(start).Seconds(), describePair(sa), describePair(sb))
		}
	}
	act1, frz1 := activations()
	dropped, passed := 0, 0
	for _, x := range ps.units {
		out, err := x.ns.Exec(t.Context(), "nft", "list", "table", "inet", "hbloss")
		if err != nil {
			t.Fatalf("nft list: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`packets (\d+) bytes \d+ (drop|accept)`).FindAllStringSubmatch(string(out), -1)
		for _, g := range m {
			n, _ := strconv.Atoi(g[1])
			if g[2] == "drop" {
				dropped += n
			} else {
				passed += n
			}
		}
	}
	lossPct := 100 * float64(dropped) / float64(max(1, dropped+passed))
	falseFailovers := float64(act1 - act0)
	t.Logf("%v soak: %d heartbeats dropped, %d passed (%.1f%% loss); activations +%d, freezes +%d, role changes seen in 1 s polls: %d",
		soak, dropped, passed, lossPct, act1-act0, frz1-frz0, changes)
	if dropped == 0 {
		t.Fatal("nftables dropped no heartbeat: the loss was not applied")
	}
	f := benchfig.FromSamples("ha_false_failovers", "count", []float64{falseFailovers}, 0)
	f.TargetOp = benchfig.OpAtMost // target: none at all
	f.Note = fmt.Sprintf("two shisad units, default pair settings, %v with %.1f%% of heartbeats dropped at random both ways (nftables numgen in each unit: %d dropped of %d); counts activations beyond the first", soak, lossPct, dropped, dropped+passed)
	writeFigure(t, f)
}

// TestBenchHAIdle measures ha_idle_cpu_pct: the CPU of each unit of an idle
// pair (100 heartbeats a second each way, health tracking every 50 ms), as
// a percentage of one core, over 6 windows of 10 s per unit.
func TestBenchHAIdle(t *testing.T) {
	requireBench(t)
	ps := newPairSite(t)
	ps.startPair()
	time.Sleep(3 * time.Second)
	const window = 10 * time.Second
	var samples []float64
	var byUnit [2][]float64
	prev := [2]time.Duration{}
	for i, u := range ps.units {
		c, err := procCPU(u.proc.Pid)
		if err != nil {
			t.Fatal(err)
		}
		prev[i] = c
	}
	prevT := time.Now()
	for range 6 {
		time.Sleep(window)
		now := time.Now()
		for i, u := range ps.units {
			c, err := procCPU(u.proc.Pid)
			if err != nil {
				t.Fatal(err)
			}
			pct := (c - prev[i]).Seconds() / now.Sub(prevT).Seconds() * 100
			samples = append(samples, pct)
			byUnit[i] = append(byUnit[i], pct)
			prev[i] = c
		}
		prevT = now
	}
	t.Logf("active a: %v; standby b: %v (%% of one core per 10 s window)", byUnit[0], byUnit[1])
	f := benchfig.FromSamples("ha_idle_cpu_pct", "%", samples, 5)
	f.Note = "CPU of each shisad of an idle pair (active with its tunnel, and standby), % of one core, 6 windows of 10 s per unit; 10 ms heartbeats both ways, health tracking every 50 ms, GOMAXPROCS=1; perf shows about half of it in the kernel sending over veth and the bridge (the receiving side's softirq runs in the sender's context) and in the runtime's sysmon"
	writeFigure(t, f)
}
