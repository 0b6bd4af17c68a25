package netctl

// This file speaks WireGuard's cross-platform userspace configuration
// protocol ("UAPI", https://www.wireguard.com/xplatform/): the text that
// wireguard-go's Device.IpcSet takes and Device.IpcGet returns, and that
// flows over the unix socket `wg` and wgctrl use.
//
// encodeUAPIConfig turns a wgtypes.Config into the "set" text with the same
// semantics as wgctrl's userspace client; parseUAPI turns "get" text into a
// wgtypes.Device. Neither puts a key in an error message.

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// ErrUAPI marks text that does not follow the WireGuard UAPI protocol, or a
// configuration that cannot be expressed in it.
var ErrUAPI = errors.New("netctl: wireguard uapi")

// maxUAPILine bounds one line of UAPI text; the longest legal line (an
// IPv6 endpoint with a zone) is far shorter.
const maxUAPILine = 4096

// encodeUAPIConfig writes cfg as UAPI "set" text (without the "set=1"
// header and the terminating blank line) in the order wgctrl writes it.
//
// Semantics follow wgctrl: Config.ReplacePeers is replace_peers=true,
// PeerConfig.Remove is remove=true, UpdateOnly is update_only=true,
// ReplaceAllowedIPs is replace_allowed_ips=true, a nil
// PersistentKeepaliveInterval leaves it untouched and zero turns it off.
func encodeUAPIConfig(w io.Writer, cfg wgtypes.Config) error {
	var b strings.Builder
	if cfg.PrivateKey != nil {
		uapiWriteKey(&b, "private_key", *cfg.PrivateKey)
	}
	if cfg.ListenPort != nil {
		if *cfg.ListenPort < 0 || *cfg.ListenPort > math.MaxUint16 {
			return fmt.Errorf("%w: listen port %d out of range", ErrUAPI, *cfg.ListenPort)
		}
		fmt.Fprintf(&b, "listen_port=%d\n", *cfg.ListenPort)
	}
	if cfg.FirewallMark != nil {
		if *cfg.FirewallMark < 0 || int64(*cfg.FirewallMark) > math.MaxUint32 {
			return fmt.Errorf("%w: firewall mark %d out of range", ErrUAPI, *cfg.FirewallMark)
		}
		fmt.Fprintf(&b, "fwmark=%d\n", *cfg.FirewallMark)
	}
	if cfg.ReplacePeers {
		b.WriteString("replace_peers=true\n")
	}
	for _, p := range cfg.Peers {
		uapiWriteKey(&b, "public_key", p.PublicKey)
		if p.Remove {
			b.WriteString("remove=true\n")
		}
		if p.UpdateOnly {
			b.WriteString("update_only=true\n")
		}
		if p.PresharedKey != nil {
			uapiWriteKey(&b, "preshared_key", *p.PresharedKey)
		}
		if p.Endpoint != nil {
			ap, err := uapiAddrPort(p.Endpoint)
			if err != nil {
				return fmt.Errorf("peer %s: %w", wgShortKey(p.PublicKey), err)
			}
			fmt.Fprintf(&b, "endpoint=%s\n", ap)
		}
		if p.PersistentKeepaliveInterval != nil {
			secs := int64(*p.PersistentKeepaliveInterval / time.Second)
			if secs < 0 || secs > math.MaxUint16 {
				return fmt.Errorf("%w: peer %s: persistent keepalive %s out of range (0 to %ds)",
					ErrUAPI, wgShortKey(p.PublicKey), *p.PersistentKeepaliveInterval, math.MaxUint16)
			}
			fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", secs)
		}
		if p.ReplaceAllowedIPs {
			b.WriteString("replace_allowed_ips=true\n")
		}
		for _, ipn := range p.AllowedIPs {
			pfx, err := uapiPrefix(ipn)
			if err != nil {
				return fmt.Errorf("peer %s: %w", wgShortKey(p.PublicKey), err)
			}
			fmt.Fprintf(&b, "allowed_ip=%s\n", pfx)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func uapiWriteKey(b *strings.Builder, name string, k wgtypes.Key) {
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(hex.EncodeToString(k[:]))
	b.WriteByte('\n')
}

// wgShortKey names a public key in messages the way wireguard-go does:
// the first and last four characters of its base64 form. It must only
// ever be given public keys.
func wgShortKey(k wgtypes.Key) string {
	s := k.String()
	return s[:4] + "…" + s[len(s)-5:len(s)-1]
}

func uapiAddrPort(a *net.UDPAddr) (netip.AddrPort, error) {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: endpoint %q has no valid IP address", ErrUAPI, a.String())
	}
	if a.Port <= 0 || a.Port > math.MaxUint16 {
		return netip.AddrPort{}, fmt.Errorf("%w: endpoint %q has no valid port", ErrUAPI, a.String())
	}
	ip = ip.Unmap().WithZone(a.Zone)
	return netip.AddrPortFrom(ip, uint16(a.Port)), nil
}

// uapiPrefix converts a net.IPNet to a masked netip.Prefix, accepting the
// 16-byte form of an IPv4 address that net.IPv4 makes.
func uapiPrefix(n net.IPNet) (netip.Prefix, error) {
	ip, ok := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if !ok || bits == 0 {
		return netip.Prefix{}, fmt.Errorf("%w: allowed IP %q is not a valid prefix", ErrUAPI, n.String())
	}
	if bits == 32 {
		ip = ip.Unmap()
	}
	if ip.BitLen() != bits {
		return netip.Prefix{}, fmt.Errorf("%w: allowed IP %q mixes address families", ErrUAPI, n.String())
	}
	return netip.PrefixFrom(ip, ones).Masked(), nil
}

// parseUAPI reads UAPI "get" text up to the first blank line (or the end)
// and returns the device it describes, with PublicKey derived from
// PrivateKey. A trailing "errno=N" with N != 0 is an error. Unknown keys
// are ignored so that newer peers of the protocol still parse. Name and
// Type are left for the caller. It never panics, and its errors never
// contain key material.
func parseUAPI(r io.Reader) (*wgtypes.Device, error) {
	var (
		d      wgtypes.Device
		peer   *wgtypes.Peer
		hsSec  int64
		hsNsec int64
		lineNo int
	)
	endPeer := func() {
		if peer == nil {
			return
		}
		if hsSec != 0 || hsNsec != 0 {
			peer.LastHandshakeTime = time.Unix(hsSec, hsNsec)
		}
		d.Peers = append(d.Peers, *peer)
		peer, hsSec, hsNsec = nil, 0, 0
	}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 512), maxUAPILine)
	for s.Scan() {
		lineNo++
		line := s.Text()
		if line == "" {
			break
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d: no '=' in %q", ErrUAPI, lineNo, uapiTruncate(line))
		}
		bad := func(err error) error {
			if strings.HasSuffix(key, "_key") {
				// Never echo what may be a secret.
				return fmt.Errorf("%w: line %d: bad %s", ErrUAPI, lineNo, key)
			}
			return fmt.Errorf("%w: line %d: bad %s %q: %w", ErrUAPI, lineNo, key, uapiTruncate(value), err)
		}
		var err error
		switch key {
		case "errno":
			var n int64
			if n, err = strconv.ParseInt(value, 10, 64); err == nil && n != 0 {
				return nil, fmt.Errorf("%w: device answered errno=%d", ErrUAPI, n)
			}
		case "public_key":
			endPeer()
			peer = new(wgtypes.Peer)
			peer.PublicKey, err = uapiParseKey(value)
		case "private_key", "listen_port", "fwmark":
			if peer != nil {
				return nil, fmt.Errorf("%w: line %d: device key %s inside a peer", ErrUAPI, lineNo, key)
			}
			switch key {
			case "private_key":
				d.PrivateKey, err = uapiParseKey(value)
			case "listen_port":
				d.ListenPort, err = uapiParseUint(value, 16)
			case "fwmark":
				d.FirewallMark, err = uapiParseUint(value, 32)
			}
		case "preshared_key", "endpoint", "last_handshake_time_sec", "last_handshake_time_nsec",
			"tx_bytes", "rx_bytes", "persistent_keepalive_interval", "allowed_ip", "protocol_version":
			if peer == nil {
				return nil, fmt.Errorf("%w: line %d: peer key %s before any public_key", ErrUAPI, lineNo, key)
			}
			err = uapiParsePeerLine(peer, key, value, &hsSec, &hsNsec)
		}
		if err != nil {
			return nil, bad(err)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("%w: reading: %w", ErrUAPI, err)
	}
	endPeer()
	d.PublicKey = d.PrivateKey.PublicKey()
	if d.PrivateKey == (wgtypes.Key{}) {
		d.PublicKey = wgtypes.Key{}
	}
	return &d, nil
}

func uapiParsePeerLine(p *wgtypes.Peer, key, value string, hsSec, hsNsec *int64) error {
	var err error
	switch key {
	case "preshared_key":
		p.PresharedKey, err = uapiParseKey(value)
	case "endpoint":
		var ap netip.AddrPort
		if ap, err = netip.ParseAddrPort(value); err == nil {
			p.Endpoint = net.UDPAddrFromAddrPort(ap)
		}
	case "last_handshake_time_sec":
		// Unsigned and well inside time.Time's range, so that a parsed
		// time formats back to the same text.
		*hsSec, err = strconv.ParseInt(value, 10, 64)
		if err == nil && (*hsSec < 0 || *hsSec > 1<<40) {
			err = errors.New("out of range")
		}
	case "last_handshake_time_nsec":
		*hsNsec, err = strconv.ParseInt(value, 10, 64)
		if err == nil && (*hsNsec < 0 || *hsNsec >= int64(time.Second)) {
			err = errors.New("out of range")
		}
	case "tx_bytes":
		p.TransmitBytes, err = strconv.ParseInt(value, 10, 64)
	case "rx_bytes":
		p.ReceiveBytes, err = strconv.ParseInt(value, 10, 64)
	case "persistent_keepalive_interval":
		var secs int
		if secs, err = uapiParseUint(value, 16); err == nil {
			p.PersistentKeepaliveInterval = time.Duration(secs) * time.Second
		}
	case "allowed_ip":
		var pfx netip.Prefix
		if pfx, err = netip.ParsePrefix(value); err == nil {
			p.AllowedIPs = append(p.AllowedIPs, net.IPNet{
				IP:   pfx.Masked().Addr().AsSlice(),
				Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen()),
			})
		}
	case "protocol_version":
		p.ProtocolVersion, err = uapiParseUint(value, 31)
	}
	return err
}

func uapiParseKey(s string) (wgtypes.Key, error) {
	var k wgtypes.Key
	if len(s) != 2*len(k) {
		return k, errors.New("want 64 hex digits")
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return wgtypes.Key{}, errors.New("not hex")
	}
	return k, nil
}

func uapiParseUint(s string, bits int) (int, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	return int(n), err
}

func uapiTruncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
