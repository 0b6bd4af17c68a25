package selfcheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/timesync"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// SkippedPrefix starts the Detail of an item that was not checked (no
// sensor, no UPS); such an item counts as OK.
const SkippedPrefix = "skipped: "

// Skipped reports whether it was not checked.
func Skipped(it api.CheckItem) bool { return strings.HasPrefix(it.Detail, SkippedPrefix) }

func skipped(name, why string) api.CheckItem {
	return api.CheckItem{Name: name, OK: true, Detail: SkippedPrefix + why}
}

// Run gathers the facts and checks everything the daily self-check covers.
func Run(ctx context.Context, in Inputs) api.SelfCheck {
	f := Gather(ctx, in)
	items := PathItems(f)
	items = append(items, freeSpaceItem(in), temperatureItem(in), upsItem(in))
	sc := api.SelfCheck{At: f.At, OK: true, Items: items}
	for _, it := range items {
		sc.OK = sc.OK && it.OK
	}
	return sc
}

// BenchItems are the items that need no site: free_space and
// temperature, for a spare's bench self-test.
func BenchItems(in Inputs) []api.CheckItem {
	return []api.CheckItem{freeSpaceItem(in), temperatureItem(in)}
}

// Failed returns the names of sc's failed items.
func Failed(sc api.SelfCheck) []string { return FailedNames(sc.Items) }

// FailedNames returns the names of the items that did not pass.
func FailedNames(items []api.CheckItem) []string {
	var names []string
	for _, it := range items {
		if !it.OK {
			names = append(names, it.Name)
		}
	}
	return names
}

// PathItems are the items along the path from the office to the
// datacenter: lan_link, wan_link, default_route, endpoint:NAME and
// probe:NAME for each endpoint (one skipped tunnel item instead while the
// tunnel is stopped: a standby unit), ntp.
func PathItems(f Facts) []api.CheckItem {
	items := []api.CheckItem{
		linkItem("lan_link", f.LAN),
		linkItem("wan_link", f.WAN),
		routeItem(f),
	}
	switch {
	case !f.TunnelKnown:
		items = append(items, api.CheckItem{Name: "tunnel", Detail: "the tunnel job is not running"})
	case f.Tunnel.State == tunnel.Stopped:
		// The endpoints' figures are from when the tunnel last ran.
		items = append(items, skipped("tunnel", "the tunnel is stopped on this unit: it is the standby of a hot-standby pair, or shutting down"))
	default:
		for _, e := range f.Endpoints {
			items = append(items, endpointItem(e), probeItem(e, f.ProbeMisses))
		}
	}
	return append(items, ntpItem(f.Clock))
}

func linkItem(name string, l LinkFact) api.CheckItem {
	it := api.CheckItem{Name: name, OK: l.Up()}
	i := l.Info
	switch {
	case l.Err != nil:
		it.Detail = l.Err.Error()
	case !i.AdminUp:
		it.Detail = fmt.Sprintf("%s is set down on the box", l.Name)
	case !i.Carrier:
		it.Detail = fmt.Sprintf("%s has no carrier (cable unplugged or the other end off), state %s", l.Name, i.OperState)
	default:
		it.Detail = fmt.Sprintf("%s up with carrier, MTU %d", l.Name, i.MTU)
		if len(i.MAC) > 0 {
			it.Detail += ", MAC " + i.MAC.String()
		}
	}
	return it
}

// routeBroken says what is wrong with the default route ("" for nothing),
// in the order: cannot read, none, not via the WAN, gateway fails ARP.
func routeBroken(f Facts) string {
	r := f.Route
	switch {
	case r.Err != nil:
		return r.Err.Error()
	case len(r.Routes) == 0:
		return "no default route"
	case r.ViaWAN == nil:
		return fmt.Sprintf("the default route leaves by %s, not the WAN port %s", r.Routes[0].Interface, f.WAN.Name)
	case r.Neigh.Failed():
		return fmt.Sprintf("gateway %s on %s does not answer ARP (%s)", r.ViaWAN.Gateway, f.WAN.Name, r.Neigh)
	}
	return ""
}

func routeItem(f Facts) api.CheckItem {
	if why := routeBroken(f); why != "" {
		return api.CheckItem{Name: "default_route", Detail: why}
	}
	r := f.Route.ViaWAN
	d := "default route out of " + r.Interface
	if r.Gateway.IsValid() {
		d = fmt.Sprintf("default route via %s on %s, gateway ARP %s", r.Gateway, r.Interface, f.Route.Neigh)
		if f.Route.NeighErr != nil {
			d = fmt.Sprintf("default route via %s on %s, gateway ARP unknown: %v", r.Gateway, r.Interface, f.Route.NeighErr)
		}
	}
	return api.CheckItem{Name: "default_route", OK: true, Detail: d}
}

func endpointItem(e EndpointFact) api.CheckItem {
	var b strings.Builder
	b.WriteString(e.Health.String())
	if e.Active {
		b.WriteString(", active")
	}
	if e.HandshakeAge < 0 {
		b.WriteString(", no handshake yet")
	} else {
		fmt.Fprintf(&b, ", handshake %s ago", age(e.HandshakeAge))
	}
	fmt.Fprintf(&b, ", received %s", bytes(e.RxBytes))
	switch e.Reach {
	case ReachAnswered:
		fmt.Fprintf(&b, "; %s answers ping over the WAN", e.Endpoint)
	case ReachSilent:
		fmt.Fprintf(&b, "; %s does not answer ping over the WAN", e.Endpoint)
	}
	return api.CheckItem{Name: "endpoint:" + e.Name, OK: e.Health == tunnel.Alive, Detail: b.String()}
}

