package ha

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func sampleHB() Heartbeat {
	return Heartbeat{UnitID: "gw-a", BootID: 0xdeadbeefcafe, Seq: 42, Role: Active, Priority: 200,
		Effective: 150, Health: HealthWAN | HealthTunnel, Yield: true, SentAt: 1234 * time.Millisecond}
}

func TestEncodeDecode(t *testing.T) {
	for _, id := range []string{"a", "gw-a", strings.Repeat("x", MaxUnitID)} {
		h := sampleHB()
		h.UnitID = id
		b, err := Encode(nil, testKey, &h)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) >= 100 {
			t.Errorf("%d bytes, want < 100", len(b))
		}
		got, err := Decode(testKey, b)
		if err != nil {
			t.Fatal(err)
		}
		if got != h {
			t.Errorf("round trip: %+v, want %+v", got, h)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	h := sampleHB()
	good, _ := Encode(nil, testKey, &h)
	if _, err := Decode([]byte("another pair secret, 32 bytes.."), good); !errors.Is(err, ErrForged) {
		t.Errorf("wrong secret: %v", err)
	}
	for i := range good {
		for _, bit := range []byte{1, 0x80} {
			b := bytes.Clone(good)
			b[i] ^= bit
			if _, err := Decode(testKey, b); err == nil {
				t.Fatalf("byte %d flipped %#x accepted", i, bit)
			}
		}
	}
	if _, err := Decode(testKey, good[:len(good)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := Decode(testKey, append(bytes.Clone(good), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
	// Authentic but out of range: MAC recomputed over bad fields.
	for name, mut := range map[string]func(b []byte){
		"role":      func(b []byte) { b[5] = 9 },
		"priority0": func(b []byte) { b[6] = 0 },
		"eff>prio":  func(b []byte) { b[7] = 255 },
		"health":    func(b []byte) { b[8] = 0x80 },
		"flags":     func(b []byte) { b[9] = 0x02 },
		"boot0":     func(b []byte) { copy(b[11:19], make([]byte, 8)) },
		"seq0":      func(b []byte) { copy(b[19:27], make([]byte, 8)) },
		"id":        func(b []byte) { b[headerLen] = ' ' },
		"time":      func(b []byte) { b[27] = 0x80 },
	} {
		b := bytes.Clone(good)
		mut(b)
		body := b[:len(b)-macLen]
		copy(b[len(body):], mac(testKey, body))
		if _, err := Decode(testKey, b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
	bad := sampleHB()
	bad.Effective = 201
	if _, err := Encode(nil, testKey, &bad); err == nil {
		t.Error("Encode accepted effective > priority")
	}
}

// FuzzDecode: never panics; accepts only packets whose MAC verifies with
// the key, that re-encode to the same bytes; never accepts under another
// key.
func FuzzDecode(f *testing.F) {
	h := sampleHB()
	good, _ := Encode(nil, testKey, &h)
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte("SHHA\x01"))
	f.Add([]byte{})
	h.UnitID = strings.Repeat("z", 32)
	long, _ := Encode(nil, testKey, &h)
	f.Add(long)
	other := []byte("a different pair secret of 32 b.")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(testKey, b)
		if _, err2 := Decode(other, b); err2 == nil && err == nil {
			t.Fatal("accepted under two keys")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrForged) {
				t.Fatalf("error %v is neither malformed nor forged", err)
			}
			return
		}
		if len(b) < macLen || !hmac.Equal(mac(testKey, b[:len(b)-macLen]), b[len(b)-macLen:]) {
			t.Fatal("accepted a packet whose MAC does not verify")
		}
		re, err := Encode(nil, testKey, &got)
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("accepted %x, re-encodes as %x (%v)", b, re, err)
		}
	})
}

func TestReplayGuard(t *testing.T) {
	const dead = 150 * time.Millisecond
	g := NewReplayGuard(dead)
	now := t0
	hb := func(boot, seq uint64) *Heartbeat { return &Heartbeat{UnitID: "gw-b", BootID: boot, Seq: seq} }
	check := func(boot, seq uint64, wantOK, wantRestart bool) {
		t.Helper()
		restarted, err := g.Check(now, hb(boot, seq))
		if (err == nil) != wantOK || restarted != wantRestart {
			t.Errorf("boot %d seq %d at +%v: restarted %v, err %v; want ok %v restart %v", boot, seq, now.Sub(t0), restarted, err, wantOK, wantRestart)
		}
		if err != nil && !errors.Is(err, ErrReplayed) {
			t.Errorf("error %v is not ErrReplayed", err)
		}
	}
	check(1, 1, true, false)
	check(1, 2, true, false)
	check(1, 2, false, false) // duplicate
	check(1, 1, false, false) // old
	check(1, 10, true, false) // gaps are fine (loss)
	now = now.Add(10 * time.Millisecond)
	check(2, 1, false, false) // new boot while boot 1 is live: replay or a third party
	now = now.Add(dead + time.Millisecond)
	check(2, 1, true, true) // boot 1 silent: the peer restarted
	check(1, 11, false, false)
	check(2, 2, true, false)
	now = now.Add(dead + time.Millisecond)
	check(1, 10, false, false) // a capture of the former boot
	check(1, 11, true, true)   // packets of boot 1 never seen, boot 2 silent: re-adopted
	check(2, 3, false, false)  // boot 2 is now former and boot 1 live
	// Former boots are remembered up to recentBoots.
	for b := uint64(10); b < 10+recentBoots+2; b++ {
		now = now.Add(dead + time.Millisecond)
		check(b, 1, true, true)
	}
	now = now.Add(dead + time.Millisecond)
	check(10+recentBoots, 1, false, false) // remembered: seq 1 seen
	check(2, 1, true, true)                // forgotten: long ago
}

// Status travels as JSON from shisad to shisactl: roles and health read
// back as they were written.
func TestTextRoundTrip(t *testing.T) {
	for h := Health(0); h <= HealthOK; h++ {
		b, _ := h.MarshalText()
		var got Health
		if err := got.UnmarshalText(b); err != nil || got != h {
			t.Errorf("health %q read back as %v, %v; want %v", b, got, err, h)
		}
	}
	for s := Init; s <= Frozen; s++ {
		b, _ := s.MarshalText()
		var got State
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("role %q read back as %v, %v", b, got, err)
		}
	}
	var h Health
	if err := h.UnmarshalText([]byte("wan,power")); err == nil || !strings.Contains(err.Error(), `unknown health check "power"`) {
		t.Errorf("bad health: err = %v", err)
	}
	var s State
	if err := s.UnmarshalText([]byte("master")); err == nil || !strings.Contains(err.Error(), `unknown role "master"`) {
		t.Errorf("bad role: err = %v", err)
	}
}
