package nut

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/hal"
)

// DefaultPort is upsd's IANA port.
const DefaultPort = "3493"

// maxListLines bounds a LIST reply: a real UPS has a few hundred variables.
const maxListLines = 10000

// Options configures Dial and NewSource.
type Options struct {
	// UPS is the UPS's name on the server (ups.conf's section). Required.
	UPS string
	// User and Password log in (USERNAME, PASSWORD, LOGIN). Without a User
	// the client only reads. Read Password with ReadPasswordFile; it is
	// never logged nor put into an error.
	User     string
	Password string
	// Timeout bounds the connection and each request. Default 5 s.
	Timeout time.Duration
	// Interval is NewSource's poll interval. Default 2 s.
	Interval time.Duration
	// RetryMin and RetryMax bound NewSource's reconnection backoff, which
	// doubles from RetryMin to RetryMax. Defaults 1 s and 30 s.
	RetryMin, RetryMax time.Duration
	// ConfirmTimeout is how long an instant command or SET VAR waits for the
	// driver's result when upsd tracks commands (NUT ≥ 2.8). Default 5 s.
	ConfirmTimeout time.Duration
	// NoLogin skips LOGIN, for a user without an "upsmon secondary" line in
	// upsd.users (upsd refuses LOGIN to it). The NUT primary then does not
	// wait for this box before cutting the power, and bad credentials show
	// only when a command needs them.
	NoLogin bool
	// NoCutWithMains is for a UPS known to ignore shutdown.return while
	// mains is present (the source's CanCutWithMains is then false).
	NoCutWithMains bool
	// Logger; nil discards.
	Logger *slog.Logger
	// Dial opens the connection; nil uses net.Dialer. For tests.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// LogValue leaves the password out.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("ups", o.UPS),
		slog.String("user", o.User),
		slog.Bool("password_set", o.Password != ""),
		slog.Duration("timeout", o.Timeout),
		slog.Duration("interval", o.Interval),
	)
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	return o
}

func (o Options) validate() error {
	if o.UPS == "" {
		return errors.New("nut: no UPS name configured (the section name in the server's ups.conf)")
	}
	if _, err := Quote(o.UPS); err != nil || strings.ContainsAny(o.UPS, " \t\"\\") {
		return fmt.Errorf("nut: UPS name %q is not a valid NUT name", o.UPS)
	}
	if _, err := Quote(o.User); err != nil {
		return errors.New("nut: the user name holds a control character")
	}
	if _, err := Quote(o.Password); err != nil {
		return errors.New("nut: the password holds a control character (a stray newline in the password file?)")
	}
	if o.Password != "" && o.User == "" {
		return errors.New("nut: a password is set but no user")
	}
	return nil
}

// ReadPasswordFile reads a password from path: the first line, without its
// line ending. It refuses a file that others than its owner can read.
func ReadPasswordFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("nut: password file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("nut: password file %s is mode %#o: others can read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nut: password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("nut: password file %s is empty", path)
	}
	return pw, nil
}

// ErrConnLost is matched by errors from a connection that failed (refused,
// reset, timed out, closed, or a reply that could not be parsed). The
// Client is unusable after one; NewSource reconnects.
var ErrConnLost = errors.New("nut: connection to upsd lost")

// ErrNotConfirmed is matched when upsd accepted a tracked command and the
// driver did not report its result within ConfirmTimeout.
var ErrNotConfirmed = errors.New("nut: command accepted by upsd but not confirmed by the driver in time")

// Client is one connection to upsd, for one UPS. It is safe for concurrent
// use; requests are serialised.
type Client struct {
	addr string
	opts Options
	log  *slog.Logger

	mu       sync.Mutex // guards everything below and the connection's stream
	conn     net.Conn
	r        *bufio.Reader
	tracking bool
	broken   error
	closed   bool
}

