package netctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// DefaultUAPIDir is where `wg`, wgctrl and wireguard-go look for the UAPI
// sockets of userspace WireGuard devices.
const DefaultUAPIDir = "/var/run/wireguard"

// uapiServer serves the UAPI of one wireguard-go device on a unix socket
// at <dir>/<name>.sock.
//
// wireguard-go's ipc.UAPIOpen/UAPIListen are not used: they hard-code
// /var/run/wireguard (the directory is a package variable set only by a
// linker flag), set the process-wide umask while they listen, and start
// goroutines (an inotify watcher) that Close does not wait for. This
// server takes any directory, owns every goroutine it starts, and Close
// waits for them; it does not notice the socket being deleted under it
// (wireguard-go's inotify watch does), which only matters when something
// removes the socket by hand.
type uapiServer struct {
	path   string
	ln     *net.UnixListener
	handle func(net.Conn) // serves one connection and closes it
	wg     sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	conns  map[net.Conn]struct{}
	closed bool
}

// listenUAPI listens on <dir>/<name>.sock ("" dir means DefaultUAPIDir),
// replacing a stale socket left by a process that died but refusing to
// take over one that still answers. The socket is made mode 0600: whoever
// can connect can read the private key.
func listenUAPI(dir, name string, handle func(net.Conn)) (*uapiServer, error) {
	if dir == "" {
		dir = DefaultUAPIDir
	}
	if name == "" || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("netctl: uapi socket: bad device name %q", name)
	}
	path := filepath.Join(dir, name+".sock")
	ln, err := ListenUnixSocket(path, 0o600)
	if errors.Is(err, ErrSocketInUse) {
		return nil, fmt.Errorf("netctl: uapi socket %s is in use by another process (another shisad or wireguard-go running?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("netctl: uapi socket: %w", err)
	}
	s := &uapiServer{path: path, ln: ln, handle: handle, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *uapiServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed; a unix listener has no other failure worth retrying
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops listening, removes the socket, ends open connections and
// waits for every goroutine the server started. It may be called again.
func (s *uapiServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close() // also unlinks the socket
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// uapiGet asks the UAPI socket at path for the device, like `wg show`.
func uapiGet(ctx context.Context, path string) (*wgtypes.Device, error) {
	var d *wgtypes.Device
	err := uapiDo(ctx, path, "get=1\n\n", func(r io.Reader) (err error) {
		d, err = parseUAPI(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	d.Name = strings.TrimSuffix(filepath.Base(path), ".sock")
	d.Type = wgtypes.Userspace
	return d, nil
}

// uapiSet configures the device behind the UAPI socket at path, like `wg set`.
func uapiSet(ctx context.Context, path string, cfg wgtypes.Config) error {
	var b strings.Builder
	b.WriteString("set=1\n")
	if err := encodeUAPIConfig(&b, cfg); err != nil {
		return err
	}
	b.WriteString("\n")
	return uapiDo(ctx, path, b.String(), func(r io.Reader) error {
		_, err := parseUAPI(r) // only "errno=N"
		return err
	})
}

func uapiDo(ctx context.Context, path, request string, read func(io.Reader) error) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("netctl: uapi: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return fmt.Errorf("netctl: uapi: %w", err)
		}
	}
	if _, err := io.WriteString(c, request); err != nil {
		return fmt.Errorf("netctl: uapi %s: %w", path, err)
	}
	if err := read(c); err != nil {
		return fmt.Errorf("netctl: uapi %s: %w", path, err)
	}
	return nil
}
