package sitepack

import (
	"bytes"
	"testing"

	"filippo.io/age"
)

// FuzzOpen feeds Open arbitrary bytes. It must never panic, every error
// must be one of the refusals, and the only packs it may accept are the
// ones really signed (ed25519 signatures cannot be altered and still
// verify).
func FuzzOpen(f *testing.F) {
	spare, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	small := contents(testSite, 2)
	small.Config, small.PairSecret, small.APIToken = []byte("site: x\n"), nil, nil
	toUnit, err := Seal(small, SealOptions{Signer: dcKey, Recipient: spare.Recipient().String()})
	if err != nil {
		f.Fatal(err)
	}
	valid := [][]byte{seal(f, small, dcKey), seal(f, contents(testSite, 9), dcKey), toUnit, seal(f, small, otherKey)}
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
		for _, v := range valid {
			if bytes.Equal(v, data) {
				if p.Site != testSite {
					t.Fatalf("opened site %q", p.Site)
				}
				return
			}
		}
		t.Fatalf("Open accepted %d bytes that were never signed", len(data))
	})
}