// Dial connects to upsd at addr (host:port; the port defaults to 3493), logs
// in when opts.User is set (USERNAME, PASSWORD, LOGIN), and turns command
// tracking on where the server has it. LOGIN registers the box as a client
// of the UPS, as upsmon does, so that a NUT primary waits for it before
// cutting the power.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, DefaultPort)
	}
	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	conn, err := opts.Dial(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w (is upsd running there and listening on that address? check LISTEN in upsd.conf)", ErrConnLost, addr, err)
	}
	c := &Client{
		addr: addr,
		opts: opts,
		log:  opts.Logger.With("nut", addr, "ups", opts.UPS),
		conn: conn,
		r:    bufio.NewReaderSize(conn, MaxLine+2),
	}
	if err := c.login(ctx); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) login(ctx context.Context) error {
	if c.opts.User == "" {
		return nil
	}
	user, _ := Quote(c.opts.User)
	pass, _ := Quote(c.opts.Password)
	if _, err := c.simple(ctx, "USERNAME "+user, "USERNAME "+user); err != nil {
		return err
	}
	if _, err := c.simple(ctx, "PASSWORD "+pass, "PASSWORD (elided)"); err != nil {
		return err
	}
	// upsd checks the password at LOGIN; with NoLogin, only at the first
	// command that needs it.
	if !c.opts.NoLogin {
		if _, err := c.simple(ctx, "LOGIN "+c.opts.UPS, fmt.Sprintf("LOGIN %s as %s", c.opts.UPS, c.opts.User)); err != nil {
			return err
		}
	}
	if _, err := c.simple(ctx, "SET TRACKING ON", "SET TRACKING ON"); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		// An older upsd: commands are then not confirmed, only accepted.
		c.log.Debug("upsd does not track commands", "err", err)
		return nil
	}
	c.tracking = true
	return nil
}

// Close logs out (best effort, briefly) and closes the connection. It can be
// called twice.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.broken == nil {
		_ = c.conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := io.WriteString(c.conn, "LOGOUT\n"); err == nil {
			_, _ = c.r.ReadSlice('\n')
		}
	}
	c.broken = fmt.Errorf("%w: client closed: %w", ErrConnLost, net.ErrClosed)
	err := c.conn.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("nut: close: %w", err)
	}
	return nil
}

// Err returns the error that broke the connection, nil while it works.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// sendLocked writes one command and reads the first line of its reply, under
// ctx and the request timeout. Callers hold c.mu. show is the command as
// it may appear in errors.
func (c *Client) sendLocked(ctx context.Context, cmd, show string) ([]string, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(c.conn, cmd+"\n"); err != nil {
		return nil, c.breakLocked(ctx, show, err)
	}
	return c.readLocked(ctx, show)
}

// readLocked reads and splits one reply line; ERR replies become *Error.
func (c *Client) readLocked(ctx context.Context, show string) ([]string, error) {
	b, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = fmt.Errorf("%w: reply line longer than %d bytes", ErrProtocol, MaxLine)
		}
		return nil, c.breakLocked(ctx, show, err)
	}
	line := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	words, err := ParseLine(line)
	if err != nil {
		return nil, c.breakLocked(ctx, show, err)
	}
	if len(words) == 0 {
		return nil, c.breakLocked(ctx, show, fmt.Errorf("%w: empty reply", ErrProtocol))
	}
	if words[0] == "ERR" {
		e := &Error{Cmd: show}
		if len(words) > 1 {
			e.Code = words[1]
			e.Extra = strings.Join(words[2:], " ")
		}
		return nil, e
	}
	return words, nil
}

// breakLocked marks the connection unusable: after a failed read or write,
// or a reply that cannot be parsed, the stream is out of step.
func (c *Client) breakLocked(ctx context.Context, show string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	c.broken = fmt.Errorf("%w: %s: %s: %w", ErrConnLost, c.addr, show, err)
	_ = c.conn.Close()
	return c.broken
}

// simple sends a command whose reply is "OK [...]".
func (c *Client) simple(ctx context.Context, cmd, show string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.simpleLocked(ctx, cmd, show)
}

