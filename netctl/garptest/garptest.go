// Package garptest provides a fake [netctl.GARP] for tests: it sends
// nothing and records every announcement, so a test checks which
// addresses were announced where rather than how.
package garptest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/netctl"
)

// Announcement is one recorded call of Announce, with the count and gap
// as the caller gave them (zero means the defaults).
type Announcement struct {
	Link  string
	IP    netip.Addr
	Count int
	Gap   time.Duration
}

// String formats the announcement like "garp 192.168.1.1 dev lan0 count 5
// gap 100ms".
func (a Announcement) String() string {
	return fmt.Sprintf("garp %s dev %s count %d gap %s", a.IP, a.Link, a.Count, a.Gap)
}

// Fake is a recording [netctl.GARP]. Set its exported fields before use,
// or read them through the methods while it is in use.
type Fake struct {
	mu sync.Mutex
	// Announced records the announcements made, in order. A call that
	// fails because of FailOn or ctx is not recorded.
	Announced []Announcement
	// FailOn makes Announce fail with the error mapped to its link name,
	// or to "link ip" ("lan0 192.168.1.1").
	FailOn map[string]error
	// Events, when not nil, receives each announcement after it is
	// recorded; Announce waits for the receiver, or for ctx to end and
	// then returns its error.
	Events chan Announcement
}

var _ netctl.GARP = (*Fake)(nil)

// Announce implements netctl.GARP. Like the real one, it refuses
// addresses that are not IPv4 and returns ctx's error without announcing
// anything when ctx has ended.
func (f *Fake) Announce(ctx context.Context, link string, ip netip.Addr, count int, gap time.Duration) error {
	if !ip.Unmap().Is4() {
		return fmt.Errorf("garptest: announce %s on %s: only IPv4 addresses can be announced", ip, link)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	a := Announcement{Link: link, IP: ip, Count: count, Gap: gap}
	f.mu.Lock()
	err, ok := f.FailOn[link+" "+ip.String()]
	if !ok {
		err = f.FailOn[link]
	}
	if err == nil {
		f.Announced = append(f.Announced, a)
	}
	events := f.Events
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if events != nil {
		select {
		case events <- a:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Announcements returns a copy of the announcements made so far.
func (f *Fake) Announcements() []Announcement {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Announced)
}

// String prints the announcements, one a line, in the order they were
// made (order matters: the last announcer wins the LAN).
func (f *Fake) String() string {
	var b strings.Builder
	for _, a := range f.Announcements() {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}
