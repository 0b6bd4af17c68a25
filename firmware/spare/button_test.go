package spare

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/sitepack"
	"github.com/shisa-gw/shisa/hal"
)

// button is an active-low technician button on a gpiotest pin.
type button struct{ pin *gpiotest.Pin }

// withButton gives r a button and shortens the hold to hold.
func (r *rig) withButton(hold time.Duration) *button {
	r.t.Helper()
	setHold(r.t, hold)
	return r.newButton()
}

// setHold shortens the hold until t ends (not in a parallel test: the
// spares of parallel subtests read it).
func setHold(t *testing.T, hold time.Duration) {
	old := holdTime
	holdTime = hold
	t.Cleanup(func() { holdTime = old })
}

// newButton gives r a button.
func (r *rig) newButton() *button {
	b := &button{pin: &gpiotest.Pin{N: "GPIO27", L: gpio.High, EdgesChan: make(chan gpio.Level, 16)}}
	r.button = hal.NewInput(b.pin, true, 10*time.Millisecond)
	return b
}

// press moves the pin's level as the button would (pressed pulls it low).
func (b *button) press(pressed bool) {
	b.pin.Lock()
	b.pin.L = gpio.Level(!pressed)
	b.pin.Unlock()
}

// usb is a USB stick's mount point the spare looks at.
func (r *rig) usb() string {
	r.t.Helper()
	d := filepath.Join(r.dir, "media", "stick")
	require.NoError(r.t, os.MkdirAll(d, 0o755))
	r.packGlobs = []string{filepath.Join(r.dir, "media", "*", "*"+PackExt)}
	return d
}

// writePack writes data as a pack file at path with mtime at.
func writePack(t *testing.T, path string, data []byte, at time.Time) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o644))
	require.NoError(t, os.Chtimes(path, at, at))
}

// waitState waits until the spare's state is state and returns its status.
func (run *running) waitState(t *testing.T, state string) *api.Status {
	t.Helper()
	var st *api.Status
	require.Eventually(t, func() bool {
		st = run.status(t)
		return st.Spare != nil && st.Spare.State == state
	}, wait, 10*time.Millisecond, "state: want %s", state)
	return st
}

func TestButtonActivates(t *testing.T) {
	setHold(t, 500*time.Millisecond)
	now := time.Now()
	for _, tc := range []struct {
		name string
		// packs writes the packs and returns the serial to be activated.
		packs func(r *rig) uint64
		// refused: packs refused before the one activated.
		refused bool
	}{
		{"a pack on a USB stick", func(r *rig) uint64 {
			writePack(t, filepath.Join(r.usb(), "hamamatsu"+PackExt), r.seal(contents(testSite, 2)), now)
			return 2
		}, false},
		{"a pack in the spare's directory", func(r *rig) uint64 {
			writePack(t, filepath.Join(r.stateDir, "spare", "hamamatsu"+PackExt), r.seal(contents(testSite, 2)), now)
			return 2
		}, false},
		{"the newest pack first", func(r *rig) uint64 {
			writePack(t, filepath.Join(r.usb(), "old"+PackExt), r.seal(contents(testSite, 2)), now.Add(-time.Hour))
			writePack(t, filepath.Join(r.stateDir, "spare", "new"+PackExt), r.seal(contents(testSite, 3)), now)
			return 3
		}, false},
		{"a bad newer pack, then a good one", func(r *rig) uint64 {
			bad := r.seal(contents(testSite, 3))
			bad[len(bad)/2] ^= 1
			writePack(t, filepath.Join(r.usb(), "bad"+PackExt), bad, now)
			writePack(t, filepath.Join(r.stateDir, "spare", "good"+PackExt), r.seal(contents(testSite, 2)), now.Add(-time.Hour))
			return 2
		}, true},
		{"an unreadable newer pack, then a good one", func(r *rig) uint64 {
			writePack(t, filepath.Join(r.usb(), "huge"+PackExt), make([]byte, sitepack.MaxPackSize+1), now)
			writePack(t, filepath.Join(r.usb(), "good"+PackExt), r.seal(contents(testSite, 2)), now.Add(-time.Hour))
			return 2
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			b := r.newButton()
			serial := tc.packs(r)
			run := r.start()
			assert.True(t, run.status(t).Spare.Button)
			r.waitShow(ShowSpareNotReady)

			b.press(true)
			r.waitShow(ShowButtonHeld)
			act, err := run.result(t)
			require.NoError(t, err)
			require.NotNil(t, act)
			assert.Equal(t, api.Activated{Site: testSite, Serial: serial, From: sitepack.DatacenterUnit,
				Signer: fingerprint(r.dc), Socket: filepath.Join(r.dir, "site.sock")}, *act)
			r.installedOK(testSite)
			assert.Equal(t, ShowActivating, r.shown(), "the LEDs after Run returned")
			k := kinds(t, r.journal)
			assert.Contains(t, k, report.KindSpareActivated)
			assert.Equal(t, tc.refused, strings.Contains(strings.Join(k, " "), report.KindSpareRefused), "%v", k)
		})
	}
}

