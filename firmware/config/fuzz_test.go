package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that a rejection is always a
// *Error with a message per problem, and that an accepted config keeps the
// invariants the rest of the firmware relies on.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../testdata/site.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(base))
	f.Add([]byte(base + "probe:\n  interval: 50ms\n  timeout: 50ms\n  misses: 100\n"))
	f.Add([]byte(strings.Replace(base, dc2Pub, dc1Pub, 1)))
	f.Add([]byte(base + "---\nsite: x\n"))
	f.Add([]byte("site: &a x\nunit: *a\n"))
	f.Add([]byte("tunnel: [1, {a: b}]\n"))
	f.Add([]byte(""))

	opts := Options{SkipFileChecks: true, Hostname: fixedHost("fuzz")}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := opts.Parse("fuzz.yaml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %q is not a *Error with problems", err)
			}
			for _, p := range ce.Problems {
				if p.File != "fuzz.yaml" || p.Msg == "" || p.Line < 0 {
					t.Fatalf("bad problem %#v", p)
				}
			}
			if s != nil {
				t.Fatal("both a Site and an error")
			}
			return
		}
		checkInvariants(t, s)
	})
}

func checkInvariants(t *testing.T, s *Site) {
	t.Helper()
	tu, p := s.Tunnel, s.Probe
	switch {
	case !nameRE.MatchString(s.Site) || !nameRE.MatchString(s.Unit):
		t.Fatalf("bad names %q %q", s.Site, s.Unit)
	case s.WAN.Interface == "" || s.WAN.Interface == s.LAN.Interface || tu.Interface == "":
		t.Fatalf("bad interfaces %+v %+v %q", s.WAN, s.LAN, tu.Interface)
	case tu.MTU < MinMTU || tu.MTU > MaxMTU:
		t.Fatalf("MTU %d", tu.MTU)
	case tu.ListenPort < 0 || tu.ListenPort > 65535:
		t.Fatalf("listen port %d", tu.ListenPort)
	case !tu.Address.IsValid() || !tu.Address.Masked().Contains(tu.ManagementAddress):
		t.Fatalf("address %s management %s", tu.Address, tu.ManagementAddress)
	case len(tu.Routes) == 0 || len(tu.Endpoints) == 0:
		t.Fatal("no routes or no endpoints")
	case tu.Failback == nil || tu.PrivateKeyFile == "":
		t.Fatal("failback or key file unset")
	case p.Interval.D() < MinProbeInterval || p.Timeout <= 0 || p.Timeout > p.Interval:
		t.Fatalf("probe timing %s %s", p.Interval, p.Timeout)
	case p.Misses < 1 || p.Misses > 100 || p.Rise < 1 || p.Rise > 100:
		t.Fatalf("misses %d rise %d", p.Misses, p.Rise)
	case p.HandshakeTimeout.D() < MinHandshakeTimeout || p.HoldDown < 0:
		t.Fatalf("handshake %s hold-down %s", p.HandshakeTimeout, p.HoldDown)
	case s.API.Socket == "" || s.Journal.Dir == "" || s.Journal.MaxBytes < MinJournalBytes:
		t.Fatalf("api/journal %+v %+v", s.API, s.Journal)
	}
	for _, r := range tu.Routes {
		if r != r.Masked() {
			t.Fatalf("route %s not masked", r)
		}
	}
	names := map[string]bool{}
	for _, e := range tu.Endpoints {
		if names[e.Name] || !nameRE.MatchString(e.Name) || isZero(e.key) || e.Key() != e.key ||
			!e.Probe.IsValid() || checkHostPort(e.Endpoint) != "" {
			t.Fatalf("bad endpoint %+v", e)
		}
		names[e.Name] = true
	}
	if s.Summary() == "" {
		t.Fatal("empty summary")
	}
}
