// Command dcpeer is the datacenter end of the tunnel in shisa's namespace
// tests: a wireguard-go device on a TUN interface with a TCP sink and a
// TCP echo behind it. Run it inside a network namespace:
//
//	ip netns exec NS dcpeer -if wg-dc -key dc.key -listen-port 51820 \
//		-addr 10.99.0.1/24 -addr 10.20.0.10/32 \
//		-peer SITEPUBKEY -peer-allowed 10.99.1.0/24,192.168.10.0/24 \
//		-tcp-sink :9000 -tcp-echo :9001 -udp-echo :9002 -ready /tmp/x/ready
//
// -peer starts a peer; -peer-allowed, -endpoint and -keepalive that
// follow it configure that peer, so dcpeer can also play the site side
// (a peer with -endpoint). Without -endpoint the peer roams to us.
//
// The sink reads each connection to EOF and answers one line
// "<bytes> <sha256 hex>\n". The echo copies back what it reads; the UDP
// echo answers each datagram with the same bytes. The ready
// file is written (atomically) when the device, addresses, routes and
// listeners are up. SIGTERM or SIGINT closes the device and exits 0.
// Peers' endpoints and handshakes are logged to stderr when they change.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

type peer struct {
	pub       []byte
	allowed   []netip.Prefix
	endpoint  string
	keepalive int
}

