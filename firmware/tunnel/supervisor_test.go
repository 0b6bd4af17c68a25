package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// fakeNet is a WireGuard device and the datacenter behind it: a probe is
// answered when the peer whose allowed IPs hold the probe address points at
// an endpoint that is up. It models both key layouts faithfully because it
// routes by the device's own configuration, as WireGuard does.
type fakeNet struct {
	mu       sync.Mutex
	up       map[string]bool // endpoint host:port → answering
	peers    []wgtypes.Peer
	configs  int
	replaces int                // configs that replaced every peer
	pings    map[netip.Addr]int // probes sent, by destination
}

func newFakeNet(endpoints ...string) *fakeNet {
	n := &fakeNet{up: map[string]bool{}}
	for _, e := range endpoints {
		n.up[e] = true
	}
	return n
}

func (n *fakeNet) set(ep string, up bool) {
	n.mu.Lock()
	n.up[ep] = up
	n.mu.Unlock()
}

func (n *fakeNet) Configure(cfg wgtypes.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.configs++
	if cfg.ReplacePeers {
		n.peers = nil
		n.replaces++
	}
	for _, pc := range cfg.Peers {
		i := slices.IndexFunc(n.peers, func(p wgtypes.Peer) bool { return p.PublicKey == pc.PublicKey })
		if pc.Remove {
			if i >= 0 {
				n.peers = slices.Delete(n.peers, i, i+1)
			}
			continue
		}
		if i < 0 {
			if pc.UpdateOnly {
				continue
			}
			n.peers = append(n.peers, wgtypes.Peer{PublicKey: pc.PublicKey})
			i = len(n.peers) - 1
		}
		p := &n.peers[i]
		if pc.Endpoint != nil {
			p.Endpoint = pc.Endpoint
		}
		if pc.ReplaceAllowedIPs {
			p.AllowedIPs = nil
		}
		for _, a := range pc.AllowedIPs {
			// WireGuard's allowed IPs are exclusive: a prefix moves.
			for j := range n.peers {
				n.peers[j].AllowedIPs = slices.DeleteFunc(n.peers[j].AllowedIPs, func(b net.IPNet) bool { return b.String() == a.String() })
			}
			p.AllowedIPs = append(p.AllowedIPs, a)
		}
	}
	return nil
}

func (n *fakeNet) Device() (*wgtypes.Device, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return &wgtypes.Device{Peers: slices.Clone(n.peers)}, nil
}

// route returns the peer index whose allowed IPs hold dst (longest match).
func (n *fakeNet) routeLocked(dst netip.Addr) int {
	best, bits := -1, -1
	for i, p := range n.peers {
		for _, a := range p.AllowedIPs {
			pfx, _ := netip.ParsePrefix(a.String())
			if pfx.Contains(dst) && pfx.Bits() > bits {
				best, bits = i, pfx.Bits()
			}
		}
	}
	return best
}

// carrier returns the endpoint that traffic to dst leaves through.
func (n *fakeNet) carrier(dst netip.Addr) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := n.routeLocked(dst)
	if i < 0 || n.peers[i].Endpoint == nil {
		return ""
	}
	return n.peers[i].Endpoint.String()
}

func (n *fakeNet) Ping(ctx context.Context, src, dst netip.Addr) (time.Duration, error) {
	n.mu.Lock()
	if n.pings == nil {
		n.pings = map[netip.Addr]int{}
	}
	n.pings[dst]++
	i := n.routeLocked(dst)
	ok := i >= 0 && n.peers[i].Endpoint != nil && n.up[n.peers[i].Endpoint.String()]
	if ok {
		n.peers[i].LastHandshakeTime = time.Now()
	}
	n.mu.Unlock()
	if ok {
		time.Sleep(2 * time.Millisecond)
		return 2 * time.Millisecond, nil
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

type eventRec struct {
	mu     sync.Mutex
	events []string
	times  []time.Time
}

func (r *eventRec) Event(kind, msg string, fields map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, kind)
	r.times = append(r.times, time.Now())
}

func (r *eventRec) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := 0
	for _, e := range r.events {
		if e == kind {
			c++
		}
	}
	return c
}

func (r *eventRec) last(kind string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i] == kind {
			return r.times[i]
		}
	}
	return time.Time{}
}

