package netctl

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// wgFixedKey is a deterministic key for tables: 32 bytes of b.
func wgFixedKey(b byte) wgtypes.Key {
	var k wgtypes.Key
	for i := range k {
		k[i] = b
	}
	return k
}

func wgHexOf(b byte) string { k := wgFixedKey(b); return hex.EncodeToString(k[:]) }

func wgPtr[T any](v T) *T { return &v }

func wgMustIPNet(s string) net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return *n
}

func TestUAPIEncode(t *testing.T) {
	pub1, pub2 := wgFixedKey(1), wgFixedKey(2)
	tests := []struct {
		name string
		cfg  wgtypes.Config
		want string
	}{
		{name: "empty", cfg: wgtypes.Config{}, want: ""},
		{
			name: "device",
			cfg: wgtypes.Config{
				PrivateKey:   wgPtr(wgFixedKey(0xaa)),
				ListenPort:   wgPtr(51820),
				FirewallMark: wgPtr(0x5a),
				ReplacePeers: true,
			},
			want: "private_key=" + wgHexOf(0xaa) + "\nlisten_port=51820\nfwmark=90\nreplace_peers=true\n",
		},
		{
			name: "full peer",
			cfg: wgtypes.Config{Peers: []wgtypes.PeerConfig{{
				PublicKey:                   pub1,
				UpdateOnly:                  true,
				PresharedKey:                wgPtr(wgFixedKey(0xbb)),
				Endpoint:                    &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 51820},
				PersistentKeepaliveInterval: wgPtr(25 * time.Second),
				ReplaceAllowedIPs:           true,
				AllowedIPs:                  []net.IPNet{wgMustIPNet("10.0.0.0/8"), wgMustIPNet("fd00::/64")},
			}}},
			want: "public_key=" + wgHexOf(1) + "\nupdate_only=true\npreshared_key=" + wgHexOf(0xbb) +
				"\nendpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\n" +
				"allowed_ip=10.0.0.0/8\nallowed_ip=fd00::/64\n",
		},
		{
			name: "keepalive off, remove, v6 endpoint, 16-byte v4 net",
			cfg: wgtypes.Config{Peers: []wgtypes.PeerConfig{
				{PublicKey: pub1, PersistentKeepaliveInterval: wgPtr(time.Duration(0)),
					Endpoint:   &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},
					AllowedIPs: []net.IPNet{{IP: net.IPv4(10, 1, 2, 3), Mask: net.CIDRMask(24, 32)}}},
				{PublicKey: pub2, Remove: true},
			}},
			want: "public_key=" + wgHexOf(1) + "\nendpoint=[2001:db8::1]:443\npersistent_keepalive_interval=0\n" +
				"allowed_ip=10.1.2.0/24\npublic_key=" + wgHexOf(2) + "\nremove=true\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := encodeUAPIConfig(&b, tt.cfg); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("encode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUAPIEncodeErrors(t *testing.T) {
	pub := wgFixedKey(1)
	tests := []struct {
		name string
		cfg  wgtypes.Config
	}{
		{"port", wgtypes.Config{ListenPort: wgPtr(70000)}},
		{"fwmark", wgtypes.Config{FirewallMark: wgPtr(-1)}},
		{"endpoint without IP", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: pub, Endpoint: &net.UDPAddr{Port: 1}}}}},
		{"endpoint without port", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: pub, Endpoint: &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4)}}}}},
		{"keepalive", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: pub, PersistentKeepaliveInterval: wgPtr(-time.Second)}}}},
		{"allowed ip", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: pub, AllowedIPs: []net.IPNet{{IP: net.IPv4(1, 2, 3, 4)}}}}}},
		{"allowed ip family", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: pub, AllowedIPs: []net.IPNet{{IP: net.IP{1, 2, 3, 4}, Mask: net.CIDRMask(64, 128)}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := encodeUAPIConfig(new(strings.Builder), tt.cfg)
			if !errors.Is(err, ErrUAPI) {
				t.Fatalf("err = %v, want ErrUAPI", err)
			}
		})
	}
}

