package timesync

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// SystemClock reports the kernel's clock discipline state; [Adjtimex] is
// the real one, timesynctest.System a fake.
type SystemClock interface {
	SyncState() (SystemState, error)
}

// SystemState is what the kernel knows of its clock's synchronisation,
// as set by whichever NTP daemon disciplines it (chrony, systemd-timesyncd).
type SystemState struct {
	// Synced is false when the kernel's STA_UNSYNC flag is set or the
	// clock state is TIME_ERROR: no daemon has disciplined the clock
	// recently (the kernel sets the flag itself once maxerror grows past
	// 16 s).
	Synced bool `json:"synced"`
	// MaxError is the kernel's bound on the clock's error; EstError its
	// estimate.
	MaxError time.Duration `json:"max_error"`
	EstError time.Duration `json:"est_error"`
}

// Adjtimex reads the state with adjtimex(2) in read-only mode (modes 0);
// it needs no privilege.
type Adjtimex struct{}

var _ SystemClock = Adjtimex{}

// SyncState implements [SystemClock].
func (Adjtimex) SyncState() (SystemState, error) {
	var tx unix.Timex // Modes 0: read only
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return SystemState{}, fmt.Errorf("timesync: adjtimex: %w", err)
	}
	return stateFromTimex(state, int64(tx.Status), int64(tx.Maxerror), int64(tx.Esterror)), nil
}

// stateFromTimex interprets adjtimex's answer; maxerror and esterror are
// in microseconds.
func stateFromTimex(state int, status, maxErrUS, estErrUS int64) SystemState {
	return SystemState{
		Synced:   status&unix.STA_UNSYNC == 0 && state != unix.TIME_ERROR,
		MaxError: time.Duration(maxErrUS) * time.Microsecond,
		EstError: time.Duration(estErrUS) * time.Microsecond,
	}
}
