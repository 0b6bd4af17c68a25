package netnstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a process started with NS.Start.
type Proc struct {
	// Pid is the process id, which is also its process group id.
	Pid int

	ns   *NS
	argv []string
	out  syncBuffer
	done chan struct{} // closed when the process has been waited for
	err  error         // from exec.Cmd.Wait; set before done is closed
}

// String names the process and its namespace, for messages.
func (p *Proc) String() string {
	return fmt.Sprintf("ns %s: pid %d (%s)", p.ns.name, p.Pid, strings.Join(p.argv, " "))
}

// Kill sends sig to the process's group.
func (p *Proc) Kill(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("netnstest: %s: signal %v: %w", p, sig, err)
	}
	return nil
}

// Wait waits for the process to exit and returns its exit error (as
// exec.Cmd.Wait does). It may be called more than once and from several
// goroutines.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Done is closed when the process has exited and been waited for.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Output is everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// waits for the process.
func (p *Proc) stop(grace time.Duration) error {
	_ = p.Kill(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.Kill(syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(grace):
			return fmt.Errorf("%s: not reaped %v after SIGKILL", p, grace)
		}
	}
	// The leader may be gone while members of its group live on (they
	// got the same signal but may take longer, or ignore it).
	if groupAlive(p.Pid) {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		deadline := time.Now().Add(grace)
		for groupAlive(p.Pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: group members alive %v after SIGKILL", p, grace)
			}
			time.Sleep(10 * time.Millisecond) // polling the kernel
		}
	}
	return nil
}

// groupAlive reports whether process group pgid has a member that is not
// a zombie. (kill(-pgid, 0) succeeds for zombies too: a member whose
// parent died waits for init to reap it.)
func groupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
