package sitepack

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Export reads the set installed in dir back into Contents, for `site
// export` to seal again, with the export key and its cert if the unit has
// them (Seal with Signer: c.ExportKey, Cert: c.ExportCert). Site, Unit and
// Created come from installed.json; Serial is the installed one plus one,
// so the new pack is accepted where the old one is installed. The caller
// may set Unit to itself and Created to now. It works with the tunnel
// down: it reads only files.
func Export(dir string) (Contents, error) {
	c, err := export(dir)
	if err != nil {
		return Contents{}, fmt.Errorf("sitepack: export %s: %w", dir, err)
	}
	return c, nil
}

func export(dir string) (Contents, error) {
	rec, err := Installed(dir)
	if err != nil {
		return Contents{}, err
	}
	c := Contents{Site: rec.Site, Unit: rec.Unit, Serial: rec.Serial + 1, Created: rec.Created}
	if c.Config, err = readBounded(filepath.Join(dir, ConfigFile), MaxConfig); err != nil {
		return Contents{}, err
	}
	keyLine, err := readBounded(filepath.Join(dir, filepath.FromSlash(KeyFile)), 128)
	if err != nil {
		return Contents{}, err
	}
	k, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(keyLine)))
	if err != nil || len(k) != 32 {
		return Contents{}, fmt.Errorf("%s does not hold a WireGuard private key", KeyFile)
	}
	copy(c.WireGuardKey[:], k)
	clear(k)
	for _, s := range []struct {
		name string
		to   *[]byte
		ok   func([]byte) error
	}{{PairSecretFile, &c.PairSecret, validSecret}, {APITokenFile, &c.APIToken, validSecret}, {UPSPasswordFile, &c.UPSPassword, validPassword}} {
		b, err := readBounded(filepath.Join(dir, filepath.FromSlash(s.name)), MaxSecret+2)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Contents{}, err
		}
		*s.to = bytes.TrimRight(b, "\r\n")
		if err := s.ok(*s.to); err != nil {
			return Contents{}, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if c.ExportKey, c.ExportCert, err = readExportKey(dir); err != nil {
		return Contents{}, err
	}
	return c, nil
}

// readExportKey reads the export key and its cert, both or neither.
func readExportKey(dir string) (ed25519.PrivateKey, []byte, error) {
	keyLine, kerr := readBounded(filepath.Join(dir, filepath.FromSlash(ExportKeyFile)), 128)
	certLine, cerr := readBounded(filepath.Join(dir, filepath.FromSlash(ExportCertFile)), 256)
	defer clear(keyLine)
	switch {
	case errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist):
		return nil, nil, nil // this unit may not export
	case errors.Is(kerr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%s is there and %s is not", ExportCertFile, ExportKeyFile)
	case errors.Is(cerr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%s is there and %s is not", ExportKeyFile, ExportCertFile)
	case kerr != nil:
		return nil, nil, kerr
	case cerr != nil:
		return nil, nil, cerr
	}
	k, err := ParsePrivateKey(keyLine)
	if err != nil {
		return nil, nil, fmt.Errorf("%s does not hold an ed25519 key seed", ExportKeyFile)
	}
	cert, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(certLine)))
	if err != nil || len(cert) != CertSize {
		return nil, nil, fmt.Errorf("%s does not hold a base64 %d-byte cert", ExportCertFile, CertSize)
	}
	return k, cert, nil
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s: over %d bytes: %w", filepath.Base(path), max, ErrOversized)
	}
	return b, nil
}
