package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteFileContentAndMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, perm := range []os.FileMode{0o600, 0o644, 0o640} {
		data := []byte("hello " + perm.String())
		if err := WriteFile(path, data, perm); err != nil {
			t.Fatalf("WriteFile(%v): %v", perm, err)
		}
		if got := readFile(t, path); !bytes.Equal(got, data) {
			t.Errorf("content = %q, want %q", got, data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("mode = %v, want %v", fi.Mode().Perm(), perm)
		}
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"state.json"}) {
		t.Errorf("dir holds %q, want only state.json", got)
	}
}

func TestWriteFileReplacesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("a much longer old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, path)); got != "new" {
		t.Errorf("content = %q, want %q", got, "new")
	}
	if err := WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); len(got) != 0 {
		t.Errorf("content = %q, want empty", got)
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nope", "f")
	err := WriteFile(path, []byte("x"), 0o600)
	if err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v is not os.ErrNotExist", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("dir holds %q, want nothing", got)
	}
}

func TestWriteFileReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("skipping: root ignores directory permissions; run as non-root to test a read-only directory")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	err := WriteFile(path, []byte("new"), 0o600)
	if err == nil {
		t.Fatal("WriteFile into a read-only directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"f"}) {
		t.Errorf("dir holds %q, want only f", got)
	}
	if got := string(readFile(t, path)); got != "old" {
		t.Errorf("content = %q, want old", got)
	}
}

// TestWriteFileCrashAtEachStep stops writeFile after each step, as a power
// cut or a failing disk would, and checks what a reader sees at that instant
// and what is left after the error is returned.
func TestWriteFileCrashAtEachStep(t *testing.T) {
	steps := []string{stepCreate, stepWrite, stepSync, stepClose, stepChmod, stepRename, stepSyncDir}
	errCrash := errors.New("simulated crash")
	for i, stop := range steps {
		t.Run(stop, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			renamed := i >= slices.Index(steps, stepRename)
			want := "old"
			if renamed {
				want = "new"
			}
			var seen []string
			h := hooks{after: func(step string) error {
				seen = append(seen, step)
				if step != stop {
					return nil
				}
				// The power goes now: what a reader, or the next boot, sees.
				if got := string(readFile(t, path)); got != want {
					t.Errorf("crash after %s: target holds %q, want %q", step, got, want)
				}
				return errCrash
			}}
			err := writeFile(path, []byte("new"), 0o600, h)
			if !errors.Is(err, errCrash) {
				t.Fatalf("writeFile = %v, want the simulated crash", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if !slices.Equal(seen, steps[:i+1]) {
				t.Errorf("steps run = %q, want %q", seen, steps[:i+1])
			}
			if got := string(readFile(t, path)); got != want {
				t.Errorf("after failure: target holds %q, want %q", got, want)
			}
			if got := listDir(t, dir); !slices.Equal(got, []string{"f"}) {
				t.Errorf("dir holds %q, want only f (no temporary file left)", got)
			}
		})
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	err := SyncDir(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SyncDir(missing) = %v, want os.ErrNotExist", err)
	}
}
