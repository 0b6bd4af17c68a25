package netctl

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestListenUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "unixsock-") // short: 107-byte socket paths
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sub", "s.sock")

	ln, err := ListenUnixSocket(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, err %v; want 0600", fi.Mode().Perm(), err)
	}
	if _, err := ListenUnixSocket(path, 0o600); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("a socket still served: %v, want ErrSocketInUse", err)
	}
	// Left behind by a crash: the file stays, nobody answers.
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ln, err = ListenUnixSocket(path, 0o660)
	if err != nil {
		t.Fatalf("a stale socket is taken over: %v", err)
	}
	ln.Close()

	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnixSocket(file, 0o600); err == nil {
		t.Fatal("a regular file was replaced by a socket")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("the regular file was touched")
	}
	var _ net.Listener = ln
}
