package netnstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// builds caches BuildBinary's results for the life of the test process:
// one build per package path, shared by all tests.
var builds struct {
	mu   sync.Mutex
	dir  string // temporary directory holding every binary
	pkgs map[string]*build
}

type build struct {
	once sync.Once
	bin  string
	err  error
}

// BuildBinary builds the main package pkg (an import path such as
// "github.com/shisa-gw/shisa/netctl/netnstest/dcpeer") with `go build`
// and returns the binary's path. It builds each package once per test
// process; later calls, also from parallel tests, wait for that build and
// share its result. The binaries live in one temporary directory that
// Main removes at the end (without Main it is left in os.TempDir).
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	return BuildBinaryTags(t, pkg, "")
}

// BuildBinaryTags is BuildBinary with build tags (comma-separated, as for
// `go build -tags`), such as the test hooks of shisad.
func BuildBinaryTags(t testing.TB, pkg, tags string) string {
	t.Helper()
	builds.mu.Lock()
	if builds.pkgs == nil {
		builds.pkgs = map[string]*build{}
	}
	key := pkg + " " + tags
	b := builds.pkgs[key]
	if b == nil {
		b = &build{}
		builds.pkgs[key] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.bin, b.err = goBuild(pkg, tags) })
	if b.err != nil {
		t.Fatalf("netnstest: %v", b.err)
	}
	return b.bin
}

func goBuild(pkg, tags string) (string, error) {
	builds.mu.Lock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "netnstest-bin-")
		if err != nil {
			builds.mu.Unlock()
			return "", fmt.Errorf("build %s: %w", pkg, err)
		}
		builds.dir = dir
	}
	dir := builds.dir
	builds.mu.Unlock()
	// Two packages may share a last element; keep their binaries apart.
	out := filepath.Join(dir, fmt.Sprintf("%s-%x-%x", path.Base(pkg), len(pkg), len(tags)), path.Base(pkg))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	// go test puts $GOROOT/bin first in the test binary's PATH.
	cmd := exec.Command("go", "build", "-tags", tags, "-o", out, pkg)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, bytes.TrimSpace(buf.Bytes()))
	}
	return out, nil
}

// removeBuilds deletes the binaries of BuildBinary.
func removeBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
		builds.dir, builds.pkgs = "", nil
	}
}
