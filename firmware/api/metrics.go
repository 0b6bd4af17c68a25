package api

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// GET /metrics is written at scrape time from one Status: no registry, no
// state kept between scrapes but the auth-failure counter. The samples are
// written with github.com/VictoriaMetrics/metrics' Write* functions rather
// than prometheus/client_golang, for the box's flash: the same text
// format, for a fraction of the size. Measured with make cross (stripped,
// Go 1.26, the management API wired into shisad): the whole management
// API with this package added 131072 bytes to shisad on arm64 and armv7,
// of which the package itself 65536 on arm64 and nothing visible on armv7
// (the linker pads to 64 KiB, so these are upper bounds), against the
// issue's estimate of about 2.8 MB for client_golang and 0.4 MB for this
// package with its registry in use. Its ExposeMetadata switch is global
// and left off: the HELP and TYPE lines are written here, once per family.
//
// Labels: endpoint= on the per-endpoint families, state= on
// shisa_tunnel_state; site= and unit= only on shisa_build_info (Prometheus
// adds the target's labels, and a join on build_info brings them back).

var tunnelStates = []tunnel.State{tunnel.Connecting, tunnel.Up, tunnel.Down, tunnel.Stopped}

// writeMetrics renders st at now in the Prometheus text format. Families
// whose value is not known (no time-sync check yet, no UPS) are left out
// rather than written as 0, so that an alert on them cannot fire falsely.
func writeMetrics(w *bytes.Buffer, st Status, now time.Time, authFailures uint64) {
	p := promWriter{w}
	p.head("shisa_build_info", "gauge", "Always 1; the labels say which firmware runs where.")
	metrics.WriteGaugeUint64(w, "shisa_build_info"+labels("version", st.Version, "site", st.Site, "unit", st.Unit), 1)
	p.gauge("shisa_uptime_seconds", "Seconds since shisad started.", st.Uptime)

	t := st.Tunnel
	p.gauge("shisa_tunnel_up", "1 when the tunnel is up (an endpoint answers probes through it).", b01(t.State == tunnel.Up))
	p.head("shisa_tunnel_state", "gauge", "1 for the tunnel's current state, 0 for the others.")
	for _, s := range tunnelStates {
		metrics.WriteGaugeUint64(w, "shisa_tunnel_state"+labels("state", s.String()), uint64(b01(t.State == s)))
	}
	p.counter("shisa_tunnel_switches_total", "Switches between datacenter endpoints (failovers and failbacks) since start.", int64(t.Failovers))

	eps := t.Endpoints
	p.perEndpoint(eps, "shisa_endpoint_up", "1 when the datacenter endpoint answers probes.",
		func(e tunnel.EndpointStatus) (float64, bool) { return b01(e.Health == tunnel.Alive), true })
	p.perEndpoint(eps, "shisa_endpoint_active", "1 for the endpoint the tunnel goes through.",
		func(e tunnel.EndpointStatus) (float64, bool) { return b01(e.Active), true })
	p.perEndpoint(eps, "shisa_endpoint_handshake_age_seconds", "Seconds since the endpoint's last WireGuard handshake (absent before the first).",
		func(e tunnel.EndpointStatus) (float64, bool) {
			return max(now.Sub(e.LastHandshake).Seconds(), 0), !e.LastHandshake.IsZero()
		})
	p.perEndpoint(eps, "shisa_endpoint_rtt_seconds", "Round-trip time of the endpoint's last answered probe.",
		func(e tunnel.EndpointStatus) (float64, bool) { return e.RTT / 1e3, e.RTT > 0 })
	p.head("shisa_endpoint_rx_bytes_total", "counter", "Bytes received from the endpoint.")
	for _, e := range eps {
		metrics.WriteCounterUint64(w, "shisa_endpoint_rx_bytes_total"+labels("endpoint", e.Name), uint64(max(e.RxBytes, 0)))
	}
	p.head("shisa_endpoint_tx_bytes_total", "counter", "Bytes sent to the endpoint.")
	for _, e := range eps {
		metrics.WriteCounterUint64(w, "shisa_endpoint_tx_bytes_total"+labels("endpoint", e.Name), uint64(max(e.TxBytes, 0)))
	}

	p.gauge("shisa_safe_mode", "1 when shisad runs in safe mode (tunnel only, after failed starts).", b01(st.SafeMode != ""))
	p.gauge("shisa_watchdog_stuck_jobs", "Jobs whose watchdog check is stale.", float64(len(st.Stuck)))
	if ts := st.TimeSync; ts != nil {
		p.gauge("shisa_time_sync_ok", "1 when the last time-sync check passed.", b01(ts.OK))
		if ts.Error == "" {
			p.gauge("shisa_time_offset_seconds", "Local clock minus the NTP servers' time at the last check.", ts.Offset)
		}
	}
	if sc := st.SelfCheck; sc != nil {
		p.gauge("shisa_selfcheck_ok", "1 when the last daily self-check passed.", b01(sc.OK))
		p.gauge("shisa_selfcheck_timestamp_seconds", "Unix time of the last daily self-check.", float64(sc.At.UnixMilli())/1e3)
	}
	writePowerMetrics(p, st, now)
	if st.Pair != nil {
		p.pair(w, st.Pair)
	}
	p.counter("shisa_api_auth_failures_total", "Management API requests refused for a missing or wrong token.", int64(authFailures))

	rt := st.Runtime
	if rt == (Runtime{}) {
		rt = ReadRuntime()
	}
	p.gauge("go_goroutines", "Goroutines of shisad.", float64(rt.Goroutines))
	p.gauge("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", rt.HeapMB*(1<<20))
	p.gauge("go_memstats_sys_bytes", "Bytes of memory obtained from the OS by the Go runtime.", rt.SysMB*(1<<20))
}

