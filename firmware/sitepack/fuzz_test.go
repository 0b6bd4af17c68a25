package sitepack

import (
	"bytes"
	"reflect"
	"testing"

	"filippo.io/age"
)

// FuzzOpen feeds Open arbitrary bytes. It must never panic, every error
// must be one of the refusals, and what it accepts must be what was sealed
// and encoded the one canonical way. (The seeds are sealed afresh in each
// fuzz worker, with fresh randomness, so the test cannot compare bytes
// with its own seeds; TestEveryByteFlip does that on a fixed pack.)
func FuzzOpen(f *testing.F) {
	spare, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	small := contents(testSite, 2)
	small.Config, small.PairSecret, small.APIToken, small.UPSPassword = []byte("site: x\n"), nil, nil, nil
	toUnit, err := Seal(small, SealOptions{Signer: dcKey, Recipient: spare.Recipient().String()})
	if err != nil {
		f.Fatal(err)
	}
	big := contents(testSite, 9)
	// Signed by the datacenter, to a unit, by an unknown key, and by the
	// site's export key with its cert (a unit's `site export`).
	valid := [][]byte{seal(f, small, dcKey), seal(f, big, dcKey), toUnit, seal(f, small, otherKey), sealExport(f, small), sealExport(f, big)}
	for _, v := range valid {
		f.Add(v)
		f.Add(v[:len(v)/2])
	}
	f.Add([]byte(Magic))
	f.Add([]byte{})
	o := VerifyOptions{Trusted: trusted(), Passphrase: testPass, Identities: []age.Identity{spare}}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Open(data, o)
		if err != nil {
			if !isRefusal(err) {
				t.Fatalf("Open error %v wraps none of the refusals", err)
			}
			return
		}
		if !reflect.DeepEqual(p.Contents, small) && !reflect.DeepEqual(p.Contents, big) {
			t.Fatalf("Open accepted a pack that was never sealed: %v", p)
		}
		h, err := parseHeader(data)
		if err != nil {
			t.Fatalf("Open accepted what parseHeader refuses: %v", err)
		}
		if again := append(appendHeader(nil, h), h.sig...); !bytes.Equal(again, data) {
			t.Fatalf("accepted %d bytes that are not the canonical encoding", len(data))
		}
		if p.Certified != (len(h.cert) != 0) || (!p.Certified && !p.Authority.Equal(p.Signer)) {
			t.Fatalf("Certified %t and Authority %s do not match the signer %s and a cert of %d bytes", p.Certified, Fingerprint(p.Authority), Fingerprint(p.Signer), len(h.cert))
		}
	})
}
