package netctl_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/garptest"
)

var mustAddr = netip.MustParseAddr

// TestKernelGARPRefuses checks the refusals that need neither root nor a
// link: IPv6, an ended context, a missing link.
func TestKernelGARPRefuses(t *testing.T) {
	g := netctl.KernelGARP{}
	done, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		link string
		ip   string
		err  string
		is   error
	}{
		{"IPv6", t.Context(), "lo", "fd00::1", "only IPv4", nil},
		{"ended context", done, "lo", "192.168.1.1", "netctl: announce 192.168.1.1 on lo", context.Canceled},
		{"no link", t.Context(), "nosuchlan0", "192.168.1.1", "check the LAN interface name", netctl.ErrNoLink},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.Announce(tt.ctx, tt.link, mustAddr(tt.ip), 1, time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Announce = %v, want an error containing %q", err, tt.err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Announce = %v, want it to wrap %v", err, tt.is)
			}
		})
	}
}

func TestGARPFake(t *testing.T) {
	f := &garptest.Fake{FailOn: map[string]error{"wan0": errors.New("boom")}}
	ctx := t.Context()
	if err := f.Announce(ctx, "lan0", mustAddr("192.168.1.1"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Announce(ctx, "wan0", mustAddr("192.168.1.1"), 5, time.Second); err == nil {
		t.Error("Announce on wan0 did not fail")
	}
	if err := f.Announce(ctx, "lan0", mustAddr("fd00::1"), 0, 0); err == nil {
		t.Error("Announce of an IPv6 address did not fail")
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.Announce(done, "lan0", mustAddr("192.168.1.1"), 0, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Announce with an ended context = %v, want context.Canceled", err)
	}
	if err := f.Announce(ctx, "lan0", mustAddr("192.168.1.1"), 3, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	const want = `garp 192.168.1.1 dev lan0 count 0 gap 0s
garp 192.168.1.1 dev lan0 count 3 gap 200ms
`
	if got := f.String(); got != want {
		t.Errorf("announcements:\n%s\nwant:\n%s", got, want)
	}
}

func TestGARPFakeEvents(t *testing.T) {
	f := &garptest.Fake{Events: make(chan garptest.Announcement)}
	errc := make(chan error, 1)
	go func() { errc <- f.Announce(t.Context(), "lan0", mustAddr("192.168.1.1"), 0, 0) }()
	if a := <-f.Events; a.Link != "lan0" || a.IP != mustAddr("192.168.1.1") {
		t.Errorf("event %v", a)
	}
	if err := <-errc; err != nil {
		t.Error(err)
	}
}
