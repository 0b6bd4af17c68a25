package netnstest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// DCPeerPkg is the import path of the dcpeer command.
const DCPeerPkg = "github.com/shisa-gw/shisa/netctl/netnstest/dcpeer"

// DCPeerOptions configures one dcpeer process. Zero values take the
// defaults shown.
type DCPeerOptions struct {
	Interface  string         // "wg-dc"
	PrivateKey wgtypes.Key    // required
	ListenPort int            // 51820
	Addrs      []netip.Prefix // interface addresses, such as 10.99.0.1/24 and 10.20.0.10/32
	Peers      []DCPeerPeer
	MTU        int    // 1420
	TCPSink    string // sink listen address, such as ":9000"; empty: none
	TCPEcho    string // echo listen address, such as ":9001"; empty: none
	UDPEcho    string // UDP echo listen address, such as ":9002"; empty: none
	// Ready bounds the wait for the ready file: 20s.
	Ready time.Duration
	// Args are extra command-line arguments, such as "-v".
	Args []string
}

// DCPeerPeer is one WireGuard peer of a dcpeer.
type DCPeerPeer struct {
	PublicKey  wgtypes.Key
	AllowedIPs []netip.Prefix
	// Endpoint is the peer's address; zero for none (the peer roams to
	// us, as the site does to the datacenter).
	Endpoint  netip.AddrPort
	Keepalive time.Duration // persistent keepalive; zero for none
}

// args returns dcpeer's command line (without the binary) for o, with the
// key read from keyFile and readiness reported in readyFile.
func (o DCPeerOptions) args(keyFile, readyFile string) []string {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	ori := func(i, def int) string {
		if i == 0 {
			i = def
		}
		return strconv.Itoa(i)
	}
	a := []string{
		"-if", or(o.Interface, "wg-dc"),
		"-key", keyFile,
		"-listen-port", ori(o.ListenPort, 51820),
		"-mtu", ori(o.MTU, 1420),
		"-ready", readyFile,
	}
	for _, p := range o.Addrs {
		a = append(a, "-addr", p.String())
	}
	for _, p := range o.Peers {
		a = append(a, "-peer", p.PublicKey.String())
		if len(p.AllowedIPs) > 0 {
			s := make([]string, len(p.AllowedIPs))
			for i, ip := range p.AllowedIPs {
				s[i] = ip.String()
			}
			a = append(a, "-peer-allowed", strings.Join(s, ","))
		}
		if p.Endpoint.IsValid() {
			a = append(a, "-endpoint", p.Endpoint.String())
		}
		if p.Keepalive > 0 {
			a = append(a, "-keepalive", strconv.Itoa(int(p.Keepalive.Seconds())))
		}
	}
	if o.TCPSink != "" {
		a = append(a, "-tcp-sink", o.TCPSink)
	}
	if o.TCPEcho != "" {
		a = append(a, "-tcp-echo", o.TCPEcho)
	}
	if o.UDPEcho != "" {
		a = append(a, "-udp-echo", o.UDPEcho)
	}
	return append(a, o.Args...)
}

// StartDCPeer builds dcpeer (once per test binary), writes its key file
// (mode 0600), starts it in ns and waits until it reports ready. It stops
// the test, with dcpeer's output, if dcpeer exits or is not ready in
// time. The rig's teardown stops it.
func (r *Rig) StartDCPeer(ns *NS, opts DCPeerOptions) *Proc {
	r.t.Helper()
	bin := BuildBinary(r.t, DCPeerPkg)
	if opts.PrivateKey == (wgtypes.Key{}) {
		r.t.Fatalf("netnstest: ns %s: dcpeer: no private key", ns.name)
	}
	dir, err := os.MkdirTemp("", "dcpeer-"+ns.name+"-")
	if err != nil {
		r.t.Fatalf("netnstest: ns %s: dcpeer: %v", ns.name, err)
	}
	r.t.Cleanup(func() { _ = os.RemoveAll(dir) }) // runs after the rig's teardown
	keyFile, readyFile := filepath.Join(dir, "key"), filepath.Join(dir, "ready")
	if err := os.WriteFile(keyFile, []byte(opts.PrivateKey.String()+"\n"), 0o600); err != nil {
		r.t.Fatalf("netnstest: ns %s: dcpeer: write key: %v", ns.name, err)
	}
	p := ns.Start(bin, opts.args(keyFile, readyFile)...)
	if err := waitReady(p, readyFile, orDefault(opts.Ready, 20*time.Second)); err != nil {
		r.t.Fatalf("netnstest: %v\noutput:\n%s", err, p.Output())
	}
	return p
}

// waitReady polls for the ready file until it appears, the process exits
// or timeout passes.
func waitReady(p *Proc, file string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(file); err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s: exited before ready: %v", p, p.Wait())
		case <-deadline.C:
			return fmt.Errorf("%s: not ready after %v", p, timeout)
		case <-tick.C:
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