const (
	ep1 = "192.0.2.1:51820"
	ep2 = "192.0.2.2:51820"
)

var cloud = netip.MustParsePrefix("10.20.0.0/16")
var service = netip.MustParseAddr("10.20.0.10")

func keyN(t *testing.T, n byte) wgtypes.Key {
	var k wgtypes.Key
	k[0] = n
	return k
}

type rig struct {
	t      *testing.T
	net    *fakeNet
	ev     *eventRec
	sup    *Supervisor
	cancel context.CancelFunc
	done   chan error
}

// start runs a supervisor over the fake net; shared selects one key for both
// endpoints.
func start(t *testing.T, shared bool, mod func(*Options)) *rig {
	t.Helper()
	fn := newFakeNet(ep1, ep2)
	k2 := keyN(t, 2)
	probe2 := netip.MustParseAddr("10.99.0.2")
	if shared {
		k2 = keyN(t, 1)
		probe2 = netip.MustParseAddr("10.99.0.1")
	}
	ev := &eventRec{}
	opts := Options{
		Source: netip.MustParseAddr("10.99.1.2"),
		Endpoints: []Endpoint{
			{Name: "dc1", Endpoint: ep1, Key: keyN(t, 1), Probe: netip.MustParseAddr("10.99.0.1")},
			{Name: "dc2", Endpoint: ep2, Key: k2, Probe: probe2},
		},
		Routes:   []netip.Prefix{cloud},
		Interval: 500 * time.Millisecond,
		Misses:   3, Rise: 3,
		HoldDown: 60 * time.Second,
		Device:   fn, Pinger: fn, Events: ev,
	}
	if mod != nil {
		mod(&opts)
	}
	sup, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, net: fn, ev: ev, sup: sup, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- sup.Run(ctx) }()
	return r
}

func (r *rig) stop() error {
	r.cancel()
	return <-r.done
}

func TestStartsOnPreferredEndpoint(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := start(t, shared, nil)
				time.Sleep(2 * time.Second)
				st := r.sup.Status()
				assert.Equal(t, Up, st.State)
				assert.Equal(t, "dc1", st.Active)
				assert.Equal(t, ep1, r.net.carrier(service), "cloud traffic must leave through dc1")
				assert.Equal(t, 0, r.ev.count("tunnel.failover"))
				require.NoError(t, r.stop())
				dev, _ := r.net.Device()
				assert.Empty(t, dev.Peers, "stop removes the datacenter peers")
				assert.Equal(t, Stopped, r.sup.Status().State)
			})
		})
	}
}

// A hot-standby unit runs the supervisor only while it is active: a second
// Run after a stop configures the peers again and starts afresh from the
// preferred endpoint, whatever the first run had learned.
func TestRunAgainAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		r.net.set(ep1, false)
		time.Sleep(5 * time.Second)
		require.Equal(t, "dc2", r.sup.Status().Active, "dc1 is cut: the first run fails over")
		require.NoError(t, r.stop())
		dev, _ := r.net.Device()
		require.Empty(t, dev.Peers)

		r.net.set(ep1, true)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.sup.Run(ctx) }()
		time.Sleep(2 * time.Second)
		st := r.sup.Status()
		assert.Equal(t, Up, st.State)
		assert.Equal(t, "dc1", st.Active, "a new run starts from the preferred endpoint, not where the last one ended")
		assert.Equal(t, ep1, r.net.carrier(service), "the peers are configured again")
		cancel()
		require.NoError(t, <-done)
		dev, _ = r.net.Device()
		assert.Empty(t, dev.Peers)
	})
}

// Rekey replaces the peers once (a fresh handshake follows) and changes
// nothing else: the tunnel stays up on the same endpoint.
func TestRekey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		time.Sleep(2 * time.Second)
		r.net.mu.Lock()
		before := r.net.replaces
		r.net.mu.Unlock()
		require.Equal(t, 1, before, "the first round writes the whole peer set")
		r.sup.Rekey()
		time.Sleep(2 * time.Second)
		r.net.mu.Lock()
		after := r.net.replaces
		r.net.mu.Unlock()
		assert.Equal(t, 2, after, "one Rekey, one more replacement")
		st := r.sup.Status()
		assert.Equal(t, Up, st.State)
		assert.Equal(t, "dc1", st.Active)
		assert.Equal(t, 0, r.ev.count("tunnel.failover"))
		require.NoError(t, r.stop())
	})
}