func probeItem(e EndpointFact, misses int) api.CheckItem {
	it := api.CheckItem{Name: "probe:" + e.Name, OK: e.Misses < misses && e.Health != tunnel.Unknown}
	switch {
	case e.Misses == 0 && e.Health != tunnel.Unknown:
		it.Detail = fmt.Sprintf("answered, round trip %.1f ms", e.RTT)
	case e.Health == tunnel.Unknown && e.Misses == 0:
		it.Detail = "not probed yet"
	default:
		it.Detail = fmt.Sprintf("%d probes in a row unanswered (limit %d)", e.Misses, misses)
	}
	return it
}

func ntpItem(c *api.TimeSync) api.CheckItem {
	if c == nil {
		return skipped("ntp", "the time-sync check has not run yet")
	}
	it := api.CheckItem{Name: "ntp", OK: c.OK}
	sys := "system clock synchronised"
	if !c.SystemSynced {
		sys = "system clock NOT synchronised"
	}
	off := time.Duration(c.Offset * float64(time.Second))
	limit := time.Duration(c.MaxOffset * float64(time.Second))
	if c.Server != "" {
		it.Detail = fmt.Sprintf("offset %s from %s (stratum %d, limit %s), %s", signed(off), c.Server, c.Stratum, limit, sys)
	} else {
		it.Detail = fmt.Sprintf("no NTP server answered (%s), %s", c.Error, sys)
	}
	return it
}

func freeSpaceItem(in Inputs) api.CheckItem {
	if in.StateDir == "" {
		return api.CheckItem{Name: "free_space", Detail: "no state directory configured"}
	}
	fs := in.FreeSpace
	if fs == nil {
		fs = Statfs
	}
	avail, total, err := fs(in.StateDir)
	if err != nil {
		return api.CheckItem{Name: "free_space", Detail: err.Error()}
	}
	return api.CheckItem{
		Name:   "free_space",
		OK:     in.MinFreeBytes <= 0 || avail >= uint64(in.MinFreeBytes),
		Detail: fmt.Sprintf("%s free of %s on %s (minimum %s)", bytes(int64(avail)), bytes(int64(total)), in.StateDir, bytes(in.MinFreeBytes)),
	}
}

// Statfs returns the bytes available to an unprivileged user and the size
// of the file system holding dir.
func Statfs(dir string) (avail, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("selfcheck: statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}

// Reading is one thermal zone's temperature.
type Reading struct {
	Zone string  // "thermal_zone0"
	Type string  // "cpu-thermal"
	C    float64 // °C
}

// ReadThermal reads every thermal_zone*/temp under dir (the kernel gives
// millidegrees Celsius). A zone that cannot be read is left out; no zones
// is not an error.
func ReadThermal(dir string) ([]Reading, error) {
	zones, err := filepath.Glob(filepath.Join(dir, "thermal_zone*"))
	if err != nil {
		return nil, err
	}
	var rs []Reading
	for _, z := range zones {
		b, err := os.ReadFile(filepath.Join(z, "temp"))
		if err != nil {
			continue // some zones refuse reads while their sensor sleeps
		}
		m, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			continue
		}
		typ, _ := os.ReadFile(filepath.Join(z, "type"))
		rs = append(rs, Reading{Zone: filepath.Base(z), Type: strings.TrimSpace(string(typ)), C: float64(m) / 1000})
	}
	return rs, nil
}

func temperatureItem(in Inputs) api.CheckItem {
	dir := in.ThermalDir
	if dir == "" {
		dir = "/sys/class/thermal"
	}
	rs, err := ReadThermal(dir)
	if err != nil {
		return api.CheckItem{Name: "temperature", Detail: err.Error()}
	}
	if len(rs) == 0 {
		return skipped("temperature", "the board has no thermal sensor")
	}
	hot := slices.MaxFunc(rs, func(a, b Reading) int {
		switch {
		case a.C < b.C:
			return -1
		case a.C > b.C:
			return 1
		}
		return 0
	})
	name := hot.Zone
	if hot.Type != "" {
		name += " (" + hot.Type + ")"
	}
	return api.CheckItem{
		Name:   "temperature",
		OK:     in.MaxTemperature <= 0 || hot.C <= float64(in.MaxTemperature),
		Detail: fmt.Sprintf("hottest %.1f °C at %s of %d sensors (limit %d °C)", hot.C, name, len(rs), in.MaxTemperature),
	}
}

func upsItem(in Inputs) api.CheckItem {
	var u *api.UPSStatus
	if in.UPS != nil {
		u = in.UPS()
	}
	if u == nil {
		return skipped("ups", "no UPS is watched")
	}
	d := fmt.Sprintf("%s (%s)", u.State, u.Source)
	if u.ChargePct > 0 {
		d += fmt.Sprintf(", charge %.0f%%", u.ChargePct)
	}
	if u.RuntimeS > 0 {
		d += fmt.Sprintf(", runtime %s", age(time.Duration(u.RuntimeS)*time.Second))
	}
	if u.Stale {
		// Lost while online: nothing shuts down, but the box would not
		// see the next power cut; a person should look.
		d += "; not current: " + u.Reason
	}
	return api.CheckItem{Name: "ups", OK: u.State == api.UPSOnline && !u.Stale, Detail: d}
}

// age prints a duration for people: "12s", "5m", "3h".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute).Minutes()))
	case d < 48*time.Hour:
		return timesync.HumanOffset(d)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func signed(d time.Duration) string {
	if d < 0 {
		return "-" + timesync.HumanOffset(d)
	}
	return "+" + timesync.HumanOffset(d)
}

// bytes prints a size in IEC units: "512 B", "8.0 MiB", "1.8 GiB".
func bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
