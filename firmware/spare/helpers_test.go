package spare

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

const (
	testSite = "hamamatsu-honcho"
	testPass = "k3m9-x7qa-d2rt-pw5z-hh4n"
	// Public keys of the datacenter's WireGuard endpoints (any 32 bytes).
	dc1Pub = "DbfQ0V2VyGdFhamQWWwu8oaTZDbazF8kSRYJNP0CB2U="
	dc2Pub = "yh+miyClMepZjmn6flQ3bYv9hqeY0RW9hphHgjc1glM="
	// wait bounds every wait for something that should happen at once.
	wait = 10 * time.Second
)

// siteYAML is a site.yaml config.Load accepts once keys/site.key is
// beside it: netstack, interfaces by any name, the site's socket at
// ../site.sock (beside the site directory).
func siteYAML(site string) string {
	return fmt.Sprintf(`site: %s
unit: a
wan:
  interface: wan0
lan:
  interface: lan0
tunnel:
  backend: netstack
  private_key_file: keys/site.key
  address: 10.99.1.2/32
  routes:
    - 10.20.0.0/16
  endpoints:
    - name: dc1
      endpoint: 192.0.2.1:51820
      public_key: %s
      probe: 10.20.0.1
    - name: dc2
      endpoint: 198.51.100.7:51820
      public_key: %s
      probe: 10.20.0.2
api:
  socket: ../site.sock
journal:
  dir: ../site-journal
`, site, dc1Pub, dc2Pub)
}

// contents is a pack's contents for site at serial, exported by unit.
func contents(site string, serial uint64) sitepack.Contents {
	var k [32]byte
	copy(k[:], fmt.Sprintf("wg-key-%s-%d-0123456789abcdefghij", site, serial))
	return sitepack.Contents{
		Site: site, Unit: sitepack.DatacenterUnit, Serial: serial,
		Created:      time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC),
		Config:       []byte(siteYAML(site)),
		WireGuardKey: k,
		APIToken:     []byte("api-token-0123456789abcdefghijklmnopqr"),
	}
}

// newKey is a fresh ed25519 key.
func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

// rig is one spare's directories, the datacenter's key it trusts and its
// LEDs.
type rig struct {
	t                                  *testing.T
	dir                                string
	siteDir, stateDir, trusted, socket string
	dc                                 ed25519.PrivateKey
	power, tunnel, fault               *halsim.LED
	button                             hal.Input
	packGlobs                          []string
	identity                           *age.X25519Identity
	thermal                            string
	journal                            string
}

// newRig makes the directories (short: the socket path must fit in 107
// bytes), trusts a fresh datacenter key and gives the spare an identity.
func newRig(t *testing.T) *rig {
	t.Helper()
	dir, err := os.MkdirTemp("", "sp")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &rig{
		t: t, dir: dir,
		siteDir: filepath.Join(dir, "site"), stateDir: filepath.Join(dir, "state"),
		trusted: filepath.Join(dir, "trusted"), socket: filepath.Join(dir, "spare.sock"),
		dc:    newKey(t),
		power: &halsim.LED{Name: "power"}, tunnel: &halsim.LED{Name: "tunnel"}, fault: &halsim.LED{Name: "fault"},
		thermal: filepath.Join(dir, "thermal"),
	}
	r.journal = filepath.Join(r.stateDir, "journal")
	require.NoError(t, os.MkdirAll(r.trusted, 0o755))
	require.NoError(t, os.MkdirAll(r.thermal, 0o755))
	r.trust(r.dc)
	r.identity = r.newIdentity()
	return r
}

// trust adds k to the image's trusted keys.
func (r *rig) trust(k ed25519.PrivateKey) {
	r.t.Helper()
	name := sitepack.Fingerprint(k.Public().(ed25519.PublicKey))
	require.NoError(r.t, os.WriteFile(filepath.Join(r.trusted, "dc-"+name+".pub"),
		[]byte(sitepack.FormatPublicKey(k.Public().(ed25519.PublicKey))+"\n"), 0o644))
}

