// Package inspecttest is a fake netctl.Inspector whose links, default
// routes and neighbour entries a test sets, with a mutex so a test may
// change them while the code under test reads.
package inspecttest

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/shisa-gw/shisa/netctl"
)

// Fake is a netctl.Inspector. Change its fields under Lock or with Set.
type Fake struct {
	mu sync.Mutex
	// Links by name; a missing name is "no such link".
	Links map[string]*netctl.LinkInfo
	// Routes are the default routes, returned sorted.
	Routes []netctl.DefaultRoute
	// Neigh holds neighbour states by "link/addr" (see Key); missing is
	// netctl.NeighAbsent.
	Neigh map[string]netctl.NeighState
	// Err, when set, is returned by every method.
	Err error
}

var _ netctl.Inspector = (*Fake)(nil)

// New returns a fake with links up and carrying for each name.
func New(names ...string) *Fake {
	f := &Fake{Links: map[string]*netctl.LinkInfo{}, Neigh: map[string]netctl.NeighState{}}
	for i, n := range names {
		f.Links[n] = &netctl.LinkInfo{
			Name: n, AdminUp: true, Carrier: true, OperState: "up", MTU: 1500,
			MAC: []byte{0x02, 0x5a, 0, 0, 0, byte(i + 1)},
		}
	}
	return f
}

// Key is the Neigh map's key for addr on link name.
func Key(name string, addr netip.Addr) string { return name + "/" + addr.String() }

// Set runs fn with the fake locked.
func (f *Fake) Set(fn func(f *Fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// Unplug sets link name's carrier off (oper state lowerlayerdown) or
// back on.
func (f *Fake) Unplug(name string, unplugged bool) {
	f.Set(func(f *Fake) {
		l := f.Links[name]
		l.Carrier = !unplugged
		l.OperState = "up"
		if unplugged {
			l.OperState = "lowerlayerdown"
		}
	})
}

// Link implements netctl.Inspector.
func (f *Fake) Link(name string) (netctl.LinkInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return netctl.LinkInfo{}, f.Err
	}
	l, ok := f.Links[name]
	if !ok {
		return netctl.LinkInfo{}, fmt.Errorf("inspecttest: link %s: %w", name, netctl.ErrNoLink)
	}
	c := *l
	c.MAC = slices.Clone(l.MAC)
	return c, nil
}

// DefaultRoutes implements netctl.Inspector.
func (f *Fake) DefaultRoutes() ([]netctl.DefaultRoute, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	rs := slices.Clone(f.Routes)
	netctl.SortDefaultRoutes(rs)
	return rs, nil
}

// Neighbor implements netctl.Inspector.
func (f *Fake) Neighbor(name string, addr netip.Addr) (netctl.NeighState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return "", f.Err
	}
	if _, ok := f.Links[name]; !ok {
		return "", fmt.Errorf("inspecttest: link %s: %w", name, netctl.ErrNoLink)
	}
	if s, ok := f.Neigh[Key(name, addr)]; ok {
		return s, nil
	}
	return netctl.NeighAbsent, nil
}