func (c *Client) simpleLocked(ctx context.Context, cmd, show string) ([]string, error) {
	words, err := c.sendLocked(ctx, cmd, show)
	if err != nil {
		return nil, err
	}
	if words[0] != "OK" {
		return nil, c.breakLocked(ctx, show, fmt.Errorf("%w: expected OK, got %q", ErrProtocol, words[0]))
	}
	return words, nil
}

// Get returns one variable (GET VAR).
func (c *Client) Get(ctx context.Context, name string) (string, error) {
	q, err := word(name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	show := "GET VAR " + c.opts.UPS + " " + q
	words, err := c.sendLocked(ctx, show, show)
	if err != nil {
		return "", err
	}
	if len(words) != 4 || words[0] != "VAR" || words[1] != c.opts.UPS || words[2] != name {
		return "", c.breakLocked(ctx, show, fmt.Errorf("%w: unexpected reply %q", ErrProtocol, strings.Join(words, " ")))
	}
	return words[3], nil
}

// Vars returns all variables (LIST VAR).
func (c *Client) Vars(ctx context.Context) (map[string]string, error) {
	return c.listMap(ctx, "VAR")
}

// RW returns the writable variables (LIST RW).
func (c *Client) RW(ctx context.Context) (map[string]string, error) {
	return c.listMap(ctx, "RW")
}

// Commands returns the instant commands the UPS offers (LIST CMD), sorted.
func (c *Client) Commands(ctx context.Context) ([]string, error) {
	var cmds []string
	err := c.list(ctx, "CMD", 3, func(w []string) { cmds = append(cmds, w[2]) })
	slices.Sort(cmds)
	return cmds, err
}

func (c *Client) listMap(ctx context.Context, kind string) (map[string]string, error) {
	m := make(map[string]string)
	err := c.list(ctx, kind, 4, func(w []string) { m[w[2]] = w[3] })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// list runs "LIST kind ups" and hands each item line (of n words, the first
// being kind and the second the UPS) to fn.
func (c *Client) list(ctx context.Context, kind string, n int, fn func([]string)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	show := "LIST " + kind + " " + c.opts.UPS
	words, err := c.sendLocked(ctx, show, show)
	if err != nil {
		return err
	}
	if len(words) != 4 || words[0] != "BEGIN" || words[1] != "LIST" || words[2] != kind || words[3] != c.opts.UPS {
		return c.breakLocked(ctx, show, fmt.Errorf("%w: expected BEGIN LIST, got %q", ErrProtocol, strings.Join(words, " ")))
	}
	for range maxListLines {
		words, err := c.readLocked(ctx, show)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				// An ERR inside a list: the stream is out of step.
				return c.breakLocked(ctx, show, err)
			}
			return err
		}
		if len(words) == 4 && words[0] == "END" && words[1] == "LIST" && words[2] == kind && words[3] == c.opts.UPS {
			return nil
		}
		if len(words) != n || words[0] != kind || words[1] != c.opts.UPS {
			return c.breakLocked(ctx, show, fmt.Errorf("%w: unexpected list item %q", ErrProtocol, strings.Join(words, " ")))
		}
		fn(words)
	}
	return c.breakLocked(ctx, show, fmt.Errorf("%w: list longer than %d items", ErrProtocol, maxListLines))
}

// State reads the UPS's variables (one LIST VAR) into a state: ups.status,
// battery.charge, battery.runtime.
func (c *Client) State(ctx context.Context) (hal.UPSState, error) {
	vars, err := c.Vars(ctx)
	if err != nil {
		return hal.UPSState{}, err
	}
	return stateFromVars(c.source(), vars)
}

func (c *Client) source() string { return "nut:" + c.opts.UPS + "@" + c.addr }

// SetVar sets a variable (SET VAR) and, where upsd tracks commands, waits
// for the driver's result.
func (c *Client) SetVar(ctx context.Context, name, value string) error {
	n, err := word(name)
	if err != nil {
		return err
	}
	v, err := Quote(value)
	if err != nil {
		return err
	}
	return c.tracked(ctx, "SET VAR "+c.opts.UPS+" "+n+" "+v)
}

