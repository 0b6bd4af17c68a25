package netctl_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/netlinktest"
)

// lanFake returns a fake with link lan0 holding addrs, in that (the
// kernel's) order, and lan0's promote_secondaries sysctl off.
func lanFake(addrs ...string) *netlinktest.Fake {
	l := &netlinktest.Link{MTU: 1500, Up: true}
	for _, a := range addrs {
		l.Addrs = append(l.Addrs, pfx(a))
	}
	f := netlinktest.New(map[string]*netlinktest.Link{"lan0": l})
	f.Sysctls[netctl.SysctlPromoteSecondaries("lan0")] = "0"
	return f
}

func TestAddVIP(t *testing.T) {
	tests := []struct {
		name    string
		have    []string
		failOn  map[string]error
		vip     string
		changed bool
		err     string // substring; empty for success
		is      error
		calls   []string // mutating calls
		addrs   string   // lan0's addresses afterwards, in order
		promote string   // lan0's promote_secondaries afterwards
	}{
		{
			name: "fresh /32", have: []string{"192.168.1.2/24"}, vip: "192.168.1.1/32",
			changed: true, calls: []string{"AddrAdd lan0 192.168.1.1/32"},
			addrs: "[192.168.1.2/24 192.168.1.1/32]", promote: "0",
		},
		{
			name: "already there", have: []string{"192.168.1.2/24", "192.168.1.1/32"}, vip: "192.168.1.1/32",
			addrs: "[192.168.1.2/24 192.168.1.1/32]", promote: "0",
		},
		{
			name: "/32 on a link without an own address", vip: "192.168.1.1/32",
			changed: true, calls: []string{"AddrAdd lan0 192.168.1.1/32"},
			addrs: "[192.168.1.1/32]", promote: "0",
		},
		{
			name: "LAN length after the own address: a secondary", have: []string{"192.168.1.2/24"}, vip: "192.168.1.1/24",
			changed: true, calls: []string{"AddrAdd lan0 192.168.1.1/24"},
			addrs: "[192.168.1.2/24 192.168.1.1/24]", promote: "0",
		},
		{
			name: "LAN length without the own address: refused", have: []string{"10.0.0.2/24"}, vip: "192.168.1.1/24",
			err: "add the unit's LAN address first, or use 192.168.1.1/32", is: netctl.ErrVIPPrimary,
			addrs: "[10.0.0.2/24]", promote: "0",
		},
		{
			name: "own address of another length does not count", have: []string{"192.168.1.2/16"}, vip: "192.168.1.1/24",
			is: netctl.ErrVIPPrimary, err: "no own address in 192.168.1.0/24",
			addrs: "[192.168.1.2/16]", promote: "0",
		},
		{
			name: "leftover /24 that is the own address's primary is replaced", have: []string{"192.168.1.1/24", "192.168.1.2/24"}, vip: "192.168.1.1/32",
			changed: true,
			calls: []string{
				"SetSysctl net/ipv4/conf/lan0/promote_secondaries 1",
				"AddrDel lan0 192.168.1.1/24",
				"AddrAdd lan0 192.168.1.1/32",
			},
			addrs: "[192.168.1.2/24 192.168.1.1/32]", promote: "1",
		},
		{
			name: "leftover /24 secondary is replaced without promotion", have: []string{"192.168.1.2/24", "192.168.1.1/24"}, vip: "192.168.1.1/32",
			changed: true,
			calls:   []string{"AddrDel lan0 192.168.1.1/24", "AddrAdd lan0 192.168.1.1/32"},
			addrs:   "[192.168.1.2/24 192.168.1.1/32]", promote: "0",
		},
		{
			name: "there, plus a leftover at another length", have: []string{"192.168.1.2/24", "192.168.1.1/32", "192.168.1.1/24"}, vip: "192.168.1.1/32",
			changed: true, calls: []string{"AddrDel lan0 192.168.1.1/24"},
			addrs: "[192.168.1.2/24 192.168.1.1/32]", promote: "0",
		},
		{
			name: "add fails", have: []string{"192.168.1.2/24"}, vip: "192.168.1.1/32",
			failOn: map[string]error{"AddrAdd": netlinktest.ErrInjected},
			err:    "netctl: add virtual IP 192.168.1.1/32 to lan0: netlinktest: injected failure", is: netlinktest.ErrInjected,
			calls: []string{"AddrAdd lan0 192.168.1.1/32"},
			addrs: "[192.168.1.2/24]", promote: "0",
		},
		{
			name: "no promotion, no removal", have: []string{"192.168.1.1/24", "192.168.1.2/24"}, vip: "192.168.1.1/32",
			failOn: map[string]error{"SetSysctl": netlinktest.ErrInjected},
			err:    "192.168.1.1/24 is the primary address of others on the link", is: netlinktest.ErrInjected,
			calls: []string{"SetSysctl net/ipv4/conf/lan0/promote_secondaries 1"},
			addrs: "[192.168.1.1/24 192.168.1.2/24]", promote: "0",
		},
		{
			name: "IPv6", have: []string{"192.168.1.2/24"}, vip: "fd00::1/128",
			err: "only IPv4", addrs: "[192.168.1.2/24]", promote: "0",
		},
		{
			name: "network address", have: []string{"192.168.1.2/24"}, vip: "192.168.1.0/24",
			err: "network address", addrs: "[192.168.1.2/24]", promote: "0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := lanFake(tt.have...)
			f.FailOn = tt.failOn
			changed, err := netctl.AddVIP(f, "lan0", pfx(tt.vip))
			checkVIPResult(t, f, changed, err, tt.changed, tt.err, tt.is, tt.calls, tt.addrs, tt.promote)
		})
	}
}