func TestUAPIParse(t *testing.T) {
	priv := wgFixedKey(0x11)
	hs := time.Unix(1700000000, 123456789)
	tests := []struct {
		name    string
		text    string
		want    *wgtypes.Device
		wantErr bool
	}{
		{name: "empty", text: "", want: &wgtypes.Device{}},
		{name: "errno only", text: "errno=0\n\n", want: &wgtypes.Device{}},
		{
			name: "full",
			text: "private_key=" + wgHexOf(0x11) + "\nlisten_port=51820\nfwmark=7\n" +
				"public_key=" + wgHexOf(1) + "\npreshared_key=" + wgHexOf(0) + "\nprotocol_version=1\n" +
				"endpoint=[fe80::1%eth0]:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=123456789\n" +
				"tx_bytes=100\nrx_bytes=200\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.2/32\nallowed_ip=fd00::/64\n" +
				"public_key=" + wgHexOf(2) + "\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\nfuture_key=whatever\n" +
				"errno=0\n\nignored after the blank line\n",
			want: &wgtypes.Device{
				PrivateKey: priv, PublicKey: priv.PublicKey(), ListenPort: 51820, FirewallMark: 7,
				Peers: []wgtypes.Peer{
					{
						PublicKey: wgFixedKey(1), ProtocolVersion: 1,
						Endpoint:          &net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 51820, Zone: "eth0"},
						LastHandshakeTime: hs, TransmitBytes: 100, ReceiveBytes: 200,
						PersistentKeepaliveInterval: 25 * time.Second,
						AllowedIPs:                  []net.IPNet{wgMustIPNet("10.0.0.2/32"), wgMustIPNet("fd00::/64")},
					},
					{PublicKey: wgFixedKey(2)},
				},
			},
		},
		{name: "errno", text: "errno=-22\n\n", wantErr: true},
		{name: "no equals", text: "garbage\n", wantErr: true},
		{name: "short key", text: "private_key=abcd\n", wantErr: true},
		{name: "peer key first", text: "endpoint=1.2.3.4:5\n", wantErr: true},
		{name: "device key in peer", text: "public_key=" + wgHexOf(1) + "\nlisten_port=1\n", wantErr: true},
		{name: "port range", text: "listen_port=65536\n", wantErr: true},
		{name: "nsec range", text: "public_key=" + wgHexOf(1) + "\nlast_handshake_time_nsec=1000000000\n", wantErr: true},
		{name: "bad prefix", text: "public_key=" + wgHexOf(1) + "\nallowed_ip=10.0.0.1\n", wantErr: true},
		{name: "hostname endpoint", text: "public_key=" + wgHexOf(1) + "\nendpoint=example.com:1\n", wantErr: true},
		{name: "long line", text: strings.Repeat("x", 2*maxUAPILine) + "\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUAPI(strings.NewReader(tt.text))
			if tt.wantErr {
				if !errors.Is(err, ErrUAPI) {
					t.Fatalf("err = %v, want ErrUAPI", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUAPIParseErrorHidesKeys(t *testing.T) {
	secret := strings.Repeat("ab", 31) + "zz" // 64 chars, not hex
	for _, line := range []string{"private_key=" + secret, "public_key=" + wgHexOf(1) + "\npreshared_key=" + secret} {
		_, err := parseUAPI(strings.NewReader(line + "\n"))
		if err == nil || strings.Contains(err.Error(), "abab") {
			t.Errorf("parse(%.20q…) err = %v; want an error without the value", line, err)
		}
	}
}

// uapiFormatGet writes d as UAPI "get" text, as wireguard-go would.
func uapiFormatGet(d *wgtypes.Device) string {
	var b strings.Builder
	if d.PrivateKey != (wgtypes.Key{}) {
		fmt.Fprintf(&b, "private_key=%s\n", hex.EncodeToString(d.PrivateKey[:]))
	}
	if d.ListenPort != 0 {
		fmt.Fprintf(&b, "listen_port=%d\n", d.ListenPort)
	}
	if d.FirewallMark != 0 {
		fmt.Fprintf(&b, "fwmark=%d\n", d.FirewallMark)
	}
	for _, p := range d.Peers {
		fmt.Fprintf(&b, "public_key=%s\n", hex.EncodeToString(p.PublicKey[:]))
		fmt.Fprintf(&b, "preshared_key=%s\n", hex.EncodeToString(p.PresharedKey[:]))
		fmt.Fprintf(&b, "protocol_version=%d\n", p.ProtocolVersion)
		if p.Endpoint != nil {
			fmt.Fprintf(&b, "endpoint=%s\n", p.Endpoint.AddrPort())
		}
		var sec, nsec int64
		if !p.LastHandshakeTime.IsZero() {
			sec, nsec = p.LastHandshakeTime.Unix(), int64(p.LastHandshakeTime.Nanosecond())
		}
		fmt.Fprintf(&b, "last_handshake_time_sec=%d\nlast_handshake_time_nsec=%d\n", sec, nsec)
		fmt.Fprintf(&b, "tx_bytes=%d\nrx_bytes=%d\n", p.TransmitBytes, p.ReceiveBytes)
		fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", p.PersistentKeepaliveInterval/time.Second)
		for _, n := range p.AllowedIPs {
			pfx, err := uapiPrefix(n)
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(&b, "allowed_ip=%s\n", pfx)
		}
	}
	b.WriteString("errno=0\n\n")
	return b.String()
}

func TestUAPIParseFormatRoundTrip(t *testing.T) {
	priv := wgFixedKey(0x42)
	d := &wgtypes.Device{
		PrivateKey: priv, PublicKey: priv.PublicKey(), ListenPort: 1234, FirewallMark: 0x5a,
		Peers: []wgtypes.Peer{{
			PublicKey: wgFixedKey(3), PresharedKey: wgFixedKey(4), ProtocolVersion: 1,
			Endpoint:          net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.51.100.7:51820")),
			LastHandshakeTime: time.Unix(1700000001, 5), TransmitBytes: 1, ReceiveBytes: 2,
			PersistentKeepaliveInterval: 10 * time.Second,
			AllowedIPs:                  []net.IPNet{wgMustIPNet("0.0.0.0/0"), wgMustIPNet("::/0")},
		}},
	}
	got, err := parseUAPI(strings.NewReader(uapiFormatGet(d)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func FuzzParseUAPI(f *testing.F) {
	f.Add("private_key=" + wgHexOf(1) + "\nlisten_port=51820\npublic_key=" + wgHexOf(2) +
		"\nendpoint=[::1]:5\nallowed_ip=10.0.0.0/8\nlast_handshake_time_sec=5\nlast_handshake_time_nsec=7\nerrno=0\n\n")
	f.Add("public_key=" + wgHexOf(2) + "\nallowed_ip=::ffff:1.2.3.4/128\nendpoint=[fe80::1%x]:1\n")
	f.Add("errno=-22\n\n")
	f.Add("=\n=\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		d, err := parseUAPI(strings.NewReader(text))
		if err != nil {
			return
		}
		// What parses must format back to text that parses to the same.
		again, err := parseUAPI(strings.NewReader(uapiFormatGet(d)))
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if diff := cmp.Diff(d, again); diff != "" {
			t.Fatalf("reparse (-first +second):\n%s", diff)
		}
	})
}

// TestUAPIAgainstWireGuardGo drives a real wireguard-go device (netstack,
// rootless) through Configure and Device, checking wgctrl's semantics.
func TestUAPIAgainstWireGuardGo(t *testing.T) {
	w := wgOpenNetstack(t, "wg-uapi", netip.MustParseAddr("10.9.0.1"), "-")
	priv, pub1, pub2, psk := wgMustKey(t), wgMustKey(t).PublicKey(), wgMustKey(t).PublicKey(), wgMustKey(t)
	steps := []struct {
		name string
		cfg  wgtypes.Config
		want map[wgtypes.Key][]string // peer → allowed IPs
	}{
		{"two peers", wgtypes.Config{PrivateKey: &priv, Peers: []wgtypes.PeerConfig{
			{PublicKey: pub1, PresharedKey: &psk, AllowedIPs: []net.IPNet{wgMustIPNet("10.9.0.2/32")}},
			{PublicKey: pub2, AllowedIPs: []net.IPNet{wgMustIPNet("10.9.0.3/32")}},
		}}, map[wgtypes.Key][]string{pub1: {"10.9.0.2/32"}, pub2: {"10.9.0.3/32"}}},
		{"add allowed ip", wgtypes.Config{Peers: []wgtypes.PeerConfig{
			{PublicKey: pub1, AllowedIPs: []net.IPNet{wgMustIPNet("192.168.1.0/24")}},
		}}, map[wgtypes.Key][]string{pub1: {"10.9.0.2/32", "192.168.1.0/24"}, pub2: {"10.9.0.3/32"}}},
		{"replace allowed ips", wgtypes.Config{Peers: []wgtypes.PeerConfig{
			{PublicKey: pub1, ReplaceAllowedIPs: true, AllowedIPs: []net.IPNet{wgMustIPNet("10.9.1.0/24")}},
		}}, map[wgtypes.Key][]string{pub1: {"10.9.1.0/24"}, pub2: {"10.9.0.3/32"}}},
		{"update only does not create", wgtypes.Config{Peers: []wgtypes.PeerConfig{
			{PublicKey: wgMustKey(t).PublicKey(), UpdateOnly: true, AllowedIPs: []net.IPNet{wgMustIPNet("10.9.9.9/32")}},
		}}, map[wgtypes.Key][]string{pub1: {"10.9.1.0/24"}, pub2: {"10.9.0.3/32"}}},
		{"remove", wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: pub2, Remove: true}}},
			map[wgtypes.Key][]string{pub1: {"10.9.1.0/24"}}},
		{"replace peers", wgtypes.Config{ReplacePeers: true, Peers: []wgtypes.PeerConfig{
			{PublicKey: pub2, AllowedIPs: []net.IPNet{wgMustIPNet("fd00::/64")}},
		}}, map[wgtypes.Key][]string{pub2: {"fd00::/64"}}},
	}
	for _, st := range steps {
		if err := w.Configure(st.cfg); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		d, err := w.Device()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if d.PrivateKey != priv || d.PublicKey != priv.PublicKey() || d.Name != "wg-uapi" || d.Type != wgtypes.Userspace {
			t.Errorf("%s: device keys/name/type wrong", st.name)
		}
		got := map[wgtypes.Key][]string{}
		for _, p := range d.Peers {
			got[p.PublicKey] = wgAllowedStrings(p.AllowedIPs)
		}
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("%s: allowed IPs (-want +got):\n%s", st.name, diff)
		}
	}
}

func wgAllowedStrings(ns []net.IPNet) []string {
	var s []string
	for _, n := range ns {
		s = append(s, n.String())
	}
	slices.Sort(s)
	return s
}
