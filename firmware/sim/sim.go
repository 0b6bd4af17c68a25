// Package sim simulates the far side of the tunnel for the rootless demo and
// tests: datacenter endpoints (wireguard-go devices), one cloud behind all of
// them on a userspace TCP/IP stack (so a TCP connection to a cloud service
// survives a datacenter failover, as it does when the real cloud sits behind
// both datacenter devices), and UDP relays in front of each endpoint that can
// cut the path or drop a share of its packets.
//
// Routing in the simulated datacenter: a packet from the cloud to the site
// leaves through the endpoint that owns its source address when that is an
// endpoint's probe address, and otherwise through the endpoint that last
// delivered the site's traffic (the datacenter's routing follows the site's
// active path).
package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// EndpointSpec describes one simulated datacenter endpoint.
type EndpointSpec struct {
	Name  string
	Probe netip.Addr // answers ICMP echo through this endpoint only
}

// Options configures a Cloud.
type Options struct {
	Endpoints []EndpointSpec
	// SharedKey gives all endpoints one WireGuard key (one device behind
	// several front doors).
	SharedKey bool
	// SitePublicKey is the site's WireGuard public key.
	SitePublicKey wgtypes.Key
	// SiteAllowed are the site's addresses (tunnel address, office LAN).
	SiteAllowed []netip.Prefix
	// Services are the cloud's addresses (e.g. 10.20.0.10).
	Services []netip.Addr
	Logger   *slog.Logger
}

// Cloud is the simulated datacenter.
type Cloud struct {
	log       *slog.Logger
	endpoints []*Endpoint
	tun       tun.Device
	net       *netstack.Net
	carrier   atomic.Int32 // endpoint index carrying the site's traffic
	probes    map[netip.Addr]int
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Endpoint is one datacenter endpoint with its relay.
type Endpoint struct {
	Name   string
	Key    wgtypes.Key // private
	Probe  netip.Addr
	Relay  *Relay
	dev    *device.Device
	port   *port
	cloud  *Cloud
	index  int
	pkts   atomic.Int64
	direct netip.AddrPort
}

// New starts the datacenter: one wireguard-go device per endpoint on
// loopback UDP, each behind a relay, and the cloud's stack.
func New(opts Options) (*Cloud, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cloud{log: log, probes: map[netip.Addr]int{}}
	addrs := append([]netip.Addr(nil), opts.Services...)
	for i, e := range opts.Endpoints {
		if _, dup := c.probes[e.Probe]; !dup {
			addrs = append(addrs, e.Probe)
			c.probes[e.Probe] = i
		}
	}
	var err error
	c.tun, c.net, err = netstack.CreateNetTUN(addrs, nil, 1420)
	if err != nil {
		return nil, fmt.Errorf("sim: cloud stack: %w", err)
	}
	shared, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	for i, spec := range opts.Endpoints {
		key := shared
		if !opts.SharedKey {
			if key, err = wgtypes.GeneratePrivateKey(); err != nil {
				return nil, err
			}
		}
		e := &Endpoint{Name: spec.Name, Key: key, Probe: spec.Probe, cloud: c, index: i,
			port: newPort()}
		e.dev = device.NewDevice(e.port, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
		var cfg strings.Builder
		fmt.Fprintf(&cfg, "private_key=%x\nlisten_port=0\npublic_key=%x\n", key[:], opts.SitePublicKey[:])
		for _, p := range opts.SiteAllowed {
			fmt.Fprintf(&cfg, "allowed_ip=%s\n", p)
		}
		if err := e.dev.IpcSet(cfg.String()); err != nil {
			c.Close()
			return nil, fmt.Errorf("sim: configuring %s: %w", spec.Name, err)
		}
		if err := e.dev.Up(); err != nil {
			c.Close()
			return nil, err
		}
		lp, err := listenPort(e.dev)
		if err != nil {
			c.Close()
			return nil, err
		}
		e.direct = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), lp)
		e.Relay, err = NewRelay(e.direct)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.endpoints = append(c.endpoints, e)
		c.wg.Go(func() { c.fromSite(e) })
	}
	c.wg.Go(c.toSite)
	return c, nil
}

func listenPort(d *device.Device) (uint16, error) {
	s, err := d.IpcGet()
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(l, "listen_port="); ok {
			p, err := strconv.ParseUint(v, 10, 16)
			return uint16(p), err
		}
	}
	return 0, errors.New("sim: device has no listen port")
}

// Endpoints returns the endpoints in order.
func (c *Cloud) Endpoints() []*Endpoint { return c.endpoints }

// Net is the cloud's stack: listen on a service address through it.
func (c *Cloud) Net() *netstack.Net { return c.net }

// Carrier names the endpoint that carries the site's traffic now.
func (c *Cloud) Carrier() string { return c.endpoints[c.carrier.Load()].Name }

// PublicKey is the endpoint's WireGuard public key.
func (e *Endpoint) PublicKey() wgtypes.Key { return e.Key.PublicKey() }

// Address is where the site should send to reach this endpoint (its relay).
func (e *Endpoint) Address() netip.AddrPort { return e.Relay.Addr() }

// Packets counts the site's packets delivered through this endpoint.
func (e *Endpoint) Packets() int64 { return e.pkts.Load() }

