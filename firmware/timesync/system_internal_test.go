package timesync

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStateFromTimex(t *testing.T) {
	for _, tc := range []struct {
		state  int
		status int64
		synced bool
	}{
		{unix.TIME_OK, 0x2001, true},                       // STA_PLL|STA_NANO, as chrony leaves it
		{unix.TIME_OK, unix.STA_UNSYNC, false},             // nobody disciplines the clock
		{unix.TIME_ERROR, 0x2001, false},                   // the kernel's own verdict
		{unix.TIME_INS, 0x2011, true},                      // leap second pending
		{unix.TIME_OK, unix.STA_UNSYNC | 0x2001, false},    // unsynced with other bits
		{unix.TIME_WAIT, 0, true},                          // after a leap second
		{unix.TIME_ERROR, unix.STA_UNSYNC | 0x0001, false}, // both
		{unix.TIME_OK, 0x0000, true},                       // nothing set
		{unix.TIME_OOP, 0x0000, true},                      // leap in progress
		{unix.TIME_DEL, 0x0021, true},                      // STA_DEL set
		{unix.TIME_OK, 0x0040 | 0x4000, false},             // STA_UNSYNC | STA_CLK
		{unix.TIME_OK, 0x4000, true},                       // STA_CLK only
		{unix.TIME_OK, 0x0100, true},                       // STA_PPSSIGNAL
		{unix.TIME_OK, 0x0080, true},                       // STA_FREQHOLD
		{unix.TIME_OK, 0x0041, false},                      // STA_PLL|STA_UNSYNC
		{unix.TIME_OK, 0x2040, false},                      // STA_NANO|STA_UNSYNC
	} {
		st := stateFromTimex(tc.state, tc.status, 16000, 250)
		if st.Synced != tc.synced {
			t.Errorf("state %d status %#x: synced %v, want %v", tc.state, tc.status, st.Synced, tc.synced)
		}
		if st.MaxError != 16*time.Millisecond || st.EstError != 250*time.Microsecond {
			t.Errorf("errors %s %s", st.MaxError, st.EstError)
		}
	}
}

// TestAdjtimexReads runs the real read on this host: it must work without
// privilege; its verdict depends on the host and is only logged.
func TestAdjtimexReads(t *testing.T) {
	st, err := Adjtimex{}.SyncState()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this host: %+v", st)
}
