package nut_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/nut"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: `OK`, want: []string{"OK"}},
		{in: `VAR ups ups.status "OB LB"`, want: []string{"VAR", "ups", "ups.status", "OB LB"}},
		{in: `VAR ups device.model "Smart-UPS \"1500\" \\ x"`, want: []string{"VAR", "ups", "device.model", `Smart-UPS "1500" \ x`}},
		{in: `VAR ups x ""`, want: []string{"VAR", "ups", "x", ""}},
		{in: "  ERR\tDATA-STALE  ", want: []string{"ERR", "DATA-STALE"}},
		{in: ``, want: nil},
		{in: `VAR ups x "unterminated`, err: true},
		{in: `VAR ups x trailing\`, err: true},
		{in: "VAR ups x \"a\x00b\"", err: true},
		{in: "OK\x1b[2J", err: true},
		{in: `a"b"`, err: true},
		{in: strings.Repeat("A", nut.MaxLine+1), err: true},
	} {
		got, err := nut.ParseLine(tc.in)
		if tc.err {
			if !errors.Is(err, nut.ErrProtocol) {
				t.Errorf("ParseLine(%q) = %q, %v; want ErrProtocol", tc.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseLine(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	q, err := nut.Quote(`pa"ss \word`)
	if err != nil || q != `"pa\"ss \\word"` {
		t.Fatalf("Quote = %s, %v", q, err)
	}
	if _, err := nut.Quote("pw\nINSTCMD ups load.off"); err == nil {
		t.Fatal("Quote accepted a newline: command injection")
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want hal.UPSState
	}{
		{"OL", hal.UPSState{Online: true, Status: "OL"}},
		{"OL CHRG", hal.UPSState{Online: true, Charging: true, Status: "OL CHRG"}},
		{"OB DISCHRG", hal.UPSState{OnBattery: true, Discharging: true, Status: "OB DISCHRG"}},
		{"OB LB", hal.UPSState{OnBattery: true, LowBattery: true, Status: "OB LB"}},
		{"FSD OB LB", hal.UPSState{OnBattery: true, LowBattery: true, ForcedShutdown: true, Status: "FSD OB LB"}},
		{"OL RB BYPASS OVER", hal.UPSState{Online: true, ReplaceBattery: true, Bypass: true, Overload: true, Status: "OL RB BYPASS OVER"}},
		{"OFF", hal.UPSState{Off: true, Status: "OFF"}},
		{"  OL   TRIM  ", hal.UPSState{Online: true, Status: "OL TRIM"}},
		{"ol", hal.UPSState{Status: "ol"}}, // flags are upper case
		{"", hal.UPSState{}},
	} {
		var got hal.UPSState
		nut.ParseStatus(&got, tc.in)
		if got != tc.want {
			t.Errorf("ParseStatus(%q) = %+v; want %+v", tc.in, got, tc.want)
		}
	}
}

// Every reply from the server is untrusted: the parser must not panic, must
// keep to its limits, and what it accepts must survive a round trip through
// Quote.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`OK`, `OK TRACKING 1C41F5E4-24B7-4110-8D1F-821741A49CA4`, `ERR ACCESS-DENIED`,
		`VAR dummy ups.status "OB LB"`, `BEGIN LIST VAR dummy`, `RW ups x "a \"b\" \\c"`,
		`"`, `\`, `a"b`, "\t\"\"", "x\x00", `"\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := nut.ParseLine(line)
		if err != nil {
			if !errors.Is(err, nut.ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if len(line) > nut.MaxLine {
			t.Fatalf("accepted a line of %d bytes", len(line))
		}
		qs := make([]string, len(words))
		for i, w := range words {
			q, err := nut.Quote(w)
			if err != nil {
				t.Fatalf("word %q parsed but cannot be quoted: %v", w, err)
			}
			qs[i] = q
		}
		again, err := nut.ParseLine(strings.Join(qs, " "))
		if err != nil && len(strings.Join(qs, " ")) <= nut.MaxLine {
			t.Fatalf("re-parse of %q: %v", qs, err)
		}
		if err == nil && !slices.Equal(words, again) {
			t.Fatalf("round trip: %q -> %q", words, again)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"OL", "OB LB", "FSD OB LB DISCHRG", "OL CHRG RB", "", "  ", "OB\tLB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, status string) {
		var a, b hal.UPSState
		nut.ParseStatus(&a, status)
		nut.ParseStatus(&b, a.Status)
		if a != b {
			t.Fatalf("not idempotent: %+v vs %+v", a, b)
		}
		if a.OnBattery && !strings.Contains(status, "OB") || a.LowBattery && !strings.Contains(status, "LB") {
			t.Fatalf("flag without its word: %q -> %+v", status, a)
		}
		_ = a.String()
	})
}