type config struct {
	ifName     string
	keyFile    string
	listenPort int
	addrs      []netip.Prefix
	peers      []*peer
	mtu        int
	sink, echo string
	udpEcho    string
	ready      string
	status     time.Duration
	verbose    bool
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("prog", "dcpeer")
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dcpeer:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("dcpeer", flag.ContinueOnError)
	fs.StringVar(&cfg.ifName, "if", "wg-dc", "WireGuard `interface` name")
	fs.StringVar(&cfg.keyFile, "key", "", "`file` holding the base64 private key")
	fs.IntVar(&cfg.listenPort, "listen-port", 51820, "UDP listen `port`")
	fs.IntVar(&cfg.mtu, "mtu", 1420, "interface MTU")
	fs.StringVar(&cfg.sink, "tcp-sink", "", "TCP sink listen `address`, such as :9000")
	fs.StringVar(&cfg.echo, "tcp-echo", "", "TCP echo listen `address`, such as :9001")
	fs.StringVar(&cfg.udpEcho, "udp-echo", "", "UDP echo listen `address`, such as :9002")
	fs.StringVar(&cfg.ready, "ready", "", "`file` written when everything is up")
	fs.DurationVar(&cfg.status, "status-interval", 2*time.Second, "how often to check peers for changes to log")
	fs.BoolVar(&cfg.verbose, "v", false, "verbose wireguard-go logging")
	fs.Func("addr", "interface address `prefix` (repeatable)", func(s string) error {
		p, err := netip.ParsePrefix(s)
		cfg.addrs = append(cfg.addrs, p)
		return err
	})
	fs.Func("peer", "peer public `key` (base64); starts a new peer", func(s string) error {
		k, err := base64.StdEncoding.DecodeString(s)
		if err == nil && len(k) != 32 {
			err = fmt.Errorf("key is %d bytes, want 32", len(k))
		}
		cfg.peers = append(cfg.peers, &peer{pub: k})
		return err
	})
	lastPeer := func(flag string) (*peer, error) {
		if len(cfg.peers) == 0 {
			return nil, fmt.Errorf("-%s before any -peer", flag)
		}
		return cfg.peers[len(cfg.peers)-1], nil
	}
	fs.Func("peer-allowed", "comma-separated allowed `prefixes` of the last -peer", func(s string) error {
		p, err := lastPeer("peer-allowed")
		if err != nil {
			return err
		}
		for _, f := range strings.Split(s, ",") {
			pr, err := netip.ParsePrefix(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			p.allowed = append(p.allowed, pr.Masked())
		}
		return nil
	})
	fs.Func("endpoint", "`host:port` of the last -peer (default: none, it roams to us)", func(s string) error {
		p, err := lastPeer("endpoint")
		if err != nil {
			return err
		}
		if _, err := netip.ParseAddrPort(s); err != nil {
			return err
		}
		p.endpoint = s
		return nil
	})
	fs.Func("keepalive", "persistent keepalive `seconds` of the last -peer", func(s string) error {
		p, err := lastPeer("keepalive")
		if err != nil {
			return err
		}
		p.keepalive, err = strconv.Atoi(s)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.keyFile == "" {
		return nil, errors.New("-key is required")
	}
	return cfg, nil
}

func run(ctx context.Context, cfg *config, log *slog.Logger) (err error) {
	keyText, err := os.ReadFile(cfg.keyFile)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(keyText)))
	if err != nil || len(key) != 32 {
		return fmt.Errorf("key file %s: want a base64 32-byte key", cfg.keyFile)
	}

	tdev, err := tun.CreateTUN(cfg.ifName, cfg.mtu)
	if err != nil {
		return fmt.Errorf("create TUN %s: %w", cfg.ifName, err)
	}
	level := device.LogLevelError
	if cfg.verbose {
		level = device.LogLevelVerbose
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), device.NewLogger(level, "dcpeer wg: "))
	defer dev.Close() // also closes the TUN, which removes the link

	var uapi strings.Builder
	fmt.Fprintf(&uapi, "private_key=%s\nlisten_port=%d\n", hex.EncodeToString(key), cfg.listenPort)
	for _, p := range cfg.peers {
		fmt.Fprintf(&uapi, "public_key=%s\n", hex.EncodeToString(p.pub))
		if p.endpoint != "" {
			fmt.Fprintf(&uapi, "endpoint=%s\n", p.endpoint)
		}
		if p.keepalive > 0 {
			fmt.Fprintf(&uapi, "persistent_keepalive_interval=%d\n", p.keepalive)
		}
		for _, a := range p.allowed {
			fmt.Fprintf(&uapi, "allowed_ip=%s\n", a)
		}
	}
	if err := dev.IpcSet(uapi.String()); err != nil {
		return fmt.Errorf("configure device: %w", err)
	}
	if err := dev.Up(); err != nil {
		return fmt.Errorf("device up: %w", err)
	}
	if err := setupLink(cfg); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, svc := range []struct {
		name, addr string
		serve      func(net.Conn)
	}{{"sink", cfg.sink, sink}, {"echo", cfg.echo, echo}} {
		if svc.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", svc.addr)
		if err != nil {
			return fmt.Errorf("listen %s on %s: %w", svc.name, svc.addr, err)
		}
		log.Info("listening", "service", svc.name, "addr", l.Addr().String())
		wg.Go(func() { <-ctx.Done(); l.Close() })
		wg.Go(func() { serve(ctx, l, svc.serve, log.With("service", svc.name)) })
	}
	if cfg.udpEcho != "" {
		pc, err := net.ListenPacket("udp4", cfg.udpEcho)
		if err != nil {
			return fmt.Errorf("listen udp echo on %s: %w", cfg.udpEcho, err)
		}
		log.Info("listening", "service", "udp-echo", "addr", pc.LocalAddr().String())
		wg.Go(func() { <-ctx.Done(); pc.Close() })
		wg.Go(func() { udpEcho(ctx, pc, log.With("service", "udp-echo")) })
	}
	wg.Go(func() { watchPeers(ctx, dev, cfg.status, log) })

	if cfg.ready != "" {
		if err := writeReady(cfg.ready); err != nil {
			return err
		}
	}
	log.Info("ready", "if", cfg.ifName, "port", cfg.listenPort, "peers", len(cfg.peers))
	<-ctx.Done()
	return nil
}

