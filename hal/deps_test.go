package hal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Rule of the house: hal never imports firmware; and only hal/board links
// periph's host drivers, so that tests and the simulated board stay lean.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "github.com/shisa-gw/shisa/firmware") {
			t.Errorf("hal depends on %s: hal never imports firmware", p)
		}
	}
	for _, pkg := range []string{".", "./nut", "./halsim", "./nut/nuttest"} {
		out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		if strings.Contains(string(out), "periph.io/x/host") {
			t.Errorf("%s links periph.io/x/host; only hal/board may", pkg)
		}
	}
}