func TestFailoverAfterMisses(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := start(t, shared, nil)
				time.Sleep(3 * time.Second)
				require.Equal(t, Up, r.sup.Status().State)

				cut := time.Now()
				r.net.set(ep1, false)
				// Two misses are not enough.
				time.Sleep(1 * time.Second)
				assert.Equal(t, ep1, r.net.carrier(service), "no failover before the miss budget is spent")
				time.Sleep(2 * time.Second)
				assert.Equal(t, ep2, r.net.carrier(service), "cloud traffic moved to dc2")
				at := r.ev.last("tunnel.failover")
				require.False(t, at.IsZero(), "a failover event was journaled")
				d := at.Sub(cut)
				// misses × interval, plus at most one interval of phase.
				assert.GreaterOrEqual(t, d, 1*time.Second)
				assert.LessOrEqual(t, d, 2*time.Second+50*time.Millisecond, "detection took %s", d)
				assert.Equal(t, "dc2", r.sup.Status().Active)
				time.Sleep(2 * time.Second)
				assert.Equal(t, Up, r.sup.Status().State)
				require.NoError(t, r.stop())
			})
		})
	}
}

func TestFailbackAfterHoldDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(5 * time.Second)
		require.Equal(t, "dc2", r.sup.Status().Active)

		back := time.Now()
		r.net.set(ep1, true)
		time.Sleep(59 * time.Second)
		assert.Equal(t, ep2, r.net.carrier(service), "no failback before the hold-down")
		time.Sleep(5 * time.Second)
		assert.Equal(t, ep1, r.net.carrier(service), "failback to dc1 after the hold-down")
		at := r.ev.last("tunnel.failback")
		require.False(t, at.IsZero())
		assert.GreaterOrEqual(t, at.Sub(back), 60*time.Second)
		assert.Equal(t, 1, r.ev.count("tunnel.failover"))
		assert.Equal(t, 1, r.ev.count("tunnel.failback"))
		require.NoError(t, r.stop())
	})
}

func TestFlappingPrimaryNeverMovesTheSite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(5 * time.Second)
		require.Equal(t, "dc2", r.sup.Status().Active)
		switches := r.ev.count("tunnel.failover") + r.ev.count("tunnel.failback")

		// dc1 flaps: 20 s up, 5 s down, for ten minutes. It becomes alive
		// again and again, but never for a whole hold-down.
		for range 24 {
			r.net.set(ep1, true)
			time.Sleep(20 * time.Second)
			r.net.set(ep1, false)
			time.Sleep(5 * time.Second)
		}
		assert.Equal(t, switches, r.ev.count("tunnel.failover")+r.ev.count("tunnel.failback"), "the site moved while dc1 flapped")
		assert.Greater(t, r.ev.count("endpoint.alive"), 10, "dc1 was seen coming back each time")
		assert.Equal(t, ep2, r.net.carrier(service))
		require.NoError(t, r.stop())
	})
}

func TestAllDeadThenRecover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		r.net.set(ep2, false)
		time.Sleep(5 * time.Second)
		assert.Equal(t, Down, r.sup.Status().State)
		assert.Equal(t, 1, r.ev.count("tunnel.down"))
		r.net.set(ep2, true)
		time.Sleep(3 * time.Second)
		st := r.sup.Status()
		assert.Equal(t, Up, st.State)
		assert.Equal(t, "dc2", st.Active)
		require.NoError(t, r.stop())
	})
}

func TestStaleHandshakeIsDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stale := &staleDevice{fakeNet: newFakeNet(ep1, ep2)}
		r := start(t, false, func(o *Options) {
			o.Device = stale
			o.Pinger = stale.fakeNet
			o.HandshakeTimeout = 30 * time.Second
		})
		time.Sleep(3 * time.Second)
		require.Equal(t, "dc1", r.sup.Status().Active)
		// dc1's probes are answered, but its session is not renewed: the
		// handshake ages past the timeout and dc1 is judged dead.
		stale.freeze(keyN(t, 1))
		time.Sleep(35 * time.Second)
		assert.Equal(t, "dc2", r.sup.Status().Active)
		assert.GreaterOrEqual(t, r.ev.count("endpoint.dead"), 1)
		require.NoError(t, r.stop())
	})
}