// setupLink adds the addresses and the routes to the peers' allowed IPs
// and brings the interface up.
func setupLink(cfg *config) error {
	l, err := netlink.LinkByName(cfg.ifName)
	if err != nil {
		return fmt.Errorf("find link %s: %w", cfg.ifName, err)
	}
	for _, p := range cfg.addrs {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			a.Flags = syscall.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			return fmt.Errorf("add address %s to %s: %w", p, cfg.ifName, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", cfg.ifName, err)
	}
	for _, p := range cfg.peers {
		for _, a := range p.allowed {
			rt := &netlink.Route{
				LinkIndex: l.Attrs().Index,
				Scope:     netlink.SCOPE_LINK,
				Dst:       &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())},
			}
			if err := netlink.RouteReplace(rt); err != nil {
				return fmt.Errorf("route %s dev %s: %w", a, cfg.ifName, err)
			}
		}
	}
	return nil
}

func writeReady(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}

func serve(ctx context.Context, l net.Listener, handle func(net.Conn), log *slog.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() == nil {
				log.Error("accept", "err", err)
			}
			return
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		wg.Go(func() {
			defer stop()
			defer c.Close()
			handle(c)
		})
	}
}

// sink reads to EOF and answers "<bytes> <sha256 hex>\n".
func sink(c net.Conn) {
	h := sha256.New()
	n, err := io.Copy(h, bufio.NewReaderSize(c, 64<<10))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dcpeer: sink %s: after %d bytes: %v\n", c.RemoteAddr(), n, err)
		return
	}
	fmt.Fprintf(c, "%d %x\n", n, h.Sum(nil))
	fmt.Fprintf(os.Stderr, "dcpeer: sink %s: %d bytes sha256 %x\n", c.RemoteAddr(), n, h.Sum(nil))
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// udpEcho answers each datagram with the same bytes, from the address it
// was sent to (the device has several; a reply from another would not
// match the client's connected socket), until pc is closed.
func udpEcho(ctx context.Context, pc net.PacketConn, log *slog.Logger) {
	p := ipv4.NewPacketConn(pc)
	if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
		log.Error("udp echo: ask for destination addresses", "err", err)
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, cm, from, err := p.ReadFrom(buf)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("read", "err", err)
			}
			return
		}
		var reply *ipv4.ControlMessage
		if cm != nil && cm.Dst != nil {
			reply = &ipv4.ControlMessage{Src: cm.Dst}
		}
		// A lost answer is what UDP does; the client counts it.
		_, _ = p.WriteTo(buf[:n], reply, from)
	}
}

// watchPeers logs each peer's endpoint and last handshake when they change.
func watchPeers(ctx context.Context, dev *device.Device, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		state, err := dev.IpcGet()
		if err != nil {
			log.Error("read device state", "err", err)
			continue
		}
		for _, p := range parsePeers(state) {
			cur := p.endpoint + " " + p.handshake
			if last[p.key] == cur {
				continue
			}
			prev := last[p.key]
			last[p.key] = cur
			log.Info("peer", "key", p.key, "endpoint", p.endpoint, "last_handshake", p.handshake,
				"rx", p.rx, "tx", p.tx, "roamed", prev != "" && !strings.HasPrefix(prev, p.endpoint+" "))
		}
	}
}

type peerState struct{ key, endpoint, handshake, rx, tx string }

func parsePeers(uapi string) []peerState {
	var out []peerState
	for _, line := range strings.Split(uapi, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		var p *peerState
		if len(out) > 0 {
			p = &out[len(out)-1]
		}
		switch k {
		case "public_key":
			ps := peerState{endpoint: "-", handshake: "never"}
			if b, err := hex.DecodeString(v); err == nil {
				ps.key = base64.StdEncoding.EncodeToString(b)
			}
			out = append(out, ps)
		case "endpoint":
			if p != nil {
				p.endpoint = v
			}
		case "last_handshake_time_sec":
			if p != nil && v != "0" {
				if s, err := strconv.ParseInt(v, 10, 64); err == nil {
					p.handshake = time.Unix(s, 0).UTC().Format(time.RFC3339)
				}
			}
		case "rx_bytes":
			if p != nil {
				p.rx = v
			}
		case "tx_bytes":
			if p != nil {
				p.tx = v
			}
		}
	}
	return out
}
