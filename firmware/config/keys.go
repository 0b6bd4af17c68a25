package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// No function in this file puts key material into an error or a string:
// a key file's contents are never echoed, and public keys appear only as
// the 8-character fingerprint in Summary.

// PrivateKey reads the site's WireGuard private key from
// tunnel.private_key_file, checking the file as Load does (regular file,
// mode 0600 or 0400, a valid key).
func (s *Site) PrivateKey() (wgtypes.Key, error) {
	k, err := readKeyFile(s.Tunnel.PrivateKeyFile)
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("config: tunnel.private_key_file: %w", err)
	}
	return k, nil
}

// Key returns the endpoint's public key. Load and Parse have validated and
// parsed it; for an Endpoint built by hand, PublicKey is parsed here and a
// bad one gives the zero key.
func (e Endpoint) Key() wgtypes.Key {
	if !isZero(e.key) {
		return e.key
	}
	k, err := parsePublicKey(e.PublicKey)
	if err != nil {
		return wgtypes.Key{}
	}
	return k
}

// SharedKey reports whether all endpoints have the same public key: one
// datacenter device with several front doors, one WireGuard peer whose
// endpoint moves. With distinct keys every endpoint is its own peer. A
// single endpoint counts as shared; no endpoints as not.
func (s *Site) SharedKey() bool {
	eps := s.Tunnel.Endpoints
	if len(eps) == 0 {
		return false
	}
	first := eps[0].Key()
	for _, e := range eps[1:] {
		if e.Key() != first {
			return false
		}
	}
	return true
}

// parsePublicKey parses a base64 WireGuard public key. Its error says
// nothing of the input.
func parsePublicKey(s string) (wgtypes.Key, error) {
	if len(s) != 44 {
		return wgtypes.Key{}, errors.New("not a WireGuard key")
	}
	k, err := wgtypes.ParseKey(s)
	if err != nil || isZero(k) {
		return wgtypes.Key{}, errors.New("not a WireGuard key")
	}
	return k, nil
}

// isZero reports whether k is the zero key (never a valid key).
func isZero(k wgtypes.Key) bool { return k == wgtypes.Key{} }

// readKeyFile checks and reads a private key file.
func readKeyFile(path string) (wgtypes.Key, error) {
	var zero wgtypes.Key
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return zero, fmt.Errorf("key file %s does not exist", path)
		}
		if errors.Is(err, fs.ErrPermission) {
			return zero, fmt.Errorf("cannot read key file %s: permission denied (run as root or as the file's owner)", path)
		}
		return zero, fmt.Errorf("cannot read key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return zero, fmt.Errorf("cannot read key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return zero, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
		what := "is wider than 0600"
		if perm&0o077 != 0 {
			what = "lets group or others access the site's private key"
		}
		return zero, fmt.Errorf("key file %s has mode %04o, which %s; run: chmod 600 %s", path, perm, what, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return zero, fmt.Errorf("cannot read key file: %w", err)
	}
	k, err := wgtypes.ParseKey(strings.TrimSpace(string(data)))
	if err != nil || isZero(k) {
		return zero, fmt.Errorf("key file %s does not hold a WireGuard private key (want the 44 base64 characters written by wg genkey)", path)
	}
	return k, nil
}
