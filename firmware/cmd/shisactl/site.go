package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/sitepack"
)

const manualSite = `  site export [--site-dir DIR] [--out FILE] [--to AGE-RECIPIENT]
              [--passphrase-file FILE] [--box NAME]
      Write this unit's site pack, for the spare that replaces it: the site
      configuration, the site's WireGuard key and its other secrets,
      signed with the site's export key (certified by the datacenter) and
      encrypted either to the spare's age recipient (--to age1…, shown by
      the spare's 'shisactl status') or to a passphrase. Without --to and
      --passphrase-file a passphrase is made and printed once: give it to
      whoever activates the pack, separately from the file. Reads only
      files: it works with the tunnel down and shisad stopped. The pack's
      serial is the installed one's plus one. FILE defaults to
      SITE-SERIAL.shisapack in the current directory (mode 0600).

  site pack --dir DIR --signer KEYFILE --serial N [--out FILE]
            [--to AGE-RECIPIENT] [--passphrase-file FILE]
      For the datacenter: build a site pack from DIR, laid out as a unit's
      site directory (site.yaml, keys/site.key, and if the site has them
      keys/pair.secret, keys/api.token, keys/nut.password). The pack is
      signed with the datacenter's key (KEYFILE, from 'site keygen') and
      carries a fresh export key for the site, certified by it, so the unit
      can export its own pack later. N must be higher than any pack of the
      site issued before (a unit refuses an older one).

  site show PACK [--trusted DIR]
      Say which pack a file is, without decrypting it: site, serial, the
      box it came from (or the datacenter), when it was made, how it is
      sealed (a passphrase, or one spare's key), and who signed it, after
      checking the signature against the image's trusted keys (DIR,
      default /usr/share/shisa/trusted). Check the stick before going on
      site. Exit status 1 when the signature does not verify.

  site keygen FILE [--force]
      For the datacenter: make an ed25519 signing key, FILE (mode 0600) and
      FILE.pub (the public key, for the image's trusted keys directory,
      /usr/share/shisa/trusted). Prints the key's fingerprint.
`

func cmdSite(args []string, w io.Writer) error {
	if wantsHelp(args) {
		fmt.Fprint(w, "USAGE\n"+manualSite)
		return nil
	}
	if len(args) < 1 {
		return usageError{"usage: shisactl site export|pack|show|keygen ... (see 'shisactl site --help')"}
	}
	switch args[0] {
	case "export":
		return cmdSiteExport(args[1:], w)
	case "pack":
		return cmdSitePack(args[1:], w)
	case "keygen":
		return cmdSiteKeygen(args[1:], w)
	case "show":
		return cmdSiteShow(args[1:], w)
	}
	return usageError{fmt.Sprintf("site: unknown subcommand %q (export, pack, show or keygen)", args[0])}
}