// newIdentity writes a fresh age identity to StateDir/spare/identity.
func (r *rig) newIdentity() *age.X25519Identity {
	r.t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(r.t, err)
	d := filepath.Join(r.stateDir, "spare")
	require.NoError(r.t, os.MkdirAll(d, 0o700))
	require.NoError(r.t, os.WriteFile(filepath.Join(d, identityFile), []byte(id.String()+"\n"), 0o600))
	return id
}

func (r *rig) leds() hal.LEDs { return hal.LEDs{Power: r.power, Tunnel: r.tunnel, Fault: r.fault} }

// shown is what the LEDs show now.
func (r *rig) shown() Show {
	return Show{r.power.Pattern(), r.tunnel.Pattern(), r.fault.Pattern()}
}

// waitShow waits until the LEDs show s.
func (r *rig) waitShow(s Show) {
	r.t.Helper()
	require.Eventually(r.t, func() bool { return r.shown() == s }, wait, 5*time.Millisecond,
		"LEDs: want %s", s)
}

func (r *rig) options() Options {
	return Options{
		SiteDir: r.siteDir, StateDir: r.stateDir, TrustedDir: r.trusted, Socket: r.socket,
		Box: "box-7", Version: "1.2.3", Firmware: inventory.Firmware{Version: "1.2.3", Slot: "a"},
		LEDs: r.leds(), Button: r.button, PackGlobs: r.packGlobs, ThermalDir: r.thermal,
	}
}

// seal seals c with the datacenter's key to the spare's identity.
func (r *rig) seal(c sitepack.Contents) []byte {
	r.t.Helper()
	return r.sealWith(c, sitepack.SealOptions{Signer: r.dc, Recipient: r.identity.Recipient().String()})
}

func (r *rig) sealWith(c sitepack.Contents, o sitepack.SealOptions) []byte {
	r.t.Helper()
	data, err := sitepack.Seal(c, o)
	require.NoError(r.t, err)
	return data
}

// running is a spare Run serves in the background.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	act    *api.Activated
	err    error
	client *api.Client
}

// start runs the spare until the test ends and waits until its API
// answers.
func (r *rig) start() *running {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{cancel: cancel, done: make(chan struct{}), client: api.NewClient(r.socket)}
	o := r.options()
	go func() {
		defer close(run.done)
		run.act, run.err = Run(ctx, o)
	}()
	r.t.Cleanup(func() {
		cancel()
		select {
		case <-run.done:
		case <-time.After(wait):
			r.t.Error("Run did not return after its context ended")
		}
	})
	require.Eventually(r.t, func() bool {
		select {
		case <-run.done:
			return true
		default:
		}
		ctx, c := context.WithTimeout(context.Background(), time.Second)
		defer c()
		_, err := run.client.Status(ctx)
		return err == nil
	}, wait, 5*time.Millisecond, "the spare's API does not answer")
	require.False(r.t, run.returned(), "Run returned at once: %v", run.err)
	return run
}

// returned reports whether Run has returned.
func (run *running) returned() bool {
	select {
	case <-run.done:
		return true
	default:
		return false
	}
}

// result waits for Run to return.
func (run *running) result(t *testing.T) (*api.Activated, error) {
	t.Helper()
	select {
	case <-run.done:
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
	return run.act, run.err
}

func (run *running) status(t *testing.T) *api.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := run.client.Status(ctx)
	require.NoError(t, err)
	return st
}

// events lists the journal's records through the API, oldest first.
func (run *running) events(t *testing.T) []journal.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	page, err := run.client.Events(ctx, 0, 1000)
	require.NoError(t, err)
	return page.Events
}

// kindsOf lists the records' kinds.
func kindsOf(recs []journal.Record) []string {
	var out []string
	for _, rec := range recs {
		out = append(out, rec.Kind)
	}
	return out
}

// kinds lists the kinds of the journal's records in dir, oldest first
// (the spare must have stopped: the journal is locked while open).
func kinds(t *testing.T, dir string) []string {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{})
	require.NoError(t, err)
	defer j.Close()
	recs, _, err := j.Since(0, 1000)
	require.NoError(t, err)
	var out []string
	for _, rec := range recs {
		out = append(out, rec.Kind)
	}
	return out
}
