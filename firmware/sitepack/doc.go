// Package sitepack builds, verifies and installs site packs: one file
// holding everything that makes a unit this site's unit — the site config
// (site.yaml), the site's WireGuard private key, and the pair secret, the
// management API token and the UPS password if the site has them, and the
// site's export key — signed by a trusted ed25519 key or by the site's
// export key with its certificate, its contents encrypted with age.
//
// # Format (version 1)
//
// All integers are big-endian. Every length is checked against a fixed
// bound before anything is read or allocated; the file must end exactly
// after the signature.
//
//	magic      8 bytes  "shisapk\n"
//	version    1 byte   1 (anything else: ErrVersion)
//	sealing    1 byte   1 = age passphrase (scrypt), 2 = age X25519
//	site       1+n      site id, n 1..63, [a-z0-9-] (as site.yaml's site)
//	unit       1+n      exporting unit id or "datacenter", same rules
//	serial     8        uint64 >= 1, monotonic per site (rollback refusal)
//	created    8        int64 Unix seconds
//	payload    4+n      age ciphertext, n 1..MaxPayload
//	signer     32       ed25519 public key of the signer
//	cert       1+n      n 0: the signer is a trusted key; n 64: the
//	                    signer's export certificate (see Who signs);
//	                    any other n: ErrMalformed
//	signature  64       ed25519 over every byte before it
//
// The age plaintext is itself length-prefixed: config 4+n (1..MaxConfig),
// the WireGuard private key (32 raw bytes), pair secret 2+n and API token
// 2+n (n 0 = none, else 32..MaxSecret bytes without whitespace), UPS (NUT)
// password 2+n (0..MaxPassword printable bytes), the site's export key
// 1+n (n 0 = none, or its 32-byte ed25519 seed) and its certificate 1+n
// (n 0 = none, or 64; set exactly when the key is).
//
// The signature covers the header, the metadata, the ciphertext, the
// signer's key and the cert, so any flipped byte is refused: in the
// signature or the signed bytes as ErrTampered, in the signer or the cert
// as ErrUnknownSigner, in the framing as ErrTruncated, ErrMalformed,
// ErrOversized or ErrVersion. Open checks in this order: framing and
// version, signer trusted or certified, signature, then (on signed values
// only) site and serial, and only then decrypts, so an untrusted file
// never reaches age or scrypt. After decrypting it checks the export
// key's certificate the same way (ErrMalformed if no trusted key made it:
// the unit could export no pack a spare accepts).
// The site id, serial and unit are readable without the passphrase so a
// wrong pack is named before anyone types a secret; site.yaml is encrypted
// with the secrets because it maps the site's network.
//
// # Who signs
//
// VerifyOptions.Trusted holds the datacenter's ed25519 public keys, as
// the image ships them (LoadTrusted reads every *.pub file of a
// directory, one key a file; two while a key is being replaced), and
// nothing else. The datacenter signs the packs it builds with one of
// them, with no cert.
//
// A unit in the field must also be able to sign: `shisactl site export`
// turns the failed unit's set into a pack for the spare replacing it,
// without the datacenter. A shelf spare's image knows only the datacenter
// keys, and the export keys of 40 sites cannot be shipped in every image
// (nor the image rebuilt whenever a site gets a new one), so the unit's
// key has to be vouched for in the pack itself: one level of certificate.
// Each site has an export key the datacenter makes and certifies
// (NewExportKey, Certify); the certificate is a 64-byte ed25519 signature
// by a datacenter key over
//
//	"shisapk-export-cert\n" || byte(len(site)) || site || export public key (32)
//
// The key and its certificate travel inside the site's packs (so every
// unit of the site holds them, in keys/export.key and keys/export.cert);
// an exported pack is signed by the export key and carries the
// certificate in its cert field. Open accepts the signer if it is a
// trusted key and the cert is empty, or if the cert verifies under a
// trusted key for the pack's own site and this signer; a trusted key with
// a cert is refused, so each pack has one reading. Pack.Authority names
// the trusted key that vouched and Pack.Certified which way. The site is
// in the certificate so that the export key of one site, which every unit
// of that site holds, cannot sign packs for another. The certificate is a
// bare signature, so when it does not verify Open cannot tell an
// untrusted maker from another site or another export key; its error says
// so. There is one level only: an export key cannot certify anything.
// There is no expiry and no revocation either: a certificate is good as
// long as the key that made it is trusted, so a leaked export key can sign
// packs for its site (at any serial) until that datacenter key leaves the
// images; a new export key in the next pack does not end the old one.
//
// # Encryption
//
// The pack is sealed either to a passphrase (age scrypt) or to the
// receiving unit's age X25519 identity. The passphrase is the practical
// path: a technician at 7 a.m. takes any spare from the shelf and the
// datacenter reads the passphrase over the phone; nothing about the spare
// needs to be known in advance. The passphrase is generated by the
// datacenter (NewPassphrase: 20 characters of lower-case base32, 100 bits;
// case, dashes and spaces do not matter when typed), not chosen by a
// person, so the scrypt work factor is kept low (2^15, 32 MiB) to fit the
// board's memory; Open refuses packs asking for more than 2^16. When
// the datacenter knows which spare is going, sealing
// to the age identity the spare generated at `spare prepare` is better:
// no secret to read out, and the pack is useless on any other box.
//
// # Install
//
// Open verifies and decrypts and writes nothing. Install lays the pack out
// in a fresh generation directory beside dir (each file written with
// atomicfile, the directory fsynced), then points dir — a symbolic link it
// owns — at it by renaming a new link over the old one, the one atomic
// step, and fsyncs the parent. A power cut before that rename leaves the
// old set whole (and a stray generation directory, swept by the next
// Install); after it, the new set is whole. The layout inside dir:
//
//	site.yaml          0644
//	keys/site.key      0600 (wg genkey format)
//	keys/pair.secret   0600 (if any)
//	keys/api.token     0600 (if any)
//	keys/nut.password  0600 (if any)
//	keys/export.key    0600 (if any: the export key's seed, base64)
//	keys/export.cert   0644 (with export.key: its certificate, base64)
//	installed.json     0644 (site, unit, serial, signer, authority,
//	                   certified, created, installed)
//
// The site.yaml in the pack must name those key paths (relative paths are
// relative to dir). Installed reads installed.json for the rollback check;
// Export reads the whole set back, serial plus one, for `site export`.
// One writer at a time: Install is not safe against a concurrent Install
// on the same dir (the daemon serialises activations).
//
// No function of this package puts a key, secret, token or passphrase into
// an error or a string; Contents.String leaves them out.
package sitepack