func TestDelVIP(t *testing.T) {
	tests := []struct {
		name    string
		have    []string
		failOn  map[string]error
		vip     string
		changed bool
		err     string
		is      error
		calls   []string
		addrs   string
		promote string
		// promoteOn starts with promote_secondaries on.
		promoteOn bool
	}{
		{
			name: "removes the /32, keeps the own address", have: []string{"192.168.1.2/24", "192.168.1.1/32"}, vip: "192.168.1.1/32",
			changed: true, calls: []string{"AddrDel lan0 192.168.1.1/32"},
			addrs: "[192.168.1.2/24]", promote: "0",
		},
		{
			name: "not there", have: []string{"192.168.1.2/24"}, vip: "192.168.1.1/32",
			addrs: "[192.168.1.2/24]", promote: "0",
		},
		{
			name: "at any length", have: []string{"192.168.1.2/24", "192.168.1.1/24", "192.168.1.1/32"}, vip: "192.168.1.1/32",
			changed: true, calls: []string{"AddrDel lan0 192.168.1.1/24", "AddrDel lan0 192.168.1.1/32"},
			addrs: "[192.168.1.2/24]", promote: "0",
		},
		{
			name: "secondary VIP", have: []string{"192.168.1.2/24", "192.168.1.1/24"}, vip: "192.168.1.1/24",
			changed: true, calls: []string{"AddrDel lan0 192.168.1.1/24"},
			addrs: "[192.168.1.2/24]", promote: "0",
		},
		{
			name: "primary VIP: promote the own address first", have: []string{"192.168.1.1/24", "192.168.1.2/24"}, vip: "192.168.1.1/24",
			changed: true,
			calls:   []string{"SetSysctl net/ipv4/conf/lan0/promote_secondaries 1", "AddrDel lan0 192.168.1.1/24"},
			addrs:   "[192.168.1.2/24]", promote: "1",
		},
		{
			name: "primary VIP, promotion already on", have: []string{"192.168.1.1/24", "192.168.1.2/24"}, vip: "192.168.1.1/24",
			failOn: map[string]error{"SetSysctl": netlinktest.ErrInjected}, promoteOn: true,
			changed: true, calls: []string{"AddrDel lan0 192.168.1.1/24"},
			addrs: "[192.168.1.2/24]", promote: "1",
		},
		{
			name: "primary VIP, promotion unreadable: nothing removed", have: []string{"192.168.1.1/24", "192.168.1.2/24"}, vip: "192.168.1.1/24",
			failOn: map[string]error{"Sysctl": netlinktest.ErrInjected},
			err:    "netctl: remove virtual IP 192.168.1.1 from lan0: 192.168.1.1/24 is the primary address of others on the link, and they would go with it", is: netlinktest.ErrInjected,
			addrs: "[192.168.1.1/24 192.168.1.2/24]", promote: "0",
		},
		{
			name: "remove fails", have: []string{"192.168.1.2/24", "192.168.1.1/32"}, vip: "192.168.1.1/32",
			failOn: map[string]error{"AddrDel": netlinktest.ErrInjected},
			err:    "netctl: remove virtual IP 192.168.1.1 from lan0", is: netlinktest.ErrInjected,
			calls: []string{"AddrDel lan0 192.168.1.1/32"},
			addrs: "[192.168.1.2/24 192.168.1.1/32]", promote: "0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := lanFake(tt.have...)
			f.FailOn = tt.failOn
			if tt.promoteOn {
				f.Sysctls[netctl.SysctlPromoteSecondaries("lan0")] = "1"
			}
			changed, err := netctl.DelVIP(f, "lan0", pfx(tt.vip))
			checkVIPResult(t, f, changed, err, tt.changed, tt.err, tt.is, tt.calls, tt.addrs, tt.promote)
		})
	}
}

