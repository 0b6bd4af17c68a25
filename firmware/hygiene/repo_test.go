package hygiene

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/shisa-gw/shisa"

// repoRoot walks up from the test's directory to the go.mod of module.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+module)) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod for %s above the test's directory", module)
		}
		dir = parent
	}
}

// goFiles returns the .go files of the repository by directory (relative,
// slash-separated), leaving out testdata and directories whose names start
// with "." or "_", which the go command ignores too.
func goFiles(t *testing.T, root string) map[string][]string {
	t.Helper()
	byDir := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_") {
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			byDir[rel] = append(byDir[rel], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return byDir
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestPackageDocs checks that every package says what it is for: a
// "// Package name …" comment on the package clause of a non-test file
// (doc.go by habit), or for a main package any comment there ("// Command
// shisad …", "// Shisad …"). Directories holding only tests are skipped.
func TestPackageDocs(t *testing.T) {
	root := repoRoot(t)
	byDir := goFiles(t, root)
	for _, dir := range sortedKeys(byDir) {
		fset := token.NewFileSet()
		var name string
		documented := false
		for _, path := range byDir[dir] {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Errorf("%s: %v", rel(root, path), err)
				continue
			}
			name = f.Name.Name
			if f.Doc == nil {
				continue
			}
			text := f.Doc.Text()
			if name == "main" && strings.TrimSpace(text) != "" ||
				strings.HasPrefix(text, "Package "+name+" ") || strings.HasPrefix(text, "Package "+name+"\n") {
				documented = true
			}
		}
		if name == "" || documented {
			continue // only tests here, or fine
		}
		if name == "main" {
			t.Errorf("%s: command has no doc comment; put one on `package main` (// Command x does …) saying what it does", dir)
		} else {
			t.Errorf("%s: package %s has no doc comment; add %s/doc.go starting `// Package %s …` saying the package's job", dir, name, dir, name)
		}
	}
}

// TestGofmt fails on any Go file that gofmt would change.
func TestGofmt(t *testing.T) {
	root := repoRoot(t)
	byDir := goFiles(t, root)
	var bad []string
	for _, dir := range sortedKeys(byDir) {
		for _, path := range byDir[dir] {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				continue
			}
			out, err := format.Source(src)
			if err != nil {
				t.Errorf("%s: does not parse: %v", rel(root, path), err)
				continue
			}
			if !bytes.Equal(src, out) {
				bad = append(bad, rel(root, path))
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("files not gofmt'ed (run `gofmt -w %s`):\n\t%s", strings.Join(bad, " "), strings.Join(bad, "\n\t"))
	}
}

// TestLowerFoldersDoNotImportFirmware enforces the rule of the house:
// firmware decides, hal/netctl/watchdog/image do; the lower folders never
// import firmware, tests included.
func TestLowerFoldersDoNotImportFirmware(t *testing.T) {
	root := repoRoot(t)
	byDir := goFiles(t, root)
	lower := []string{"hal", "netctl", "watchdog", "image"}
	for _, dir := range sortedKeys(byDir) {
		top, _, _ := strings.Cut(dir, "/")
		if !slices.Contains(lower, top) {
			continue
		}
		for _, path := range byDir[dir] {
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				t.Errorf("%s: %v", rel(root, path), err)
				continue
			}
			for _, imp := range f.Imports {
				p := importPath(imp)
				if p == module+"/firmware" || strings.HasPrefix(p, module+"/firmware/") {
					t.Errorf("%s imports %s: %s/ must not depend on firmware/; move the shared piece down into %s/ or pass it in", rel(root, path), p, top, top)
				}
			}
		}
	}
}

func importPath(imp *ast.ImportSpec) string {
	p, err := strconv.Unquote(imp.Path.Value)
	if err != nil {
		return imp.Path.Value
	}
	return p
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

// refusedModules are dependencies the binaries that ship on the box must
// not pull in. The box is a small ARM board with little flash and RAM, and
// the binaries are updated over the site's tunnel: each of these adds
// megabytes (and init-time work and memory) for something a few hundred
// lines of our own or the standard library do well enough — metrics in the
// Prometheus text format, a unix-socket JSON API, flag parsing. Adding one
// here needs a reason in the closing note.
var refusedModules = []string{
	"github.com/prometheus/client_golang",
	"k8s.io/",
	"google.golang.org/grpc",
	"github.com/spf13/cobra",
}

// shippedCommands are the binaries installed on the box.
var shippedCommands = []string{"firmware/cmd/shisad", "firmware/cmd/shisactl"}

func refused(importPath string) (string, bool) {
	for _, m := range refusedModules {
		if strings.HasSuffix(m, "/") && strings.HasPrefix(importPath, m) ||
			importPath == m || strings.HasPrefix(importPath, m+"/") {
			return m, true
		}
	}
	return "", false
}

func TestRefused(t *testing.T) {
	for p, want := range map[string]bool{
		"github.com/prometheus/client_golang/prometheus": true,
		"github.com/prometheus/client_golang":            true,
		"github.com/prometheus/client_golangx":           false,
		"github.com/prometheus/common/expfmt":            false,
		"k8s.io/apimachinery/pkg/util/wait":              true,
		"google.golang.org/grpc/codes":                   true,
		"google.golang.org/protobuf/proto":               false,
		"github.com/spf13/cobra":                         true,
		"github.com/spf13/pflag":                         false,
	} {
		if _, got := refused(p); got != want {
			t.Errorf("refused(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestDependencyGuard lists what each shipped command links, for the ARM
// target, and fails on a refused module. Commands not written yet are
// skipped.
func TestDependencyGuard(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH; cannot list the commands' dependencies")
	}
	root := repoRoot(t)
	byDir := goFiles(t, root)
	for _, cmd := range shippedCommands {
		t.Run(filepath.Base(cmd), func(t *testing.T) {
			hasSource := slices.ContainsFunc(byDir[cmd], func(p string) bool { return !strings.HasSuffix(p, "_test.go") })
			if !hasSource {
				t.Skipf("%s has no Go source yet", cmd)
			}
			c := exec.Command(goBin, "list", "-e", "-deps", "-f", "{{.ImportPath}}", "./"+cmd)
			c.Dir = root
			c.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm", "GOARM=7", "CGO_ENABLED=0")
			var stderr bytes.Buffer
			c.Stderr = &stderr
			out, err := c.Output()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v\n%s", cmd, err, stderr.String())
			}
			deps := strings.Fields(string(out))
			if !slices.Contains(deps, module+"/"+cmd) {
				t.Fatalf("go list -deps ./%s did not list the command itself; output:\n%s\n%s", cmd, out, stderr.String())
			}
			for _, p := range deps {
				if m, bad := refused(p); bad {
					t.Errorf("%s links %s (module %s), which the ARM binary must not carry; see refusedModules", cmd, p, m)
				}
				if cmd == "firmware/cmd/shisad" && (p == "text/template" || p == "html/template") {
					// Measured: +3.5 MB on the stripped arm64 binary and
					// ~4 MB of RSS (template's reflection keeps every method
					// of every reachable type). HTML is rendered by shisactl
					// (package report/reporthtml).
					t.Errorf("shisad links %s; render templates in shisactl, not on the box", p)
				}
			}
		})
	}
}
