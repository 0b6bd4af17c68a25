package hal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ContactsConfig describes a UPS wired by dry contacts.
type ContactsConfig struct {
	// OnBattery is active while the UPS runs from its battery. Required.
	OnBattery Input
	// LowBattery is active when the battery is low. Optional: without it,
	// the state machine's grace timer and the UPS's runtime are all there is.
	LowBattery Input
	// Kill is the kill-power (shutdown) output. Optional: without it,
	// ArmReturn returns ErrArmUnsupported.
	Kill Output
	// KillPulse is how long Kill is held active; the UPS's manual names it
	// (typically 0.5–5 s). Default 1 s.
	KillPulse time.Duration
	// CutsWithMains is true only for a UPS documented to cut the load on a
	// kill signal while mains is present. Most contact-closure UPSes honour
	// the signal only on battery, so the default is false.
	CutsWithMains bool
	// Logger receives the source's few log lines; nil discards them.
	Logger *slog.Logger
}

// Contacts is a UPS source over dry contacts. Its state is never stale (the
// lines are read directly) and has no charge or runtime.
type Contacts struct {
	cfg    ContactsConfig
	log    *slog.Logger
	events chan UPSState

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu   sync.Mutex // guards last and serialises sends on events
	last UPSState
}

var _ UPS = (*Contacts)(nil)

// NewContacts starts watching the contacts; Close stops it.
func NewContacts(cfg ContactsConfig) (*Contacts, error) {
	if cfg.OnBattery == nil {
		return nil, errors.New("hal: contacts UPS: the on-battery input is required")
	}
	if cfg.KillPulse <= 0 {
		cfg.KillPulse = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Contacts{
		cfg:    cfg,
		log:    log.With("ups", "contacts"),
		events: make(chan UPSState, 1),
		cancel: cancel,
	}
	c.last = c.read()
	for _, in := range []Input{cfg.OnBattery, cfg.LowBattery} {
		if in == nil {
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.watch(ctx, in)
		}()
	}
	return c, nil
}

func (c *Contacts) read() UPSState {
	st := Unknown("contacts")
	st.OnBattery = c.cfg.OnBattery.Active()
	st.Online = !st.OnBattery
	if c.cfg.LowBattery != nil {
		st.LowBattery = c.cfg.LowBattery.Active()
	}
	switch {
	case st.OnBattery && st.LowBattery:
		st.Status = "OB LB"
	case st.OnBattery:
		st.Status = "OB"
	case st.LowBattery:
		st.Status = "OL LB"
	default:
		st.Status = "OL"
	}
	return st
}

func (c *Contacts) watch(ctx context.Context, in Input) {
	for {
		if _, err := in.WaitForEdge(ctx); err != nil {
			return // ctx ended: Close
		}
		c.mu.Lock()
		st := c.read()
		if st != c.last {
			c.log.Info("ups contacts changed", "state", st.Status)
			c.last = st
			SendLatest(c.events, st)
		}
		c.mu.Unlock()
	}
}

// State reads the lines now.
func (c *Contacts) State(context.Context) (UPSState, error) {
	return c.read(), nil
}

// Events implements UPS.
func (c *Contacts) Events() <-chan UPSState { return c.events }

// ArmReturn pulses the kill-power output for KillPulse. offDelay and onDelay
// are ignored: with contacts they are the UPS's own settings (DIP switches
// or its front panel), which the site must set so that the off delay is
// shorter than the on delay. Without a kill output it returns an error
// matching ErrArmUnsupported.
func (c *Contacts) ArmReturn(ctx context.Context, offDelay, onDelay time.Duration) error {
	if c.cfg.Kill == nil {
		return fmt.Errorf("hal: contacts UPS: no kill-power line configured: %w", ErrArmUnsupported)
	}
	c.log.Info("ups kill-power pulse", "pulse", c.cfg.KillPulse)
	if err := c.cfg.Kill.Pulse(ctx, c.cfg.KillPulse); err != nil {
		return fmt.Errorf("hal: contacts UPS: kill-power pulse: %w", err)
	}
	return nil
}

// CanCutWithMains reports ContactsConfig.CutsWithMains.
func (c *Contacts) CanCutWithMains() bool { return c.cfg.CutsWithMains }

// Close stops watching and closes Events.
func (c *Contacts) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		close(c.events)
	})
	return nil
}