// fromSite moves packets the endpoint decrypted into the cloud's stack.
func (c *Cloud) fromSite(e *Endpoint) {
	for {
		var pkt []byte
		select {
		case pkt = <-e.port.written:
		case <-e.port.closed:
			return
		}
		if len(pkt) >= 20 && pkt[0]>>4 == 4 {
			dst, _ := netip.AddrFromSlice(pkt[16:20])
			if _, probe := c.probes[dst]; !probe {
				c.carrier.Store(int32(e.index))
				e.pkts.Add(1)
			}
		}
		if _, err := c.tun.Write([][]byte{pkt}, 0); err != nil {
			return
		}
	}
}

// toSite routes the cloud's packets to an endpoint.
func (c *Cloud) toSite() {
	bufs := [][]byte{make([]byte, 65535)}
	sizes := []int{0}
	for {
		n, err := c.tun.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		if n == 0 {
			continue
		}
		pkt := append([]byte(nil), bufs[0][:sizes[0]]...)
		i := int(c.carrier.Load())
		if len(pkt) >= 20 && pkt[0]>>4 == 4 {
			src, _ := netip.AddrFromSlice(pkt[12:16])
			if j, ok := c.probes[src]; ok {
				i = j
			}
		}
		c.endpoints[i].port.inject(pkt)
	}
}

// Close stops everything; it may be called more than once.
func (c *Cloud) Close() error {
	c.closeOnce.Do(func() {
		for _, e := range c.endpoints {
			e.dev.Close()
			e.Relay.Close()
		}
		if c.tun != nil {
			c.tun.Close()
		}
		c.wg.Wait()
	})
	return nil
}

// ListenEcho serves a UDP echo on the cloud's addr: it answers each
// datagram with the same bytes. It stops when ctx ends.
func (c *Cloud) ListenEcho(ctx context.Context, addr netip.AddrPort) error {
	uc, err := c.net.ListenUDPAddrPort(addr)
	if err != nil {
		return fmt.Errorf("sim: echo on %s: %w", addr, err)
	}
	context.AfterFunc(ctx, func() { uc.Close() })
	c.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = uc.WriteTo(buf[:n], from)
		}
	})
	return nil
}

// ListenSink serves a TCP sink on the cloud's addr: it reads a connection
// to its end and answers "<bytes> <sha256 hex>\n".
func (c *Cloud) ListenSink(ctx context.Context, addr netip.AddrPort) error {
	return c.serveTCP(ctx, addr, "sink", serveSink)
}

// ListenTCPEcho serves a TCP echo on the cloud's addr (a long-lived
// session, like a terminal or a database connection).
func (c *Cloud) ListenTCPEcho(ctx context.Context, addr netip.AddrPort) error {
	return c.serveTCP(ctx, addr, "tcp echo", func(cn net.Conn) {
		defer cn.Close()
		_, _ = io.Copy(cn, cn)
	})
}

// serveTCP accepts on the cloud's addr until ctx ends and hands every
// connection to serve in a goroutine the cloud owns; ctx's end closes the
// connections still open.
func (c *Cloud) serveTCP(ctx context.Context, addr netip.AddrPort, what string, serve func(net.Conn)) error {
	ln, err := c.net.ListenTCPAddrPort(addr)
	if err != nil {
		return fmt.Errorf("sim: %s on %s: %w", what, addr, err)
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	c.wg.Go(func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			context.AfterFunc(ctx, func() { cn.Close() })
			c.wg.Go(func() { serve(cn) })
		}
	})
	return nil
}

// port is a TUN device whose far side is the simulated datacenter's router.
type port struct {
	in      chan []byte // from the cloud, to be encrypted to the site
	written chan []byte // decrypted from the site
	events  chan tun.Event
	closed  chan struct{}
	once    sync.Once
}

func newPort() *port {
	p := &port{in: make(chan []byte, 256), written: make(chan []byte, 256),
		events: make(chan tun.Event, 1), closed: make(chan struct{})}
	p.events <- tun.EventUp
	return p
}

func (p *port) inject(pkt []byte) {
	select {
	case p.in <- pkt:
	case <-p.closed:
	default: // queue full: drop, as a router would
	}
}

func (p *port) File() *os.File { return nil }
func (p *port) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case pkt := <-p.in:
		sizes[0] = copy(bufs[0][offset:], pkt)
		return 1, nil
	case <-p.closed:
		return 0, os.ErrClosed
	}
}
func (p *port) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		pkt := append([]byte(nil), b[offset:]...)
		select {
		case p.written <- pkt:
		case <-p.closed:
			return i, os.ErrClosed
		}
	}
	return len(bufs), nil
}
func (p *port) MTU() (int, error)        { return 1420, nil }
func (p *port) Name() (string, error)    { return "simdc", nil }
func (p *port) Events() <-chan tun.Event { return p.events }
func (p *port) BatchSize() int           { return 1 }
func (p *port) Close() error {
	// written is never closed: wireguard-go may still be in Write when
	// the device closes, and a send on a closed channel panics; its
	// reader stops on closed instead.
	p.once.Do(func() {
		close(p.closed)
		close(p.events)
	})
	return nil
}

// EchoProbe sends one UDP datagram with a sequence number through nc and
// reports whether the same bytes came back before ctx ends.
func EchoProbe(ctx context.Context, nc net.Conn, seq uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if _, err := nc.Write(b[:]); err != nil {
		return err
	}
	var r [8]byte
	for {
		if _, err := io.ReadFull(nc, r[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint64(r[:]) == seq {
			return nil
		}
	}
}