func TestButtonNoPack(t *testing.T) {
	r := newRig(t)
	b := r.withButton(400 * time.Millisecond)
	stick := r.usb()
	run := r.start()

	b.press(true)
	r.waitShow(ShowButtonHeld)
	st := run.waitState(t, api.SpareRefused)
	assert.Contains(t, st.Spare.LastError, "no site pack (*"+PackExt+")")
	assert.Contains(t, st.Spare.LastError, filepath.Join(r.stateDir, "spare"))
	assert.Contains(t, st.Spare.LastError, "USB stick")
	r.waitShow(ShowRefused)
	assert.Contains(t, kindsOf(run.events(t)), report.KindSpareRefused)
	r.noSite()
	// Still held: nothing starts again until it is released.
	time.Sleep(2 * holdTime)
	assert.Equal(t, ShowRefused, r.shown())
	assert.False(t, run.returned())

	// The technician puts the stick in, and holds the button again.
	b.press(false)
	writePack(t, filepath.Join(stick, "site"+PackExt), r.seal(contents(testSite, 1)), time.Now())
	// A release a person makes. It must outlast hal's EdgePoll and the
	// spare's 100 ms poll for the release: hal.Input learns of the
	// release only in WaitForEdge, so a release and a press again within
	// about 300 ms go unseen and the button counts as still held.
	time.Sleep(time.Second)
	b.press(true)
	act, err := run.result(t)
	require.NoError(t, err)
	require.NotNil(t, act)
	assert.Equal(t, uint64(1), act.Serial)
	r.installedOK(testSite)
}

func TestButtonUnreadablePack(t *testing.T) {
	r := newRig(t)
	b := r.withButton(400 * time.Millisecond)
	huge := filepath.Join(r.usb(), "huge"+PackExt)
	writePack(t, huge, make([]byte, sitepack.MaxPackSize+1), time.Now())
	run := r.start()

	b.press(true)
	st := run.waitState(t, api.SpareRefused)
	assert.Contains(t, st.Spare.LastError, huge)
	assert.Contains(t, st.Spare.LastError, "cannot be read")
	r.waitShow(ShowRefused)
	assert.Contains(t, kindsOf(run.events(t)), report.KindSpareRefused)
	r.noSite()
}

func TestButtonReleasedEarly(t *testing.T) {
	r := newRig(t)
	b := r.withButton(time.Hour)
	writePack(t, filepath.Join(r.usb(), "site"+PackExt), r.seal(contents(testSite, 1)), time.Now())
	run := r.start()
	r.waitShow(ShowSpareNotReady)

	b.press(true)
	r.waitShow(ShowButtonHeld)
	b.press(false)
	// The release (WaitHold ticks 0): the LEDs show the spare at rest again.
	r.waitShow(ShowSpareNotReady)
	st := run.status(t)
	assert.Equal(t, api.SpareWaiting, st.Spare.State)
	assert.NotContains(t, kindsOf(run.events(t)), report.KindSpareRefused)
	assert.False(t, run.returned())
	r.noSite()

	// A prepared spare at rest shows ready. (The next press comes a
	// second after the release: a release and press within about 300 ms
	// are not seen, see above.)
	r.prepared(run)
	r.waitShow(ShowSpareReady)
	time.Sleep(time.Second)
	b.press(true)
	r.waitShow(ShowButtonHeld)
	b.press(false)
	r.waitShow(ShowSpareReady)
}

// prepared runs `spare prepare` on the running spare.
func (r *rig) prepared(run *running) {
	r.t.Helper()
	sp, err := run.client.Prepare(r.t.Context(), "")
	require.NoError(r.t, err)
	require.True(r.t, sp.Ready, "%+v", sp.SelfTest)
}