// staleDevice reports a frozen handshake time for one peer.
type staleDevice struct {
	*fakeNet
	mu     sync.Mutex
	frozen map[wgtypes.Key]time.Time
}

func (d *staleDevice) freeze(k wgtypes.Key) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frozen == nil {
		d.frozen = map[wgtypes.Key]time.Time{}
	}
	d.frozen[k] = time.Now()
}

func (d *staleDevice) Device() (*wgtypes.Device, error) {
	dev, err := d.fakeNet.Device()
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, p := range dev.Peers {
		if t, ok := d.frozen[p.PublicKey]; ok {
			dev.Peers[i].LastHandshakeTime = t
		}
	}
	return dev, err
}

func TestSharedKeyFailbackTrial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, true, nil)
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(5 * time.Second)
		require.Equal(t, ep2, r.net.carrier(service))

		// dc1 is still dead at the first trial: back to dc2 within the miss
		// budget, and the next trial waits twice the hold-down.
		time.Sleep(60 * time.Second)
		require.Equal(t, 1, r.ev.count("tunnel.failback_trial"))
		time.Sleep(3 * time.Second)
		assert.Equal(t, 1, r.ev.count("tunnel.failback_failed"))
		assert.Equal(t, ep2, r.net.carrier(service))
		time.Sleep(90 * time.Second)
		assert.Equal(t, 1, r.ev.count("tunnel.failback_trial"), "second trial must wait twice the hold-down")

		r.net.set(ep1, true)
		time.Sleep(60 * time.Second)
		assert.Equal(t, 2, r.ev.count("tunnel.failback_trial"))
		assert.Equal(t, 1, r.ev.count("tunnel.failback"))
		assert.Equal(t, ep1, r.net.carrier(service))
		assert.Equal(t, "dc1", r.sup.Status().Active)
		assert.Equal(t, Up, r.sup.Status().State)
		require.NoError(t, r.stop())
	})
}

func TestNoFailback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, func(o *Options) { o.NoFailback = true })
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(5 * time.Second)
		r.net.set(ep1, true)
		time.Sleep(5 * time.Minute)
		assert.Equal(t, "dc2", r.sup.Status().Active)
		assert.Equal(t, 0, r.ev.count("tunnel.failback"))
		require.NoError(t, r.stop())
	})
}

func TestNewRejects(t *testing.T) {
	fn := newFakeNet()
	k := keyN(t, 1)
	src := netip.MustParseAddr("10.99.1.2")
	for name, o := range map[string]Options{
		"no device":    {Pinger: fn, Source: src, Endpoints: []Endpoint{{Name: "a", Key: k}}},
		"no endpoints": {Device: fn, Pinger: fn, Source: src},
		"no source":    {Device: fn, Pinger: fn, Endpoints: []Endpoint{{Name: "a", Key: k}}},
		"half shared": {Device: fn, Pinger: fn, Source: src, Endpoints: []Endpoint{
			{Name: "a", Key: k}, {Name: "b", Key: k}, {Name: "c", Key: keyN(t, 3)}}},
	} {
		_, err := New(o)
		assert.Error(t, err, name)
		assert.True(t, strings.HasPrefix(err.Error(), "tunnel: "), name)
	}
}

func TestDeadEndpointNeedsRiseAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(3 * time.Second)
		require.Equal(t, 1, r.ev.count("endpoint.dead"))
		alive := r.ev.count("endpoint.alive")
		// dc1 is now a standby, probed every second: two answers (rise is
		// 3) do not make it alive again, three do.
		r.net.set(ep1, true)
		time.Sleep(1900 * time.Millisecond)
		r.net.set(ep1, false)
		time.Sleep(4 * time.Second)
		assert.Equal(t, alive, r.ev.count("endpoint.alive"))
		r.net.set(ep1, true)
		time.Sleep(3100 * time.Millisecond)
		assert.Equal(t, alive+1, r.ev.count("endpoint.alive"))
		require.NoError(t, r.stop())
	})
}

func TestStandbyIsProbedEverySecondRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		time.Sleep(60 * time.Second)
		r.net.mu.Lock()
		active, standby := r.net.pings[netip.MustParseAddr("10.99.0.1")], r.net.pings[netip.MustParseAddr("10.99.0.2")]
		r.net.mu.Unlock()
		assert.InDelta(t, 120, active, 2, "the active endpoint every 500 ms")
		assert.InDelta(t, 60, standby, 2, "the standby every second round")
		require.NoError(t, r.stop())
	})
}

// A primary whose blips are shorter than a dead verdict needs (3 misses at
// the standby's 1 s probing) is never declared dead, but it must not be
// failed back to either: every missed probe restarts the hold-down.
func TestBlippingPrimaryIsNotFailedBackTo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, false, nil)
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(5 * time.Second)
		require.Equal(t, "dc2", r.sup.Status().Active)
		r.net.set(ep1, true)
		time.Sleep(5 * time.Second)
		deadBefore := r.ev.count("endpoint.dead")
		// 1.5 s blips every 20 s for ten minutes.
		for range 30 {
			r.net.set(ep1, false)
			time.Sleep(1500 * time.Millisecond)
			r.net.set(ep1, true)
			time.Sleep(18500 * time.Millisecond)
		}
		assert.Equal(t, deadBefore, r.ev.count("endpoint.dead"), "the blips are shorter than a dead verdict")
		assert.Equal(t, 0, r.ev.count("tunnel.failback"), "but each restarts the hold-down")
		assert.Equal(t, "dc2", r.sup.Status().Active)
		// Healthy for a whole hold-down: now it fails back.
		time.Sleep(65 * time.Second)
		assert.Equal(t, 1, r.ev.count("tunnel.failback"))
		assert.Equal(t, "dc1", r.sup.Status().Active)
		require.NoError(t, r.stop())
	})
}

// When every shared-key front door is dead (a WAN outage), the supervisor
// must not journal a failover every few seconds: it tries them in turn with
// a growing gap, quietly, and journals the recovery.
func TestSharedAllDeadDoesNotChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, true, nil)
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		r.net.set(ep2, false)
		time.Sleep(10 * time.Minute)
		r.ev.mu.Lock()
		n := len(r.ev.events)
		r.ev.mu.Unlock()
		assert.LessOrEqual(t, r.ev.count("tunnel.failover"), 2, "one failover per front door, then quiet retries")
		assert.LessOrEqual(t, n, 12, "ten minutes of outage are a handful of records, not hundreds: %v", r.ev.events)
		r.net.mu.Lock()
		configs := r.net.configs
		r.net.mu.Unlock()
		assert.Less(t, configs, 40, "retries are spaced out (up to 5 min apart)")
		assert.Equal(t, Down, r.sup.Status().State)

		// The WAN comes back: the next retry finds a front door.
		r.net.set(ep1, true)
		r.net.set(ep2, true)
		time.Sleep(6 * time.Minute)
		assert.Equal(t, Up, r.sup.Status().State)
		require.NoError(t, r.stop())
	})
}

// An endpoint whose name does not resolve must not make the supervisor
// replace the peers (and drop the working session) every round; when the
// name resolves, only that peer is added.
func TestUnresolvedEndpointIsAddedLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		resolvable := false
		lookups := 0
		r := start(t, false, func(o *Options) {
			o.Endpoints[1].Endpoint = "dc2.example:51820"
			o.Resolve = func(ctx context.Context, hp string) (netip.AddrPort, error) {
				mu.Lock()
				defer mu.Unlock()
				lookups++
				if !resolvable {
					return netip.AddrPort{}, fmt.Errorf("lookup %s: no such host", hp)
				}
				return netip.MustParseAddrPort(ep2), nil
			}
		})
		time.Sleep(2 * time.Minute)
		r.net.mu.Lock()
		configs := r.net.configs
		r.net.mu.Unlock()
		assert.Equal(t, 1, configs, "one configure at start, no ReplacePeers churn")
		mu.Lock()
		assert.LessOrEqual(t, lookups, 6, "lookups every 30 s, not every round")
		resolvable = true
		mu.Unlock()
		assert.Equal(t, Up, r.sup.Status().State, "dc1 carries the tunnel meanwhile")

		time.Sleep(40 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(5 * time.Second)
		assert.Equal(t, "dc2", r.sup.Status().Active, "dc2, resolved late, takes over")
		require.NoError(t, r.stop())
	})
}

