// Package nuttest is a fake NUT server (upsd) on a loopback TCP port, for
// tests of hal/nut and of whatever drives a NUT UPS. It speaks enough of the
// network protocol for the client: USERNAME, PASSWORD, LOGIN, LOGOUT,
// GET VAR, LIST VAR/RW/CMD, SET VAR, INSTCMD, SET TRACKING, GET TRACKING.
//
// Change its exported fields under its lock to script the UPS; it records
// the commands it ran.
package nuttest

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/shisa-gw/shisa/hal/nut"
)

// Server is a fake upsd serving one UPS.
type Server struct {
	ln net.Listener
	wg sync.WaitGroup

	sync.Mutex
	// UPS is the UPS's name. Default "ups".
	UPS string
	// Users maps user names to passwords for LOGIN, SET VAR and INSTCMD.
	Users map[string]string
	// Vars are the UPS's variables; RW names the writable ones.
	Vars map[string]string
	RW   []string
	// Cmds are the instant commands the UPS offers.
	Cmds []string
	// Err, when set, is the reply code to every request about the UPS
	// ("DATA-STALE", "DRIVER-NOT-CONNECTED").
	Err string
	// NoTracking makes SET TRACKING an unknown command (upsd before 2.8).
	NoTracking bool
	// Result is what GET TRACKING answers for tracked commands: "SUCCESS"
	// (default), "PENDING", "ERR FAILED", "ERR UNKNOWN"…
	Result string
	// Override, when set, is asked first for every line received; it returns
	// the raw reply (several lines allowed) and true to replace the normal
	// handling.
	Override func(line string) (reply string, ok bool)
	// Ran records the SET VAR and INSTCMD lines carried out.
	Ran []string
	// Logins counts successful LOGINs.
	Logins int

	conns  map[net.Conn]bool
	nextID int
}

// NewServer listens on 127.0.0.1 on a free port and serves until Close. The
// UPS is online with a full battery, offers shutdown.return and has
// writable delays.
func NewServer() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return newServer(ln)
}

func newServer(ln net.Listener) (*Server, error) {
	s := &Server{
		ln:    ln,
		UPS:   "ups",
		Users: map[string]string{"shisa": "secret"},
		Vars: map[string]string{
			"ups.status":         "OL",
			"battery.charge":     "100",
			"battery.runtime":    "1800",
			"ups.delay.shutdown": "20",
			"ups.delay.start":    "30",
			"device.model":       "Fake UPS \"1500\"",
		},
		RW:     []string{"ups.delay.shutdown", "ups.delay.start"},
		Cmds:   []string{"load.off", "shutdown.return", "shutdown.stayoff"},
		Result: "SUCCESS",
		conns:  make(map[net.Conn]bool),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Set sets a variable, such as ups.status.
func (s *Server) Set(name, value string) {
	s.Lock()
	defer s.Unlock()
	s.Vars[name] = value
}

// SetErr sets Err.
func (s *Server) SetErr(code string) {
	s.Lock()
	defer s.Unlock()
	s.Err = code
}

// Commands returns a copy of Ran.
func (s *Server) Commands() []string {
	s.Lock()
	defer s.Unlock()
	return slices.Clone(s.Ran)
}

// Drop closes every client connection, as a restarted upsd would.
func (s *Server) Drop() {
	s.Lock()
	defer s.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops the server and waits for its goroutines.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.Drop()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.Lock()
		s.conns[c] = true
		s.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.Lock()
			delete(s.conns, c)
			s.Unlock()
			c.Close()
		}()
	}
}

type session struct {
	user, pass string
	loggedIn   bool
	tracking   bool
}

func (s *Server) serve(c net.Conn) {
	r := bufio.NewScanner(c)
	var ss session
	for r.Scan() {
		line := r.Text()
		reply, done := s.handle(&ss, line)
		if _, err := fmt.Fprint(c, reply); err != nil || done {
			return
		}
	}
}