func cmdSiteExport(args []string, w io.Writer) error {
	fs := flags("site export")
	dir := fs.String("site-dir", "/etc/shisa/site", "")
	out := fs.String("out", "", "")
	to := fs.String("to", "", "")
	passFile := fs.String("passphrase-file", "", "")
	box := fs.String("box", "", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to != "" && *passFile != "" {
		return usageError{"site export: give --to or --passphrase-file, not both"}
	}
	c, err := sitepack.Export(*dir)
	if errors.Is(err, sitepack.ErrNotInstalled) {
		return fmt.Errorf("site export: %s holds no site installed from a pack (a site configured by hand cannot be exported: ask the datacenter for a pack, 'shisactl site pack')", *dir)
	}
	if err != nil {
		return fmt.Errorf("site export: %w", err)
	}
	if len(c.ExportKey) == 0 {
		return fmt.Errorf("site export: the installed pack of site %s carries no export key, so this unit cannot sign a pack; ask the datacenter for one ('shisactl site pack')", c.Site)
	}
	if *box == "" {
		*box = config.HostName()
	}
	c.Unit, c.Created = *box, time.Now()
	so := sitepack.SealOptions{Signer: c.ExportKey, Cert: c.ExportCert}
	return sealAndWrite(w, c, so, *to, *passFile, *out)
}

func cmdSitePack(args []string, w io.Writer) error {
	fs := flags("site pack")
	dir := fs.String("dir", "", "")
	signer := fs.String("signer", "", "")
	serial := fs.Uint64("serial", 0, "")
	out := fs.String("out", "", "")
	to := fs.String("to", "", "")
	passFile := fs.String("passphrase-file", "", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usageError{"site pack: --dir DIR is required (site.yaml and keys/)"}
	case *signer == "":
		return usageError{"site pack: --signer KEYFILE is required (the datacenter's signing key)"}
	case *serial == 0:
		return usageError{"site pack: --serial N is required, N at least 1 and higher than the site's last pack"}
	case *to != "" && *passFile != "":
		return usageError{"site pack: give --to or --passphrase-file, not both"}
	}
	dc, err := readSigningKey(*signer)
	if err != nil {
		return fmt.Errorf("site pack: %w", err)
	}
	c, err := contentsFromDir(*dir)
	if err != nil {
		return fmt.Errorf("site pack: %w", err)
	}
	c.Unit, c.Serial, c.Created = sitepack.DatacenterUnit, *serial, time.Now()
	if c.ExportKey, c.ExportCert, err = sitepack.NewExportKey(dc, c.Site); err != nil {
		return fmt.Errorf("site pack: %w", err)
	}
	return sealAndWrite(w, c, sitepack.SealOptions{Signer: dc}, *to, *passFile, *out)
}

// contentsFromDir reads a site directory the datacenter keeps: site.yaml,
// checked as shisad would, and the key files it names. Those must be the
// paths a site pack installs (keys/site.key, keys/pair.secret, …): the
// pack carries the secrets, not their names, so a site.yaml naming
// another path would be installed pointing at nothing.
func contentsFromDir(dir string) (sitepack.Contents, error) {
	var c sitepack.Contents
	site, err := config.Options{BaseDir: dir}.Load(filepath.Join(dir, sitepack.ConfigFile))
	if err != nil {
		return c, err
	}
	c.Site = site.Site
	if c.Config, err = os.ReadFile(filepath.Join(dir, sitepack.ConfigFile)); err != nil {
		return c, err
	}
	for _, f := range []struct {
		key, path, layout string
		to                *[]byte
	}{
		{"tunnel.private_key_file", site.Tunnel.PrivateKeyFile, sitepack.KeyFile, nil},
		{"pair.secret_file", site.Pair.SecretFile, sitepack.PairSecretFile, &c.PairSecret},
		{"health.token_file", site.Health.TokenFile, sitepack.APITokenFile, &c.APIToken},
		{"ups.nut.password_file", site.UPS.NUT.PasswordFile, sitepack.UPSPasswordFile, &c.UPSPassword},
	} {
		if f.path == "" {
			continue
		}
		if want := filepath.Join(dir, filepath.FromSlash(f.layout)); filepath.Clean(f.path) != want {
			return c, fmt.Errorf("%s: %s is %s; a site pack installs it as %s: write %s: %s", sitepack.ConfigFile, f.key, f.path, f.layout, f.key, f.layout)
		}
		if f.to == nil {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return c, err
		}
		*f.to = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	key, err := site.PrivateKey()
	if err != nil {
		return c, err
	}
	copy(c.WireGuardKey[:], key[:])
	return c, nil
}

// sealAndWrite seals c to the recipient, the passphrase in passFile, or a
// new passphrase it prints, and writes the pack.
func sealAndWrite(w io.Writer, c sitepack.Contents, so sitepack.SealOptions, to, passFile, out string) error {
	newPass := false
	switch {
	case to != "":
		so.Recipient = to
	case passFile != "":
		b, err := os.ReadFile(passFile)
		if err != nil {
			return err
		}
		so.Passphrase = strings.TrimSpace(string(b))
	default:
		so.Passphrase, newPass = sitepack.NewPassphrase(), true
	}
	data, err := sitepack.Seal(c, so)
	if err != nil {
		return err
	}
	if out == "" {
		out = fmt.Sprintf("%s-%d%s", c.Site, c.Serial, ".shisapack")
	}
	if err := atomicfile.WriteFile(out, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s: site %s, serial %d, from %s, %d bytes\n", out, c.Site, c.Serial, c.Unit, len(data))
	switch {
	case to != "":
		fmt.Fprintf(w, "sealed to %s: only that unit can open it; activate it there with 'shisactl spare activate %s' or the button\n", to, filepath.Base(out))
	case newPass:
		fmt.Fprintf(w, "passphrase (shown once; give it separately from the file): %s\n", so.Passphrase)
	default:
		fmt.Fprintf(w, "sealed to the passphrase in %s\n", passFile)
	}
	return nil
}

func cmdSiteKeygen(args []string, w io.Writer) error {
	fs := flags("site keygen")
	force := fs.Bool("force", false, "")
	path, err := parseOneArg(fs, args, "FILE (usage: shisactl site keygen FILE [--force])")
	if err != nil {
		return err
	}
	if !*force {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("site keygen: %s exists; keeping it (use --force to replace it)", path)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, sitepack.FormatPrivateKey(priv), 0o600); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path+".pub", []byte(sitepack.FormatPublicKey(pub)+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s (mode 0600) and %s; fingerprint %s\n", path, path+".pub", sitepack.Fingerprint(pub))
	return nil
}

// readSigningKey reads an ed25519 key written by 'site keygen'; the file
// must not be readable by group or others.
func readSigningKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o: group or others may read the signing key; want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := sitepack.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func cmdSiteShow(args []string, w io.Writer) error {
	fs := flags("site show")
	trustedDir := fs.String("trusted", "/usr/share/shisa/trusted", "")
	path, err := parseOneArg(fs, args, "PACK (usage: shisactl site show PACK [--trusted DIR])")
	if err != nil {
		return err
	}
	data, err := sitepack.ReadFile(path)
	if err != nil {
		return fmt.Errorf("site show: %w", err)
	}
	trusted, err := sitepack.LoadTrusted(*trustedDir)
	if err != nil {
		return fmt.Errorf("site show: %w", err)
	}
	info, err := sitepack.Inspect(data, trusted)
	if err != nil {
		return fmt.Errorf("site show: %s: %w", path, err)
	}
	sealed := "a passphrase (asked for at activation)"
	if info.Sealing == sitepack.SealX25519 {
		sealed = "one spare's key (activate it on that spare, with the command or the button)"
	}
	signed := "the datacenter's key " + sitepack.Fingerprint(info.Authority)
	if info.Certified {
		signed = fmt.Sprintf("the site's export key %s, certified by the datacenter's key %s", sitepack.Fingerprint(info.Signer), sitepack.Fingerprint(info.Authority))
	}
	fmt.Fprintf(w, "%s: site pack of site %s, serial %d\n", path, info.Site, info.Serial)
	fmt.Fprintf(w, "from      %s, made %s\n", info.Unit, info.Created.Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "sealed to %s\n", sealed)
	fmt.Fprintf(w, "signed by %s: signature good\n", signed)
	return nil
}
