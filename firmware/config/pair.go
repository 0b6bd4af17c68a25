package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Pair makes this box one unit of a hot-standby pair (see package ha): the
// two units share the site's key and the LAN virtual IP; the active one
// holds the VIP and the tunnel. The two units' files differ only in
// pair.address and pair.priority. Without a pair section the box is alone
// and always active.
type Pair struct {
	// Address is this unit's own LAN address (on lan.interface); the
	// heartbeats are sent from it. One of pair.units. Required in a pair.
	Address netip.Addr `yaml:"address"`
	// Units are the LAN addresses of both units, the same list on both.
	// Two IPv4 addresses inside pair.virtual_ip's subnet. Required.
	Units []netip.Addr `yaml:"units"`
	// Priority of this unit, 1 to 255; the higher one is active when both
	// are healthy. Give the units different priorities. Default 100.
	Priority int `yaml:"priority"`
	// SecretFile holds the pair secret that authenticates heartbeats
	// (HMAC-SHA256): one line of at least 32 characters, the same file on
	// both units, mode 0600 or 0400 (make one with `shisactl token new
	// FILE`). Required.
	SecretFile string `yaml:"secret_file"`
	// VirtualIP is the LAN gateway address the office hosts route the
	// cloud's subnets to, with the LAN's prefix length, such as
	// 192.168.10.1/24. IPv4. Required.
	VirtualIP netip.Prefix `yaml:"virtual_ip"`
	// Port is the UDP port of the heartbeats on both units. Default 5405.
	Port int `yaml:"port"`
	// Interval between heartbeats, 1ms to 1s. Default 10ms.
	Interval Duration `yaml:"interval"`
	// DeadMultiplier: the peer is dead after this many intervals without
	// a valid heartbeat, 2 to 255. Default 15 (150 ms with 10ms).
	DeadMultiplier int `yaml:"dead_multiplier"`
	// Preempt lets the unit with the higher priority take the active role
	// back from a healthy active after pair.preempt_delay. Default false
	// (the active stays active until it fails: one switch per failure).
	Preempt *bool `yaml:"preempt"`
	// PreemptDelay: how long this unit must outrank the active before it
	// preempts. Default 30s.
	PreemptDelay Duration `yaml:"preempt_delay"`
}

// Enabled reports whether the config has a pair section.
func (p *Pair) Enabled() bool {
	return p.VirtualIP.IsValid() || p.Address.IsValid() || len(p.Units) > 0
}

// Peer is the other unit's LAN address.
func (p *Pair) Peer() netip.Addr {
	for _, u := range p.Units {
		if u != p.Address {
			return u
		}
	}
	return netip.Addr{}
}

// Secret reads the pair secret (the trimmed line of SecretFile).
func (p *Pair) Secret() ([]byte, error) {
	b, err := os.ReadFile(p.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("config: reading pair.secret_file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return nil, fmt.Errorf("config: pair.secret_file %s holds %d characters; at least 32 are needed", p.SecretFile, len(s))
	}
	return []byte(s), nil
}

// Defaults of the pair section.
const (
	DefaultPairPriority       = 100
	DefaultPairPort           = 5405
	DefaultPairInterval       = 10 * time.Millisecond
	DefaultPairDeadMultiplier = 15
	DefaultPairPreemptDelay   = 30 * time.Second
)

// pair checks the pair section, when there is one.
func (o Options) pair(s *Site, d *decoder, resolve func(string) string) {
	if !d.present("pair") {
		return
	}
	p := &s.Pair
	d.required("pair.address", "this unit's own LAN address, such as 192.168.10.2")
	d.required("pair.units", "both units' LAN addresses, such as [192.168.10.2, 192.168.10.3]")
	d.required("pair.secret_file", "the file holding the pair secret (make one with: shisactl token new FILE)")
	d.required("pair.virtual_ip", "the office's gateway address with the LAN prefix, such as 192.168.10.1/24")
	vipOK := false
	if d.has("pair.virtual_ip") {
		v := p.VirtualIP
		switch {
		case !v.Addr().Is4():
			d.errorf("pair.virtual_ip", "%s is not IPv4 (gratuitous ARP announces IPv4 only)", v)
		case v.Bits() < 8 || v.Bits() > 32:
			d.errorf("pair.virtual_ip", "%s: want the LAN's prefix length, /8 to /32", v)
		case !v.Addr().IsGlobalUnicast() && !v.Addr().IsPrivate():
			d.errorf("pair.virtual_ip", "%s is not a unicast address", v)
		default:
			vipOK = true
		}
	}
	if d.has("pair.units") {
		switch {
		case len(p.Units) != 2:
			d.errorf("pair.units", "lists %d addresses; a pair has exactly 2 units", len(p.Units))
		case p.Units[0] == p.Units[1]:
			d.errorf("pair.units", "lists %s twice; the units need different addresses", p.Units[0])
		default:
			for i, u := range p.Units {
				f := fmt.Sprintf("pair.units[%d]", i)
				switch {
				case !u.Is4():
					d.errorf(f, "%s is not IPv4", u)
				case vipOK && u == p.VirtualIP.Addr():
					d.errorf(f, "%s is the virtual IP; each unit needs its own address besides it", u)
				case vipOK && !p.VirtualIP.Masked().Contains(u):
					d.errorf(f, "%s is outside pair.virtual_ip's subnet %s; both units must be on the office LAN", u, p.VirtualIP.Masked())
				}
			}
		}
	}
	if d.has("pair.address") && d.has("pair.units") && len(p.Units) == 2 {
		if p.Address != p.Units[0] && p.Address != p.Units[1] {
			d.errorf("pair.address", "%s is not one of pair.units (%s, %s)", p.Address, p.Units[0], p.Units[1])
		}
	}
	if !d.has("pair.priority") {
		p.Priority = DefaultPairPriority
	} else if p.Priority < 1 || p.Priority > 255 {
		d.errorf("pair.priority", "%d is out of range (want 1 to 255)", p.Priority)
	}
	if d.has("pair.secret_file") {
		p.SecretFile = resolve(p.SecretFile)
		if !o.SkipFileChecks {
			if msg := checkSecretFile(p.SecretFile, "pair secret"); msg != "" {
				d.errorf("pair.secret_file", "%s", msg)
			}
		}
	}
	if !d.has("pair.port") {
		p.Port = DefaultPairPort
	} else if p.Port < 1 || p.Port > 65535 {
		d.errorf("pair.port", "%d is not a UDP port (want 1 to 65535)", p.Port)
	}
	if !d.has("pair.interval") {
		p.Interval = Duration(DefaultPairInterval)
	} else if i := p.Interval.D(); i < time.Millisecond || i > time.Second {
		d.errorf("pair.interval", "%s is out of range (want 1ms to 1s)", p.Interval)
	}
	if !d.has("pair.dead_multiplier") {
		p.DeadMultiplier = DefaultPairDeadMultiplier
	} else if p.DeadMultiplier < 2 || p.DeadMultiplier > 255 {
		d.errorf("pair.dead_multiplier", "%d is out of range (want 2 to 255: a single lost heartbeat must not fail over)", p.DeadMultiplier)
	}
	if !d.has("pair.preempt") {
		no := false
		p.Preempt = &no
	}
	if !d.has("pair.preempt_delay") {
		p.PreemptDelay = Duration(DefaultPairPreemptDelay)
	} else if p.PreemptDelay < 0 {
		d.errorf("pair.preempt_delay", "must not be negative")
	}
}
