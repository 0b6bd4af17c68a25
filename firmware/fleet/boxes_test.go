package fleet

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
)

// answer is a result for target from box as unit, with pack info.
func answer(target, box, unit string, pack *api.PackInfo, accepted *bool) Result {
	st := &api.Status{Site: "hamamatsu-honcho", Unit: unit, Box: box, Pack: pack}
	if accepted != nil {
		st.Acceptance = &api.Acceptance{OK: *accepted}
	}
	return Result{Target: Target{Name: target, URL: "http://10.99.1.2:8080"}, Status: st}
}

func TestBoxesUpdate(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	yes, no := true, false
	type poll struct {
		rs   []Result
		want []string // boxes retired by this poll
	}
	for _, tc := range []struct {
		name  string
		polls []poll
		// wantRetired are every retirement recorded: box, replaced by,
		// accepted.
		wantRetired []Retired
	}{
		{name: "the same box again", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
		}},
		{name: "a box change on a target", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			{rs: []Result{answer("hq", "box-2", "a", nil, &yes)}, want: []string{"box-1"}},
			{rs: []Result{answer("hq", "box-2", "a", nil, &yes)}},
		}, wantRetired: []Retired{{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-2", Accepted: true}}},
		{name: "Pack.Replaces on the first sight", polls: []poll{
			{rs: []Result{answer("hq", "box-2", "a", &api.PackInfo{From: "box-1", Replaces: "box-1"}, &no)}, want: []string{"box-1"}},
		}, wantRetired: []Retired{{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-2"}}},
		{name: "Pack.Replaces and a box change: once", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			{rs: []Result{answer("hq", "box-2", "a", &api.PackInfo{Replaces: "box-1"}, nil)}, want: []string{"box-1"}},
			{rs: []Result{answer("hq", "box-2", "a", &api.PackInfo{Replaces: "box-1"}, &yes)}},
		}, wantRetired: []Retired{{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-2"}}},
		{name: "Pack.Replaces of another box than the one seen", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			{rs: []Result{answer("hq", "box-3", "a", &api.PackInfo{Replaces: "box-9"}, nil)}, want: []string{"box-9", "box-1"}},
		}, wantRetired: []Retired{
			{Box: "box-9", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-3"},
			{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-3"},
		}},
		{name: "Replaces naming the box itself", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", &api.PackInfo{Replaces: "box-1"}, nil)}},
		}},
		{name: "a retired box is not retired twice", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			{rs: []Result{answer("hq", "box-2", "a", nil, nil)}, want: []string{"box-1"}},
			// The old box is back on the target (say, repaired): box-2
			// is retired; box-1 then replaced again is not retired twice.
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}, want: []string{"box-2"}},
			{rs: []Result{answer("hq", "box-3", "a", nil, nil)}},
		}, wantRetired: []Retired{
			{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-2"},
			{Box: "box-2", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-1"},
		}},
		{name: "results without a status change nothing", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			{rs: []Result{{Target: Target{Name: "hq"}, Class: Unreachable, Error: "timeout"}}},
			{rs: []Result{{Target: Target{Name: "hq"}, Status: &api.Status{Site: "hamamatsu-honcho"}}}},
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
		}},
		{name: "targets apart", polls: []poll{
			{rs: []Result{answer("hq", "box-1", "a", nil, nil), answer("branch", "box-2", "a", nil, nil)}},
			{rs: []Result{answer("hq", "box-2", "a", nil, nil), answer("branch", "box-2", "a", nil, nil)}, want: []string{"box-1"}},
		}, wantRetired: []Retired{{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-2"}}},
		{name: "a pair's handover is no replacement", polls: []poll{
			// Both units of a pair answer at the management address,
			// whichever is active.
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			{rs: []Result{answer("hq", "box-2", "b", nil, nil)}},
			{rs: []Result{answer("hq", "box-1", "a", nil, nil)}},
			// A spare takes unit a's place.
			{rs: []Result{answer("hq", "box-3", "a", nil, nil)}, want: []string{"box-1"}},
		}, wantRetired: []Retired{{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b Boxes
			for i, p := range tc.polls {
				now := t0.Add(time.Duration(i) * time.Minute)
				got := b.Update(p.rs, now)
				var boxes []string
				for _, r := range got {
					boxes = append(boxes, r.Box)
					assert.Equal(t, now, r.At)
					assert.True(t, b.IsRetired(r.Box))
				}
				assert.Equal(t, p.want, boxes, "poll %d", i)
			}
			for i := range b.Retired {
				b.Retired[i].At = time.Time{}
			}
			assert.Equal(t, tc.wantRetired, b.Retired)
		})
	}
}

func TestBoxesSeen(t *testing.T) {
	var b Boxes
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	b.Update([]Result{answer("hq", "box-1", "a", nil, nil)}, t0)
	assert.Equal(t, map[string]SeenBox{"hq": {Box: "box-1", Site: "hamamatsu-honcho", Unit: "a", LastSeen: t0}}, b.Seen)
	// Unreachable: last seen stays.
	b.Update([]Result{{Target: Target{Name: "hq"}, Class: Unreachable}}, t0.Add(time.Hour))
	assert.Equal(t, t0, b.Seen["hq"].LastSeen)
}

func TestBoxesRoundTrip(t *testing.T) {
	var b Boxes
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	yes := true
	b.Update([]Result{answer("hq", "box-1", "a", nil, nil)}, t0)
	b.Update([]Result{answer("hq", "box-2", "a", &api.PackInfo{Replaces: "box-1"}, &yes)}, t0.Add(time.Minute))
	data, err := json.MarshalIndent(&b, "", "  ")
	require.NoError(t, err)
	got, err := ReadBoxes(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, b, *got)
	assert.True(t, got.IsRetired("box-1"))
	assert.False(t, got.IsRetired("box-2"))
	// Read back, the state goes on: box-1 is not retired again.
	assert.Empty(t, got.Update([]Result{answer("hq", "box-2", "a", &api.PackInfo{Replaces: "box-1"}, &yes)}, t0.Add(2*time.Minute)))

	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"empty object", `{}`, true},
		{"null seen", `{"seen":null,"retired":null}`, true},
		{"empty file", ``, false},
		{"not JSON", `seen: {}`, false},
		{"wrong type", `{"seen":[]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReadBoxes(strings.NewReader(tc.in))
			if !tc.ok {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "fleet state")
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, b.Seen)
			assert.Empty(t, b.Update([]Result{answer("hq", "box-1", "a", nil, nil)}, t0))
		})
	}
}

func TestWriteRetired(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.Local)
	var buf bytes.Buffer
	require.NoError(t, WriteRetired(&buf, []Retired{
		{Box: "box-1", Site: "hamamatsu-honcho", Target: "hq", ReplacedBy: "box-2", At: at, Accepted: true},
		{Box: "box-3", Site: "fuji", Target: "branch", ReplacedBy: "box-4", At: at},
	}))
	assert.Equal(t, "RETIRED box box-1 of site hamamatsu-honcho (hq): replaced by box box-2 at 2026-11-27 09:30, acceptance check passed\n"+
		"RETIRED box box-3 of site fuji (branch): replaced by box box-4 at 2026-11-27 09:30, acceptance check not yet passed\n", buf.String())
	buf.Reset()
	require.NoError(t, WriteRetired(&buf, nil))
	assert.Empty(t, buf.String())
}
