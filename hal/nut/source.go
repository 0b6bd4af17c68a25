package nut

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/hal"
)

// Source is a hal.UPS backed by a NUT server: it polls the UPS every
// Interval over one connection, reconnects with backoff when the connection
// drops, and applies upsmon's rule when the UPS is lost (connection down,
// DATA-STALE or DRIVER-NOT-CONNECTED): the state turns Stale, keeps its
// last known flags, and a UPS last seen on battery counts as low battery.
type Source struct {
	addr   string
	opts   Options
	log    *slog.Logger
	events chan hal.UPSState
	poke   chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	pollMu sync.Mutex // one poll at a time, so results land in order

	mu      sync.Mutex // guards the fields below and sends on events
	client  *Client
	last    hal.UPSState // as last reported
	lastErr error        // why last is stale
	closed  bool
}

var _ hal.UPS = (*Source)(nil)

// NewSource starts watching the UPS at addr; Close stops it. It returns at
// once: until the first poll the state is unknown and stale.
func NewSource(addr string, opts Options) (*Source, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, DefaultPort)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Source{
		addr:    addr,
		opts:    opts,
		log:     opts.Logger.With("ups", opts.UPS+"@"+addr),
		events:  make(chan hal.UPSState, 1),
		poke:    make(chan struct{}, 1),
		cancel:  cancel,
		lastErr: errors.New("nut: not polled yet"),
	}
	s.last = hal.Unknown("nut:" + opts.UPS + "@" + addr).Lost("not polled yet")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx)
	}()
	return s, nil
}

func (s *Source) run(ctx context.Context) {
	backoff := s.opts.RetryMin
	for ctx.Err() == nil {
		cl := s.currentClient()
		if cl == nil {
			var err error
			cl, err = Dial(ctx, s.addr, s.opts)
			if err != nil {
				s.update(hal.UPSState{}, err)
				if !s.sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, s.opts.RetryMax)
				continue
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				_ = cl.Close()
				return
			}
			s.client = cl
			s.mu.Unlock()
			s.log.Info("connected to upsd")
			backoff = s.opts.RetryMin
		}
		s.poll(ctx, cl)
		if !s.sleep(ctx, s.opts.Interval) {
			return
		}
	}
}

// sleep waits d, or less when poked; false when ctx ended.
func (s *Source) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-s.poke:
	}
	return true
}

func (s *Source) currentClient() *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// poll asks the UPS and records the result; a broken connection is dropped
// so that run reconnects.
func (s *Source) poll(ctx context.Context, cl *Client) (hal.UPSState, error) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	st, err := cl.State(ctx)
	if cl.Err() != nil {
		s.mu.Lock()
		if s.client == cl {
			s.client = nil
		}
		s.mu.Unlock()
		_ = cl.Close()
		select { // reconnect now rather than after Interval
		case s.poke <- struct{}{}:
		default:
		}
	}
	return s.update(st, err)
}

// update records a poll's result and reports a change.
func (s *Source) update(st hal.UPSState, err error) (hal.UPSState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.last, err
	}
	if err != nil {
		// Keep the last known flags, with the lost-UPS rule. A state that
		// was already stale keeps its forced LB too, so nothing is lost
		// across a reconnection that fails again.
		next := s.last.Lost(err.Error())
		if s.lastErr == nil || s.lastErr.Error() != err.Error() {
			s.log.Warn("ups data lost", "err", err, "last_state", s.last.Status, "counts_as_low_battery", next.LowBattery)
		}
		s.lastErr = err
		s.setLocked(next)
		return next, err
	}
	if s.lastErr != nil {
		s.log.Info("ups data back", "state", st.Status)
	}
	s.lastErr = nil
	s.setLocked(st)
	return st, nil
}

func (s *Source) setLocked(st hal.UPSState) {
	if st == s.last {
		return
	}
	s.last = st
	hal.SendLatest(s.events, st)
}

// State polls the UPS now when connected, within ctx. Otherwise, or when the
// poll fails, it returns the last known state, stale, with the error.
func (s *Source) State(ctx context.Context) (hal.UPSState, error) {
	if cl := s.currentClient(); cl != nil {
		return s.poll(ctx, cl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.lastErr
}

// Events implements hal.UPS.
func (s *Source) Events() <-chan hal.UPSState { return s.events }

// ArmReturn arms the UPS's return through the NUT server (Client.ArmReturn),
// over the source's connection, or a new one when it is down.
func (s *Source) ArmReturn(ctx context.Context, offDelay, onDelay time.Duration) error {
	cl := s.currentClient()
	if cl == nil {
		var err error
		cl, err = Dial(ctx, s.addr, s.opts)
		if err != nil {
			return fmt.Errorf("nut: arm return: %w", err)
		}
		defer cl.Close()
	}
	return cl.ArmReturn(ctx, offDelay, onDelay)
}

// CanCutWithMains is true unless Options.NoCutWithMains: shutdown.return
// power-cycles the load even when mains came back before the off delay ran
// out, on the UPSes NUT drives this way.
func (s *Source) CanCutWithMains() bool { return !s.opts.NoCutWithMains }

// Close stops polling, logs out and closes Events. It can be called twice.
func (s *Source) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.mu.Lock()
		s.closed = true
		cl := s.client
		s.client = nil
		close(s.events)
		s.mu.Unlock()
		if cl != nil {
			err = cl.Close()
		}
	})
	return err
}
