package selfcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
)

// Inputs is what the self-check and the diagnosis read. Nil functions
// and interfaces make their items fail (links, tunnel) or be skipped
// (time sync, temperature, UPS), saying why.
type Inputs struct {
	// WAN and LAN are the ports' link names (wan.interface, lan.interface).
	WAN, LAN string
	// Net reads links, default routes and neighbour entries
	// (netctl.KernelInspector{} on the box).
	Net netctl.Inspector
	// Tunnel returns the supervisor's status ((*tunnel.Supervisor).Status).
	Tunnel func() tunnel.Status
	// ProbeMisses is probe.misses: probes unanswered in a row after which
	// probe:NAME fails. Default 3.
	ProbeMisses int
	// Reach, when set, tests whether a datacenter endpoint's public
	// address answers outside the tunnel (ICMP echo over the WAN, see
	// PingReach). It is asked only while no endpoint is alive, to tell a
	// datacenter that is gone from keys that do not match.
	Reach func(ctx context.Context, hostport string) error
	// TimeSync returns the last time-sync check ((*timesync.Checker).Last).
	TimeSync func() *api.TimeSync

	// StateDir is the directory whose file system must keep MinFreeBytes
	// free (the journal's directory).
	StateDir     string
	MinFreeBytes int64
	// FreeSpace returns the bytes available to shisad and the size of the
	// file system holding dir; nil uses statfs(2).
	FreeSpace func(dir string) (avail, total uint64, err error)
	// ThermalDir holds the kernel's thermal zones; default
	// /sys/class/thermal.
	ThermalDir     string
	MaxTemperature int // °C
	// UPS returns the power supply's state (issue 4); nil, or a nil
	// result, skips the item.
	UPS func() *api.UPSStatus

	// Timeout bounds each probe made while gathering (Reach). Default 2s.
	Timeout time.Duration
}

// LinkFact is one port's state.
type LinkFact struct {
	Name string
	Info netctl.LinkInfo
	Err  error
}

// Up reports whether the port is set up and has carrier.
func (l LinkFact) Up() bool { return l.Err == nil && l.Info.AdminUp && l.Info.Carrier }

// RouteFact is the default route's state.
type RouteFact struct {
	Routes []netctl.DefaultRoute
	Err    error
	// ViaWAN is the first default route out of the WAN port, if any.
	ViaWAN *netctl.DefaultRoute
	// Neigh is the WAN gateway's neighbour entry (NeighAbsent when the
	// route has no gateway); NeighErr why it could not be read.
	Neigh    netctl.NeighState
	NeighErr error
}

// Reach is the outcome of testing an endpoint's public address.
type Reach int

const (
	ReachUntested Reach = iota // no Reach input, or the endpoint is alive
	ReachAnswered
	ReachSilent
)

// EndpointFact is one datacenter endpoint as the supervisor sees it, with
// the reachability of its public address when it was tested.
type EndpointFact struct {
	tunnel.EndpointStatus
	// HandshakeAge is how old the last handshake is; negative for never.
	HandshakeAge time.Duration
	Reach        Reach
	ReachErr     error
}

// Facts is everything gathered, at one moment.
type Facts struct {
	At       time.Time
	LAN, WAN LinkFact
	Route    RouteFact
	// TunnelKnown is false when there is no tunnel job to ask.
	TunnelKnown bool
	Tunnel      tunnel.Status
	Endpoints   []EndpointFact
	ProbeMisses int
	// Clock is the last time-sync check; nil when none ran.
	Clock *api.TimeSync
}

// ErrNoInput is wrapped when an input needed for an item is missing.
var ErrNoInput = errors.New("selfcheck: not wired")

// Gather reads the facts of the path (links, route, tunnel, clock). It
// takes as long as the Reach probes at most (Timeout, in parallel).
func Gather(ctx context.Context, in Inputs) Facts {
	f := Facts{At: time.Now(), ProbeMisses: in.ProbeMisses}
	if f.ProbeMisses <= 0 {
		f.ProbeMisses = 3
	}
	f.LAN = readLink(in.Net, in.LAN)
	f.WAN = readLink(in.Net, in.WAN)
	f.Route = readRoute(in.Net, in.WAN)
	if in.Tunnel != nil {
		f.TunnelKnown = true
		f.Tunnel = in.Tunnel()
	}
	anyAlive := false
	for _, e := range f.Tunnel.Endpoints {
		age := time.Duration(-1)
		if !e.LastHandshake.IsZero() {
			age = max(f.At.Sub(e.LastHandshake), 0)
		}
		f.Endpoints = append(f.Endpoints, EndpointFact{EndpointStatus: e, HandshakeAge: age})
		anyAlive = anyAlive || e.Health == tunnel.Alive
	}
	if !anyAlive && in.Reach != nil {
		reach(ctx, in, f.Endpoints)
	}
	if in.TimeSync != nil {
		f.Clock = in.TimeSync()
	}
	return f
}

func readLink(n netctl.Inspector, name string) LinkFact {
	l := LinkFact{Name: name}
	switch {
	case name == "":
		l.Err = fmt.Errorf("%w: no interface configured", ErrNoInput)
	case n == nil:
		l.Err = fmt.Errorf("%w: no network inspector", ErrNoInput)
	default:
		l.Info, l.Err = n.Link(name)
	}
	return l
}

func readRoute(n netctl.Inspector, wan string) RouteFact {
	var r RouteFact
	if n == nil {
		r.Err = fmt.Errorf("%w: no network inspector", ErrNoInput)
		return r
	}
	r.Routes, r.Err = n.DefaultRoutes()
	r.Neigh = netctl.NeighAbsent
	for i := range r.Routes {
		if r.Routes[i].Interface == wan {
			r.ViaWAN = &r.Routes[i]
			break
		}
	}
	if r.ViaWAN != nil && r.ViaWAN.Gateway.IsValid() {
		r.Neigh, r.NeighErr = n.Neighbor(wan, r.ViaWAN.Gateway)
	}
	return r
}

// reach tests every endpoint's public address in parallel.
func reach(ctx context.Context, in Inputs, eps []EndpointFact) {
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i := range eps {
		if eps[i].Endpoint == "" {
			continue
		}
		wg.Go(func() {
			err := in.Reach(ctx, eps[i].Endpoint)
			eps[i].Reach, eps[i].ReachErr = ReachAnswered, err
			if err != nil {
				eps[i].Reach = ReachSilent
			}
		})
	}
	wg.Wait()
}

// Pinger sends one ICMP echo (netctl.Pinger).
type Pinger interface {
	Ping(ctx context.Context, src, dst netip.Addr) (time.Duration, error)
}

// PingReach returns a Reach input that resolves an endpoint's host and
// sends it one ICMP echo from the address the kernel chooses (out of the
// WAN port, since the tunnel does not carry the endpoints' addresses).
// Many datacenters filter ICMP; a silent endpoint is evidence, not proof.
func PingReach(p Pinger) func(ctx context.Context, hostport string) error {
	return func(ctx context.Context, hostport string) error {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			host = hostport
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return fmt.Errorf("selfcheck: resolving %s: %w", host, err)
			}
			if len(addrs) == 0 {
				return fmt.Errorf("selfcheck: %s has no address", host)
			}
			addr = addrs[0]
		}
		_, err = p.Ping(ctx, netip.Addr{}, addr.Unmap())
		return err
	}
}