// A dead endpoint's name is looked up again: the datacenter may have moved
// it (disaster recovery).
func TestDeadEndpointIsResolvedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		addr := ep1
		r := start(t, false, func(o *Options) {
			o.Endpoints[0].Endpoint = "dc1.example:51820"
			o.Resolve = func(ctx context.Context, hp string) (netip.AddrPort, error) {
				mu.Lock()
				defer mu.Unlock()
				return netip.MustParseAddrPort(addr), nil
			}
		})
		time.Sleep(3 * time.Second)
		require.Equal(t, "dc1", r.sup.Status().Active)
		// dc1 moves: the old address goes dark, the name points elsewhere.
		const moved = "192.0.2.11:51820"
		r.net.set(ep1, false)
		r.net.set(moved, true)
		mu.Lock()
		addr = moved
		mu.Unlock()
		time.Sleep(4 * time.Minute)
		assert.Equal(t, 1, r.ev.count("endpoint.moved"))
		assert.Equal(t, 1, r.ev.count("tunnel.failback"), "dc1 at its new address is failed back to")
		assert.Equal(t, moved, r.net.carrier(service))
		require.NoError(t, r.stop())
	})
}

// The failover's configuration change comes before the round's events are
// journaled: a slow flash must not delay it.
func TestFailoverIsAppliedBeforeJournaling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var carrierAtDead string
		var fn *fakeNet
		r := start(t, false, func(o *Options) {
			fn = o.Device.(*fakeNet)
			o.Events = eventFunc(func(kind string) {
				if kind == "endpoint.dead" {
					c := fn.carrier(service)
					mu.Lock()
					carrierAtDead = c
					mu.Unlock()
				}
			})
		})
		time.Sleep(3 * time.Second)
		r.net.set(ep1, false)
		time.Sleep(3 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, ep2, carrierAtDead, "when endpoint.dead was journaled, traffic had already moved")
		require.NoError(t, r.stop())
	})
}

type eventFunc func(kind string)

func (f eventFunc) Event(kind, msg string, fields map[string]any) { f(kind) }

// A WireGuard device that vanished (deleted, wireguard-go died) cannot be
// repaired from here: Run ends with an error so the daemon is restarted.
func TestVanishedDeviceEndsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gone := &goneDevice{fakeNet: newFakeNet(ep1, ep2)}
		r := start(t, false, func(o *Options) { o.Device = gone; o.Pinger = gone.fakeNet })
		time.Sleep(3 * time.Second)
		require.Equal(t, Up, r.sup.Status().State)
		gone.gone.Store(true)
		time.Sleep(30 * time.Second)
		select {
		case err := <-r.done:
			require.Error(t, err)
			assert.Contains(t, err.Error(), "WireGuard device has been unreadable")
		default:
			t.Fatal("Run still running 30 s after the device vanished")
		}
	})
}

type goneDevice struct {
	*fakeNet
	gone atomic.Bool
}

func (d *goneDevice) Device() (*wgtypes.Device, error) {
	if d.gone.Load() {
		return nil, errors.New("netctl: no such link")
	}
	return d.fakeNet.Device()
}

// TestStoppedUntilRun: a supervisor that has not run (a hot-standby unit
// that starts as the standby) says stopped, not connecting.
func TestStoppedUntilRun(t *testing.T) {
	fn := newFakeNet(ep1, ep2)
	sup, err := New(Options{
		Source:    netip.MustParseAddr("10.99.1.2"),
		Endpoints: []Endpoint{{Name: "dc1", Endpoint: ep1, Key: keyN(t, 1), Probe: netip.MustParseAddr("10.99.0.1")}},
		Routes:    []netip.Prefix{cloud}, Device: fn, Pinger: fn, Events: &eventRec{},
	})
	require.NoError(t, err)
	st := sup.Status()
	assert.Equal(t, Stopped, st.State)
	assert.Equal(t, "not started", st.Reason)
	assert.False(t, st.Since.IsZero())
}
