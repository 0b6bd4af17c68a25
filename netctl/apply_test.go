package netctl_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/netlinktest"
)

var pfx = netip.MustParsePrefix

// tunnel is the desired state the tests apply unless they say otherwise.
var tunnel = netctl.LinkState{
	Name:   "wg0",
	MTU:    1420,
	Up:     true,
	Addrs:  []netip.Prefix{pfx("10.9.0.2/24")},
	Routes: []netip.Prefix{pfx("10.20.0.0/16"), pfx("10.30.0.0/16")},
}

func TestApply(t *testing.T) {
	const upToDate = `addr 10.9.0.2/24 dev wg0
link wg0 mtu 1420 up
route 10.20.0.0/16 dev wg0 proto shisa
route 10.30.0.0/16 dev wg0 proto shisa
sysctl net/ipv4/ip_forward=0
sysctl net/ipv6/conf/all/forwarding=0
`
	matching := func() map[string]*netlinktest.Link {
		return map[string]*netlinktest.Link{"wg0": {
			MTU: 1420, Up: true,
			Addrs: []netip.Prefix{pfx("10.9.0.2/24")},
			Routes: []netlinktest.Route{
				{Dst: pfx("10.20.0.0/16"), Protocol: netctl.RouteProtocol},
				{Dst: pfx("10.30.0.0/16"), Protocol: netctl.RouteProtocol},
			},
		}}
	}
	tests := []struct {
		name    string
		links   map[string]*netlinktest.Link
		failOn  map[string]error
		want    netctl.State
		changes []string
		errs    []string // substrings, one per expected failure
		state   string
	}{
		{
			name:  "fresh link",
			links: map[string]*netlinktest.Link{"wg0": {MTU: 1500}},
			want:  netctl.State{Links: []netctl.LinkState{tunnel}},
			changes: []string{
				"set mtu 1420 dev wg0",
				"set up dev wg0",
				"add addr 10.9.0.2/24 dev wg0",
				"add route 10.20.0.0/16 dev wg0",
				"add route 10.30.0.0/16 dev wg0",
			},
			state: upToDate,
		},
		{
			name:  "already matching",
			links: matching(),
			want:  netctl.State{Links: []netctl.LinkState{tunnel}},
			state: upToDate,
		},
		{
			name: "stale addr and route removed",
			links: func() map[string]*netlinktest.Link {
				m := matching()
				m["wg0"].Addrs = append(m["wg0"].Addrs, pfx("10.9.0.3/24"), pfx("fd00::2/64"))
				m["wg0"].Routes = append(m["wg0"].Routes, netlinktest.Route{Dst: pfx("10.40.0.0/16"), Protocol: netctl.RouteProtocol})
				return m
			}(),
			want: netctl.State{Links: []netctl.LinkState{tunnel}},
			changes: []string{
				"del addr 10.9.0.3/24 dev wg0",
				"del addr fd00::2/64 dev wg0",
				"del route 10.40.0.0/16 dev wg0",
			},
			state: upToDate,
		},
		{
			name: "foreign route untouched",
			links: func() map[string]*netlinktest.Link {
				m := matching()
				m["wg0"].Routes = append(m["wg0"].Routes, netlinktest.Route{Dst: pfx("10.50.0.0/16"), Protocol: 4 /* static */})
				m["eth0"] = &netlinktest.Link{MTU: 1500, Up: true, Routes: []netlinktest.Route{{Dst: pfx("0.0.0.0/0"), Protocol: 3 /* boot */}}}
				return m
			}(),
			want: netctl.State{Links: []netctl.LinkState{tunnel}},
			state: `addr 10.9.0.2/24 dev wg0
link eth0 mtu 1500 up
link wg0 mtu 1420 up
route 0.0.0.0/0 dev eth0 proto 3
route 10.20.0.0/16 dev wg0 proto shisa
route 10.30.0.0/16 dev wg0 proto shisa
route 10.50.0.0/16 dev wg0 proto 4
sysctl net/ipv4/ip_forward=0
sysctl net/ipv6/conf/all/forwarding=0
`,
		},
		{
			name: "MTU change",
			links: func() map[string]*netlinktest.Link {
				m := matching()
				m["wg0"].MTU = 1280
				return m
			}(),
			want:    netctl.State{Links: []netctl.LinkState{tunnel}},
			changes: []string{"set mtu 1420 dev wg0"},
			state:   upToDate,
		},
		{
			name: "MTU 0 left alone",
			links: func() map[string]*netlinktest.Link {
				m := matching()
				m["wg0"].MTU = 1280
				return m
			}(),
			want: netctl.State{Links: []netctl.LinkState{func() netctl.LinkState {
				l := tunnel
				l.MTU = 0
				return l
			}()}},
			state: strings.Replace(upToDate, "mtu 1420", "mtu 1280", 1),
		},
		{
			name:    "forwarding turned on",
			links:   matching(),
			want:    netctl.State{Links: []netctl.LinkState{tunnel}, Forwarding: true},
			changes: []string{"set sysctl net.ipv4.ip_forward=1"},
			state:   strings.Replace(upToDate, "ip_forward=0", "ip_forward=1", 1),
		},
		{
			name:  "forwarding false never turns it off",
			links: matching(),
			want:  netctl.State{Links: []netctl.LinkState{tunnel}},
			state: upToDate,
		},
		{
			name:  "IPv6 forwarding",
			links: map[string]*netlinktest.Link{"wg0": {MTU: 1420, Up: true}},
			want: netctl.State{Forwarding: true, Links: []netctl.LinkState{{
				Name: "wg0", Up: true,
				Addrs:  []netip.Prefix{pfx("fd00:9::2/64")},
				Routes: []netip.Prefix{pfx("fd00:20::/48")},
			}}},
			changes: []string{
				"add addr fd00:9::2/64 dev wg0",
				"add route fd00:20::/48 dev wg0",
				"set sysctl net.ipv4.ip_forward=1",
				"set sysctl net.ipv6.conf.all.forwarding=1",
			},
			state: `addr fd00:9::2/64 dev wg0
link wg0 mtu 1420 up
route fd00:20::/48 dev wg0 proto shisa
sysctl net/ipv4/ip_forward=1
sysctl net/ipv6/conf/all/forwarding=1
`,
		},
		{
			name:   "failing call reported, other steps still happen",
			links:  map[string]*netlinktest.Link{"wg0": {MTU: 1500}},
			failOn: map[string]error{"LinkSetMTU wg0 1420": syscall.EINVAL, "RouteAdd wg0 10.20.0.0/16": netlinktest.ErrInjected},
			want:   netctl.State{Links: []netctl.LinkState{tunnel}, Forwarding: true},
			changes: []string{
				"set up dev wg0",
				"add addr 10.9.0.2/24 dev wg0",
				"add route 10.30.0.0/16 dev wg0",
				"set sysctl net.ipv4.ip_forward=1",
			},
			errs: []string{
				"netctl: set mtu 1420 dev wg0: invalid argument",
				"netctl: add route 10.20.0.0/16 dev wg0: netlinktest: injected failure",
			},
			state: `addr 10.9.0.2/24 dev wg0
link wg0 mtu 1500 up
route 10.30.0.0/16 dev wg0 proto shisa
sysctl net/ipv4/ip_forward=1
sysctl net/ipv6/conf/all/forwarding=0
`,
		},
		{
			name:  "missing link skipped, others applied",
			links: map[string]*netlinktest.Link{"wg1": {MTU: 1420}},
			want:  netctl.State{Links: []netctl.LinkState{tunnel, {Name: "wg1", Up: true}}},
			changes: []string{
				"set up dev wg1",
			},
			errs: []string{"netctl: link wg0: read link: link \"wg0\": netctl: no such link"},
			state: `link wg1 mtu 1420 up
sysctl net/ipv4/ip_forward=0
sysctl net/ipv6/conf/all/forwarding=0
`,
		},
		{
			name:  "link taken down",
			links: matching(),
			want:  netctl.State{Links: []netctl.LinkState{{Name: "wg0", Addrs: []netip.Prefix{pfx("10.9.0.2/24")}}}},
			changes: []string{
				"set down dev wg0",
			},
			state: `addr 10.9.0.2/24 dev wg0
link wg0 mtu 1420 down
sysctl net/ipv4/ip_forward=0
sysctl net/ipv6/conf/all/forwarding=0
`,
		},
		{
			name:  "route taken by another link",
			links: map[string]*netlinktest.Link{"wg0": {MTU: 1420, Up: true, Addrs: []netip.Prefix{pfx("10.9.0.2/24")}}, "eth1": {Up: true, Routes: []netlinktest.Route{{Dst: pfx("10.20.0.0/16"), Protocol: 4}}}},
			want:  netctl.State{Links: []netctl.LinkState{tunnel}},
			changes: []string{
				"add route 10.30.0.0/16 dev wg0",
			},
			errs: []string{"netctl: add route 10.20.0.0/16 dev wg0: file exists"},
			state: `addr 10.9.0.2/24 dev wg0
link eth1 mtu 0 up
link wg0 mtu 1420 up
route 10.20.0.0/16 dev eth1 proto 4
route 10.30.0.0/16 dev wg0 proto shisa
sysctl net/ipv4/ip_forward=0
sysctl net/ipv6/conf/all/forwarding=0
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := netlinktest.New(tt.links)
			f.FailOn = tt.failOn
			changes, err := netctl.Apply(f, tt.want)
			var got []string
			for _, c := range changes {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tt.changes) {
				t.Errorf("changes:\n got %q\nwant %q", got, tt.changes)
			}
			if len(tt.changes) == 0 && changes == nil {
				t.Errorf("changes = nil, want an empty slice")
			}
			checkErrs(t, err, tt.errs)
			if s := f.String(); s != tt.state {
				t.Errorf("state:\n%s\nwant:\n%s", s, tt.state)
			}

			// Applying again changes nothing and makes no mutating call,
			// unless a failure is injected or the system refuses.
			if len(tt.errs) > 0 {
				return
			}
			before := len(f.MutatingCalls())
			again, err := netctl.Apply(f, tt.want)
			if err != nil || len(again) != 0 {
				t.Errorf("second Apply = %v, %v; want no changes, no error", again, err)
			}
			if m := f.MutatingCalls()[before:]; len(m) != 0 {
				t.Errorf("second Apply made mutating calls %q", m)
			}
		})
	}
}

func checkErrs(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("err = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("err = nil, want %q", want)
	}
	msg := err.Error()
	if n := len(strings.Split(msg, "\n")); n != len(want) {
		t.Errorf("err has %d lines, want %d:\n%s", n, len(want), msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("err = %q, want it to contain %q", msg, w)
		}
	}
}

func TestApplyErrorsWrap(t *testing.T) {
	f := netlinktest.New(map[string]*netlinktest.Link{"wg0": {Up: true}})
	f.FailOn = map[string]error{"RouteAdd": syscall.ENETUNREACH}
	_, err := netctl.Apply(f, netctl.State{Links: []netctl.LinkState{tunnel, {Name: "missing"}}})
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("errors.Is(%v, ENETUNREACH) = false", err)
	}
	if !errors.Is(err, netctl.ErrNoLink) {
		t.Errorf("errors.Is(%v, ErrNoLink) = false", err)
	}
}

func TestApplyInvalidTouchesNothing(t *testing.T) {
	f := netlinktest.New(map[string]*netlinktest.Link{"wg0": {}})
	bad := tunnel
	bad.Routes = []netip.Prefix{pfx("10.20.0.1/16")}
	changes, err := netctl.Apply(f, netctl.State{Links: []netctl.LinkState{bad}})
	if err == nil || !strings.Contains(err.Error(), "did you mean 10.20.0.0/16") {
		t.Errorf("err = %v, want a host-bits error", err)
	}
	if len(changes) != 0 || len(f.CallLog()) != 0 {
		t.Errorf("invalid state: changes %v, calls %q; want none", changes, f.CallLog())
	}
}