func checkVIPResult(t *testing.T, f *netlinktest.Fake, changed bool, err error,
	wantChanged bool, wantErr string, wantIs error, wantCalls []string, wantAddrs, wantPromote string) {
	t.Helper()
	switch {
	case wantErr == "" && wantIs == nil && err != nil:
		t.Errorf("error: %v", err)
	case (wantErr != "" || wantIs != nil) && err == nil:
		t.Errorf("no error, want one containing %q", wantErr)
	case err != nil && !strings.Contains(err.Error(), wantErr):
		t.Errorf("error %q does not contain %q", err, wantErr)
	case err != nil && wantIs != nil && !errors.Is(err, wantIs):
		t.Errorf("error %q does not wrap %v", err, wantIs)
	}
	if changed != wantChanged {
		t.Errorf("changed = %v, want %v", changed, wantChanged)
	}
	if got := f.MutatingCalls(); !slices.Equal(got, wantCalls) {
		t.Errorf("mutating calls:\n got %q\nwant %q", got, wantCalls)
	}
	if got := prefixList(f.Links["lan0"].Addrs); got != wantAddrs {
		t.Errorf("addresses of lan0 = %s, want %s", got, wantAddrs)
	}
	if got := f.Sysctls[netctl.SysctlPromoteSecondaries("lan0")]; got != wantPromote {
		t.Errorf("promote_secondaries = %s, want %s", got, wantPromote)
	}
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestVIPIdempotent adds and removes twice: the second of each changes
// nothing and says so, and the own address is there throughout.
func TestVIPIdempotent(t *testing.T) {
	f := lanFake("192.168.1.2/24")
	vip := pfx("192.168.1.1/32")
	for i, want := range []bool{true, false} {
		if changed, err := netctl.AddVIP(f, "lan0", vip); err != nil || changed != want {
			t.Fatalf("AddVIP #%d = %v, %v; want %v, nil", i+1, changed, err, want)
		}
	}
	for i, want := range []bool{true, false} {
		if changed, err := netctl.DelVIP(f, "lan0", vip); err != nil || changed != want {
			t.Fatalf("DelVIP #%d = %v, %v; want %v, nil", i+1, changed, err, want)
		}
	}
	const want = `addr 192.168.1.2/24 dev lan0
link lan0 mtu 1500 up
sysctl net/ipv4/conf/lan0/promote_secondaries=0
sysctl net/ipv4/ip_forward=0
sysctl net/ipv6/conf/all/forwarding=0
`
	if got := f.String(); got != want {
		t.Errorf("state:\n%s\nwant:\n%s", got, want)
	}
	if got, want := f.MutatingCalls(), []string{"AddrAdd lan0 192.168.1.1/32", "AddrDel lan0 192.168.1.1/32"}; !slices.Equal(got, want) {
		t.Errorf("mutating calls %q, want %q", got, want)
	}
}

func TestVIPNoLink(t *testing.T) {
	f := lanFake()
	if _, err := netctl.AddVIP(f, "lan9", pfx("192.168.1.1/32")); !errors.Is(err, netctl.ErrNoLink) {
		t.Errorf("AddVIP on a missing link: %v, want ErrNoLink", err)
	}
	if _, err := netctl.DelVIP(f, "lan9", pfx("192.168.1.1/32")); !errors.Is(err, netctl.ErrNoLink) {
		t.Errorf("DelVIP on a missing link: %v, want ErrNoLink", err)
	}
}
