package sitepack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspect(t *testing.T) {
	c := contents("iwata", 7)
	data := seal(t, c, dcKey)
	info, err := Inspect(data, trusted())
	require.NoError(t, err)
	assert.Equal(t, "iwata", info.Site)
	assert.Equal(t, uint64(7), info.Serial)
	assert.Equal(t, c.Unit, info.Unit)
	assert.Equal(t, SealPassphrase, info.Sealing)
	assert.Equal(t, pub(dcKey), info.Authority)
	assert.False(t, info.Certified)

	exported := sealExport(t, c)
	info, err = Inspect(exported, trusted())
	require.NoError(t, err)
	assert.True(t, info.Certified)
	assert.Equal(t, pub(c.ExportKey), info.Signer)

	_, err = Inspect(data, nil)
	assert.ErrorIs(t, err, ErrUnknownSigner)
	_, err = Inspect(seal(t, c, otherKey), trusted())
	assert.ErrorIs(t, err, ErrUnknownSigner)
	bad := append([]byte(nil), data...)
	bad[len(bad)-100] ^= 1
	_, err = Inspect(bad, trusted())
	assert.ErrorIs(t, err, ErrTampered)
	_, err = Inspect(data[:40], trusted())
	assert.ErrorIs(t, err, ErrTruncated)
}
