package timesync_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/timesync"
)

// FuzzDecode feeds untrusted datagrams to the decoder and the checks a
// client applies: they must never panic, a decoded header must encode back
// to the same 48 bytes, and an accepted reply must give finite figures.
func FuzzDecode(f *testing.F) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	good := timesync.Packet{Version: 4, Mode: 4, Stratum: 2, Origin: 42,
		Receive: timesync.ToTimestamp(now), Transmit: timesync.ToTimestamp(now.Add(time.Millisecond))}
	f.Add(good.Encode())
	kod := good
	kod.Stratum = 0
	copy(kod.RefID[:], "RATE")
	f.Add(kod.Encode())
	f.Add([]byte{})
	f.Add(make([]byte, 47))
	f.Add(append(good.Encode(), make([]byte, 20)...)) // extension field
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := timesync.Decode(b)
		if err != nil {
			if len(b) >= timesync.PacketSize {
				t.Fatalf("Decode failed on %d bytes: %v", len(b), err)
			}
			return
		}
		if got := p.Encode(); !bytes.Equal(got, b[:timesync.PacketSize]) {
			t.Fatalf("Encode(Decode(b)) = %x, want %x", got, b[:timesync.PacketSize])
		}
		_ = p.KissCode()
		if timesync.Validate(p, p.Origin) != nil {
			return
		}
		if p.Stratum < 1 || p.Stratum > 15 || p.Mode != 4 || p.Leap == 3 {
			t.Fatalf("Validate accepted %+v", p)
		}
		t1 := timesync.ToTimestamp(now)
		off, rtt := timesync.Exchange(t1, p.Receive, p.Transmit, t1)
		if off.Abs() > 69*365*24*time.Hour || rtt.Abs() > 137*365*24*time.Hour {
			t.Fatalf("offset %s rtt %s out of the 32.32 range", off, rtt)
		}
	})
}
