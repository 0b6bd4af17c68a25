package sitepack

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// certContext starts the bytes a certificate signs, so a certificate can
// never be taken for a pack signature or anything else the key signs.
const certContext = "shisapk-export-cert\n"

// certMessage is what a certificate signs: the context, the site id
// (length-prefixed) and the export key.
func certMessage(site string, export ed25519.PublicKey) []byte {
	b := make([]byte, 0, len(certContext)+1+len(site)+ed25519.PublicKeySize)
	b = append(b, certContext...)
	b = append(b, byte(len(site)))
	b = append(b, site...)
	return append(b, export...)
}

// Certify returns the certificate by which the datacenter key dc vouches
// for export as site's export key: an ed25519 signature by dc over
// "shisapk-export-cert\n" || byte(len(site)) || site || export. A pack
// signed by export and carrying this certificate opens wherever dc's
// public key is trusted, for site only.
func Certify(dc ed25519.PrivateKey, site string, export ed25519.PublicKey) ([]byte, error) {
	if len(dc) != ed25519.PrivateKeySize {
		return nil, errors.New("sitepack: certify: the datacenter key is not an ed25519 private key")
	}
	if !validID(site) {
		return nil, errors.New("sitepack: certify: site: want 1 to 63 of a-z, 0-9 and '-'")
	}
	if len(export) != ed25519.PublicKeySize {
		return nil, errors.New("sitepack: certify: the export key is not an ed25519 public key")
	}
	return ed25519.Sign(dc, certMessage(site, export)), nil
}

// NewExportKey makes a new export key for site and certifies it with the
// datacenter key dc. Both go into the site's packs (Contents.ExportKey,
// Contents.ExportCert).
func NewExportKey(dc ed25519.PrivateKey, site string) (key ed25519.PrivateKey, cert []byte, err error) {
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("sitepack: export key: %w", err)
	}
	cert, err = Certify(dc, site, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

// certAuthority returns the trusted key that made cert for (site, export),
// or nil if none did.
func certAuthority(trusted []ed25519.PublicKey, site string, export ed25519.PublicKey, cert []byte) ed25519.PublicKey {
	if len(cert) != CertSize || len(export) != ed25519.PublicKeySize {
		return nil
	}
	msg := certMessage(site, export)
	for _, k := range trusted {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, cert) {
			return k
		}
	}
	return nil
}

// FormatPublicKey is k as a trusted key file holds it: standard base64.
func FormatPublicKey(k ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(k)
}

// FormatPrivateKey is k as a key file holds it (keys/export.key, the
// datacenter's signing key): its 32-byte seed in standard base64, one
// line. ParsePrivateKey reads it back.
func FormatPrivateKey(k ed25519.PrivateKey) []byte {
	return []byte(base64.StdEncoding.EncodeToString(k.Seed()) + "\n")
}

// ParsePrivateKey reads a key file: one line, the 32-byte ed25519 seed in
// standard base64. The error never shows the file's contents.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	line := bytes.TrimSpace(b)
	if bytes.ContainsAny(line, "\r\n") {
		return nil, errors.New("sitepack: private key: more than one line")
	}
	seed := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	defer clear(seed)
	n, err := base64.StdEncoding.Decode(seed, line)
	if err != nil || n != ed25519.SeedSize {
		return nil, fmt.Errorf("sitepack: private key: not a base64 %d-byte ed25519 seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed[:n]), nil
}

// maxTrustedFile bounds a trusted key file.
const maxTrustedFile = 4 << 10

// LoadTrusted reads the trusted (datacenter) keys of the image: every
// *.pub file in dir, each holding one ed25519 public key in standard
// base64 on one line, with lines starting with '#' as comments. A bad file
// is an error naming it, and so is a dir with none.
func LoadTrusted(dir string) ([]ed25519.PublicKey, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sitepack: trusted keys: %w", err)
	}
	var keys []ed25519.PublicKey
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := readBounded(path, maxTrustedFile)
		if err != nil {
			return nil, fmt.Errorf("sitepack: trusted key %s: %w", path, err)
		}
		k, err := parsePublicKeyFile(b)
		if err != nil {
			return nil, fmt.Errorf("sitepack: trusted key %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("sitepack: no trusted datacenter key in %s: the image is incomplete", dir)
	}
	return keys, nil
}

// parsePublicKeyFile reads a *.pub file: one key line, comments allowed.
func parsePublicKeyFile(b []byte) (ed25519.PublicKey, error) {
	var key ed25519.PublicKey
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if key != nil {
			return nil, fmt.Errorf("line %d: a second key; one key a file", i+1)
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("line %d: not a base64 %d-byte ed25519 public key", i+1, ed25519.PublicKeySize)
		}
		key = k
	}
	if key == nil {
		return nil, errors.New("no key in the file")
	}
	return key, nil
}
