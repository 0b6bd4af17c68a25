package netctl

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestDiffPrefixes(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		have, want []netip.Prefix
		add, del   string
	}{
		{nil, nil, "[]", "[]"},
		{nil, []netip.Prefix{p("10.0.0.0/8"), p("10.0.0.0/8")}, "[10.0.0.0/8]", "[]"},
		{[]netip.Prefix{p("10.0.0.0/8")}, []netip.Prefix{p("10.0.0.0/8")}, "[]", "[]"},
		{[]netip.Prefix{p("10.9.0.2/24")}, []netip.Prefix{p("10.9.0.2/16")}, "[10.9.0.2/16]", "[10.9.0.2/24]"},
		{
			[]netip.Prefix{p("fd00::/64"), p("10.1.0.0/16"), p("10.0.0.0/8")},
			[]netip.Prefix{p("fd00::/48"), p("10.1.0.0/16"), p("192.168.0.0/16"), p("10.2.0.0/16")},
			"[10.2.0.0/16 192.168.0.0/16 fd00::/48]", "[10.0.0.0/8 fd00::/64]",
		},
	}
	for _, tt := range tests {
		add, del := diffPrefixes(tt.have, tt.want)
		if got := fmt.Sprint(add); got != tt.add {
			t.Errorf("diffPrefixes(%v, %v) add = %s, want %s", tt.have, tt.want, got, tt.add)
		}
		if got := fmt.Sprint(del); got != tt.del {
			t.Errorf("diffPrefixes(%v, %v) del = %s, want %s", tt.have, tt.want, got, tt.del)
		}
	}
}

func TestValidate(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name string
		s    State
		ok   bool
	}{
		{"empty", State{}, true},
		{"good", State{Links: []LinkState{{Name: "wg0", Up: true, Addrs: []netip.Prefix{p("10.9.0.2/24")}, Routes: []netip.Prefix{p("10.20.0.0/16")}}}}, true},
		{"no name", State{Links: []LinkState{{Up: true}}}, false},
		{"twice", State{Links: []LinkState{{Name: "wg0"}, {Name: "wg0"}}}, false},
		{"host bits", State{Links: []LinkState{{Name: "wg0", Up: true, Routes: []netip.Prefix{p("10.20.0.1/16")}}}}, false},
		{"invalid addr", State{Links: []LinkState{{Name: "wg0", Addrs: []netip.Prefix{{}}}}}, false},
		{"routes on down link", State{Links: []LinkState{{Name: "wg0", Routes: []netip.Prefix{p("10.20.0.0/16")}}}}, false},
		{"negative mtu", State{Links: []LinkState{{Name: "wg0", MTU: -1}}}, false},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestChangeString(t *testing.T) {
	for _, tt := range []struct {
		c    Change
		want string
	}{
		{Change{"add", "wg-shisa", "route 10.20.0.0/16"}, "add route 10.20.0.0/16 dev wg-shisa"},
		{Change{"set", "wg-shisa", "mtu 1420"}, "set mtu 1420 dev wg-shisa"},
		{Change{Op: "set", What: "sysctl net.ipv4.ip_forward=1"}, "set sysctl net.ipv4.ip_forward=1"},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
		}
	}
}
