package spare

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/sitepack"
)

// TestActivateRefusesAPackOlderThanOneItRan: a box that once ran a site's
// pack serial 5 and was prepared as a spare refuses that site's serial 4
// (a replayed old pack), changing nothing, and takes serial 5 or later;
// another site's pack is not affected.
func TestActivateRefusesAPackOlderThanOneItRan(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	run := r.start()
	_, err := run.client.Activate(ctx, api.ActivateRequest{Pack: r.seal(contents(testSite, 5))})
	require.NoError(t, err)
	_, err = run.result(t)
	require.NoError(t, err)

	po := r.prepareOptions()
	_, _, err = Prepare(po)
	require.NoError(t, err)
	require.NoError(t, po.Journal.Close())
	id, err := loadIdentity(filepath.Join(r.stateDir, "spare"))
	require.NoError(t, err)
	r.identity = id // prepare made a new one

	run = r.start()
	_, err = run.client.Activate(ctx, api.ActivateRequest{Pack: r.seal(contents(testSite, 4))})
	require.ErrorContains(t, err, "has run site "+testSite+"'s pack serial 5 and this one is serial 4")
	r.noSite()
	st := run.status(t)
	assert.Equal(t, api.SpareRefused, st.Spare.State)
	assert.Contains(t, st.Spare.LastError, sitepack.ErrRollback.Error())

	_, err = run.client.Activate(ctx, api.ActivateRequest{Pack: r.seal(contents(testSite, 5))})
	require.NoError(t, err, "the same serial again is not a rollback")
	_, err = run.result(t)
	require.NoError(t, err)
	m, err := readSerials(filepath.Join(r.stateDir, "spare"))
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{testSite: 5}, m)
}