// InstCmd runs an instant command (INSTCMD), with a parameter when param is
// not empty, and, where upsd tracks commands, waits for the driver's result.
func (c *Client) InstCmd(ctx context.Context, cmd, param string) error {
	q, err := word(cmd)
	if err != nil {
		return err
	}
	line := "INSTCMD " + c.opts.UPS + " " + q
	if param != "" {
		p, err := Quote(param)
		if err != nil {
			return err
		}
		line += " " + p
	}
	return c.tracked(ctx, line)
}

func (c *Client) tracked(ctx context.Context, cmd string) error {
	c.mu.Lock()
	words, err := c.simpleLocked(ctx, cmd, cmd)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if len(words) < 3 || words[1] != "TRACKING" {
		return nil // accepted; no tracking on this server
	}
	id := words[2]
	qid, err := word(id)
	if err != nil {
		return fmt.Errorf("%w: tracking id: %w", ErrProtocol, err)
	}
	deadline := time.Now().Add(c.opts.ConfirmTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		words, err := c.sendLocked(ctx, "GET TRACKING "+qid, "GET TRACKING "+qid)
		c.mu.Unlock()
		var e *Error
		switch {
		case errors.As(err, &e):
			return &TrackingError{Cmd: cmd, Result: "ERR " + e.Code}
		case err != nil:
			return err
		case words[0] == "SUCCESS":
			return nil
		case words[0] != "PENDING":
			return &TrackingError{Cmd: cmd, Result: strings.Join(words, " ")}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s (waited %s)", ErrNotConfirmed, cmd, c.opts.ConfirmTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrNotConfirmed, cmd, ctx.Err())
		case <-tick.C:
		}
	}
}

// ArmReturn makes the UPS cut the load after offDelay and restore it after
// onDelay once mains is back: it sets ups.delay.shutdown and ups.delay.start
// where the UPS lets them be written (otherwise the UPS's own delays apply),
// then runs the shutdown.return instant command. A UPS without that command
// gives a *ReturnUnsupportedError (matching hal.ErrArmUnsupported), before
// anything is changed.
func (c *Client) ArmReturn(ctx context.Context, offDelay, onDelay time.Duration) error {
	if offDelay < 0 || onDelay <= offDelay {
		return fmt.Errorf("nut: arm return: the off delay (%s) must be shorter than the on delay (%s)", offDelay, onDelay)
	}
	cmds, err := c.Commands(ctx)
	if err != nil {
		return fmt.Errorf("nut: arm return: %w", err)
	}
	if !slices.Contains(cmds, "shutdown.return") {
		return &ReturnUnsupportedError{UPS: c.opts.UPS, Commands: cmds}
	}
	rw, err := c.RW(ctx)
	if err != nil {
		return fmt.Errorf("nut: arm return: %w", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ups.delay.shutdown", offDelay}, {"ups.delay.start", onDelay}} {
		if _, ok := rw[d.name]; !ok {
			c.log.Warn("the UPS's delay is not writable; its own setting applies", "var", d.name)
			continue
		}
		secs := strconv.Itoa(int(math.Ceil(d.v.Seconds())))
		if err := c.SetVar(ctx, d.name, secs); err != nil {
			return fmt.Errorf("nut: arm return: %w", err)
		}
	}
	if err := c.InstCmd(ctx, "shutdown.return", ""); err != nil {
		if errors.Is(err, ErrCmdNotSupported) {
			return &ReturnUnsupportedError{UPS: c.opts.UPS, Commands: cmds, Err: err}
		}
		return fmt.Errorf("nut: arm return: %w", err)
	}
	c.log.Info("return armed", "off_delay", offDelay, "on_delay", onDelay)
	return nil
}

// word checks that s can be sent as one unquoted protocol word.
func word(s string) (string, error) {
	if s == "" || strings.ContainsAny(s, " \t\"\\") {
		return "", fmt.Errorf("nut: %q is not a valid NUT name", s)
	}
	if _, err := Quote(s); err != nil {
		return "", err
	}
	return s, nil
}