type promWriter struct{ w *bytes.Buffer }

func (p promWriter) head(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p promWriter) gauge(name, help string, v float64) {
	p.head(name, "gauge", help)
	metrics.WriteGaugeFloat64(p.w, name, v)
}

func (p promWriter) counter(name, help string, v int64) {
	p.head(name, "counter", help)
	metrics.WriteCounterUint64(p.w, name, uint64(max(v, 0)))
}

// perEndpoint writes the gauge name for every endpoint value says it has;
// the family is left out when none has.
func (p promWriter) perEndpoint(eps []tunnel.EndpointStatus, name, help string, value func(tunnel.EndpointStatus) (float64, bool)) {
	headed := false
	for _, e := range eps {
		v, ok := value(e)
		if !ok {
			continue
		}
		if !headed {
			p.head(name, "gauge", help)
			headed = true
		}
		metrics.WriteGaugeFloat64(p.w, name+labels("endpoint", e.Name), v)
	}
}

func b01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// labels formats name/value pairs as {a="x",b="y"}, escaping the values
// as the text format wants (backslash, double quote, newline).
func labels(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// writePowerMetrics writes the power job's families: the UPS's (absent
// without a UPS; charge and runtime absent when the UPS does not say), the
// planned outage's (absent when none is planned) and the state machine's
// (absent where the power job does not run).
func writePowerMetrics(p promWriter, st Status, now time.Time) {
	if u := st.UPS; u != nil {
		p.gauge("shisa_ups_on_battery", "1 when the box runs on its UPS battery.", b01(u.OnBattery()))
		p.gauge("shisa_ups_low_battery", "1 when the UPS's battery is low (or the UPS was lost while on battery).", b01(u.State == UPSLowBattery))
		p.gauge("shisa_ups_stale", "1 when the UPS's data is not current (NUT server lost, DATA-STALE).", b01(u.Stale))
		if u.ChargePct >= 0 {
			p.gauge("shisa_ups_battery_charge_ratio", "Battery charge as the UPS reports it, 0 to 1.", u.ChargePct/100)
		}
		if u.RuntimeS >= 0 {
			p.gauge("shisa_ups_battery_runtime_seconds", "Runtime left on battery as the UPS estimates it.", u.RuntimeS)
		}
	}
	if st.NextOutage != nil {
		p.gauge("shisa_outage_planned_active", "1 while a planned power outage is in progress (from shortly before the box shuts down for it until its end).", b01(st.NextOutage.Active(now)))
		p.gauge("shisa_outage_planned_start_timestamp_seconds", "Unix time of the next (or current) planned outage's start.", float64(st.NextOutage.Start.Unix()))
	}
	if st.Power != "" {
		p.head("shisa_power_state", "gauge", "1 for the power state machine's current state (online, on_battery, shutting_down, halted), 0 for the others.")
		for _, s := range PowerStates {
			metrics.WriteGaugeUint64(p.w, "shisa_power_state"+labels("state", s), uint64(b01(st.Power == s)))
		}
	}
}
