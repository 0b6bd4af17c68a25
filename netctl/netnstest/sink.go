package netnstest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"strings"
	"time"
)

// ErrSinkMismatch means the sink received other bytes than were sent.
var ErrSinkMismatch = errors.New("netnstest: sink received different data")

// Sink streams size random bytes over conn to a dcpeer TCP sink, closes
// its write side, reads the sink's "<bytes> <sha256 hex>" answer and
// compares it with what was sent. It returns the hex SHA-256 of the data.
// ctx bounds the whole exchange; conn is closed when Sink returns.
func Sink(ctx context.Context, conn net.Conn, size int64) (sum string, err error) {
	defer conn.Close()
	stop := watch(ctx, conn)
	defer stop(&err)

	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok {
		return "", fmt.Errorf("netnstest: sink: %T cannot half-close", conn)
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return "", fmt.Errorf("netnstest: sink: seed: %w", err)
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(conn, h), 64<<10)
	if _, err := io.CopyN(bw, mrand.NewChaCha8(seed), size); err != nil {
		return "", fmt.Errorf("netnstest: sink: send %d bytes: %w", size, err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("netnstest: sink: send %d bytes: %w", size, err)
	}
	if err := cw.CloseWrite(); err != nil {
		return "", fmt.Errorf("netnstest: sink: close write: %w", err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return sum, fmt.Errorf("netnstest: sink: read answer after sending %d bytes: %w", size, err)
	}
	var n int64
	var got string
	if _, err := fmt.Sscanf(line, "%d %s", &n, &got); err != nil {
		return sum, fmt.Errorf("netnstest: sink: bad answer %q: %w", line, err)
	}
	if n != size || got != sum {
		return sum, fmt.Errorf("%w: sent %d bytes sha256 %s, sink got %d bytes sha256 %s",
			ErrSinkMismatch, size, sum, n, got)
	}
	return sum, nil
}

// Echo writes one line with a random token to a dcpeer TCP echo over conn
// and checks that the same line comes back. conn stays open.
func Echo(ctx context.Context, conn net.Conn) (err error) {
	stop := watch(ctx, conn)
	defer stop(&err)
	tok, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return fmt.Errorf("netnstest: echo: %w", err)
	}
	want := "netnstest " + tok.String() + "\n"
	if _, err := io.WriteString(conn, want); err != nil {
		return fmt.Errorf("netnstest: echo: write: %w", err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("netnstest: echo: read: %w", err)
	}
	if string(got) != want {
		return fmt.Errorf("netnstest: echo: sent %q, got %q", strings.TrimSpace(want), strings.TrimSpace(string(got)))
	}
	return nil
}

// watch makes ctx's end interrupt I/O on conn. The returned function
// undoes that and, when ctx ended, makes *err say so.
func watch(ctx context.Context, conn net.Conn) func(*error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return func(err *error) {
		if !stop() && *err != nil {
			*err = fmt.Errorf("%w (%w)", *err, ctx.Err())
		}
	}
}
