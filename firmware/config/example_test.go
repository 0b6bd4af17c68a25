package config_test

import (
	"errors"
	"fmt"

	"github.com/shisa-gw/shisa/firmware/config"
)

// Checking a config as `shisactl config check` does. SkipFileChecks leaves
// out the private key file (whose mode git does not keep); shisad never
// skips it.
func Example() {
	s, err := config.Options{SkipFileChecks: true}.Load("../../testdata/site.example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(s.Summary())
	// Output:
	// config     ../../testdata/site.example.yaml
	// site       hamamatsu-honcho, unit a, time zone Asia/Tokyo
	// ports      wan eth0, lan eth1
	// tunnel     wg-shisa (backend auto), listen port 51820, MTU 1420
	// address    10.99.1.2/24, management 10.99.1.2
	// routes     10.20.0.0/16, 10.30.0.0/24
	// endpoints  2, distinct keys: each endpoint is its own peer
	//            1. dc1  dc1.example.jp:51820  key DbfQ0V2V…  probe 10.20.0.1
	//            2. dc2  198.51.100.7:51820  key yh+miyCl…  probe 10.20.0.2
	// failback   to dc1 after 1m of health (hold-down)
	// keepalive  every 10s
	// probe      every 500ms, timeout 500ms; dead after 3 misses, alive again after 3 answers
	// detection  1.5s (interval × misses); handshake older than 3m also means dead
	// targets    portal.city.example.jp:443, 10.20.1.10:5432
	// api        /run/shisa/shisad.sock
	// journal    /var/lib/shisa/journal, at most 16 MiB
	// watchdog   systemd's (WatchdogSec); safe mode after 5 failed starts in 10m; a start is good after 1m
	// pair       this unit 192.168.10.2, peer 192.168.10.3, priority 200, virtual IP 192.168.10.1/24 on eth1
	//            heartbeat every 10ms on UDP 5405, peer dead after 150ms; preemption off
}

// Every problem in a file comes back at once, each with its line and key.
func ExampleError() {
	_, err := config.Parse("site.yaml", []byte(`site: Hamamatsu
unit: a
wan: {interface: eth0}
lan: {interface: eth0}
tunnel:
  private_key_file: /nonexistent/site.key
  mtu: 9000
`))
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// site.yaml:1: site: "Hamamatsu" is not a valid name (want 1 to 63 lowercase letters, digits and '-', starting with a letter or digit)
	// site.yaml:4: lan.interface: same port as wan.interface (eth0); WAN and LAN must be different ports
	// site.yaml:5: tunnel.address: missing; required: this unit's tunnel address with prefix length, such as 10.99.1.2/32
	// site.yaml:5: tunnel.routes: missing; required: the datacenter subnets to route into the tunnel
	// site.yaml:5: tunnel.endpoints: missing; required: the datacenter endpoints, in order of preference
	// site.yaml:6: tunnel.private_key_file: key file /nonexistent/site.key does not exist
	// site.yaml:7: tunnel.mtu: 9000 is out of range (want 1280 to 1500)
}