func (s *Server) handle(ss *session, line string) (reply string, done bool) {
	s.Lock()
	defer s.Unlock()
	if s.Override != nil {
		if r, ok := s.Override(line); ok {
			return r, false
		}
	}
	w, err := nut.ParseLine(line)
	if err != nil || len(w) == 0 {
		return "ERR INVALID-ARGUMENT\n", false
	}
	errReply := func(code string) (string, bool) { return "ERR " + code + "\n", false }
	upsOK := func(name string) (string, bool) {
		if name != s.UPS {
			return "ERR UNKNOWN-UPS\n", true
		}
		if s.Err != "" {
			return "ERR " + s.Err + "\n", true
		}
		return "", false
	}
	authed := func() bool { p, ok := s.Users[ss.user]; return ok && ss.pass == p }
	tracked := func(what string) (string, bool) {
		s.Ran = append(s.Ran, what)
		if !ss.tracking {
			return "OK\n", false
		}
		s.nextID++
		return fmt.Sprintf("OK TRACKING id-%d\n", s.nextID), false
	}
	cmd := strings.ToUpper(w[0])
	switch {
	case cmd == "USERNAME" && len(w) == 2:
		if ss.user != "" {
			return errReply("ALREADY-SET-USERNAME")
		}
		ss.user = w[1]
		return "OK\n", false
	case cmd == "PASSWORD" && len(w) == 2:
		if ss.pass != "" {
			return errReply("ALREADY-SET-PASSWORD")
		}
		ss.pass = w[1]
		return "OK\n", false
	case cmd == "LOGIN" && len(w) == 2:
		if ss.user == "" {
			return errReply("USERNAME-REQUIRED")
		}
		if ss.pass == "" {
			return errReply("PASSWORD-REQUIRED")
		}
		if !authed() {
			return errReply("ACCESS-DENIED")
		}
		if ss.loggedIn {
			return errReply("ALREADY-LOGGED-IN")
		}
		if w[1] != s.UPS {
			return errReply("UNKNOWN-UPS")
		}
		ss.loggedIn = true
		s.Logins++
		return "OK\n", false
	case cmd == "LOGOUT":
		return "OK Goodbye\n", true
	case line == "SET TRACKING ON":
		if s.NoTracking {
			return errReply("UNKNOWN-COMMAND")
		}
		ss.tracking = true
		return "OK\n", false
	case cmd == "GET" && len(w) == 3 && w[1] == "TRACKING":
		return s.Result + "\n", false
	case cmd == "GET" && len(w) == 4 && w[1] == "VAR":
		if r, bad := upsOK(w[2]); bad {
			return r, false
		}
		v, ok := s.Vars[w[3]]
		if !ok {
			return errReply("VAR-NOT-SUPPORTED")
		}
		q, _ := nut.Quote(v)
		return fmt.Sprintf("VAR %s %s %s\n", w[2], w[3], q), false
	case cmd == "LIST" && len(w) == 3 && (w[1] == "VAR" || w[1] == "RW" || w[1] == "CMD"):
		if r, bad := upsOK(w[2]); bad {
			return r, false
		}
		var b strings.Builder
		fmt.Fprintf(&b, "BEGIN LIST %s %s\n", w[1], w[2])
		switch w[1] {
		case "VAR":
			for _, k := range sortedKeys(s.Vars) {
				q, _ := nut.Quote(s.Vars[k])
				fmt.Fprintf(&b, "VAR %s %s %s\n", w[2], k, q)
			}
		case "RW":
			for _, k := range s.RW {
				q, _ := nut.Quote(s.Vars[k])
				fmt.Fprintf(&b, "RW %s %s %s\n", w[2], k, q)
			}
		case "CMD":
			for _, k := range s.Cmds {
				fmt.Fprintf(&b, "CMD %s %s\n", w[2], k)
			}
		}
		fmt.Fprintf(&b, "END LIST %s %s\n", w[1], w[2])
		return b.String(), false
	case cmd == "SET" && len(w) == 5 && w[1] == "VAR":
		if !authed() {
			return errReply("ACCESS-DENIED")
		}
		if r, bad := upsOK(w[2]); bad {
			return r, false
		}
		if !slices.Contains(s.RW, w[3]) {
			if _, ok := s.Vars[w[3]]; ok {
				return errReply("READONLY")
			}
			return errReply("VAR-NOT-SUPPORTED")
		}
		s.Vars[w[3]] = w[4]
		return tracked("SET " + w[3] + "=" + w[4])
	case cmd == "INSTCMD" && (len(w) == 3 || len(w) == 4):
		if !authed() {
			return errReply("ACCESS-DENIED")
		}
		if r, bad := upsOK(w[1]); bad {
			return r, false
		}
		if !slices.Contains(s.Cmds, w[2]) {
			return errReply("CMD-NOT-SUPPORTED")
		}
		return tracked("INSTCMD " + strings.Join(w[2:], " "))
	}
	return errReply("UNKNOWN-COMMAND")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// NewServerAt is NewServer on a given address, to bring a server back where
// an earlier one was.
func NewServerAt(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s, err := newServer(ln)
	return s, err
}

// NewServerOn is NewServer on a listener opened elsewhere (inside a
// network namespace, for an integration test); Close closes it.
func NewServerOn(ln net.Listener) (*Server, error) { return newServer(ln) }
