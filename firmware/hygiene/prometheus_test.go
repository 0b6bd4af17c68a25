package hygiene

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestPrometheusConfig checks deploy/prometheus with Prometheus's own
// tool: `promtool check config` (the scrape job, its targets files and the
// rule files it names), `promtool check rules` and `promtool test rules`
// (alerts_test.yml). check config wants the job's credentials file to
// exist, and the repository holds no token, so it runs on a copy with a
// dummy shisa.token beside it. It also checks what promtool cannot: every
// alert has a severity and the four annotations, every alert but
// ShisaPlannedOutage is silenced during a planned outage, and every alert
// is seen firing in alerts_test.yml.
func TestPrometheusConfig(t *testing.T) {
	if os.Getenv("SHISA_QEMU") != "" {
		t.Skip("checks text files with the host's promtool; nothing ARM about it")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; make test installs it as root, or: sudo apt-get install prometheus)")
	}
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	if _, err := os.Stat(filepath.Join(dir, "shisa.token")); err == nil {
		t.Errorf("deploy/prometheus/shisa.token exists: a token must never be committed; remove it")
	}

	run := func(wd string, args ...string) {
		t.Helper()
		cmd := exec.Command(promtool, args...)
		cmd.Dir = wd
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), strings.TrimRight(string(out), "\n"))
	}

	cp := t.TempDir()
	copyTree(t, dir, cp)
	if err := os.WriteFile(filepath.Join(cp, "shisa.token"), []byte(strings.Repeat("x", 43)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(cp, "check", "config", "prometheus.yml")
	run(dir, "check", "rules", "alerts.yml")
	run(dir, "test", "rules", "alerts_test.yml")

	checkAlerts(t, dir)
}

// The alerts deploy/prometheus/alerts.yml must have.
var wantAlerts = []string{
	"ShisaTunnelDown", "ShisaFailover", "ShisaOnBattery", "ShisaPlannedOutage",
	"ShisaTimeOffset", "ShisaSelfCheckFailed", "ShisaSafeMode", "ShisaWatchdogStuck",
}

const outageSilence = "unless on(instance) shisa:outage_planned:in_progress"

func checkAlerts(t *testing.T, dir string) {
	t.Helper()
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Record, Expr string
				Labels              map[string]string
				Annotations         map[string]string
			}
		}
	}
	readYAML(t, filepath.Join(dir, "alerts.yml"), &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	readYAML(t, filepath.Join(dir, "alerts_test.yml"), &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}

	var got []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got = append(got, r.Alert)
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, k := range []string{"summary", "summary_ja", "description", "description_ja"} {
				if !strings.Contains(r.Annotations[k], "$labels.site") {
					t.Errorf("%s: annotation %s does not name the site ({{ $labels.site }})", r.Alert, k)
				}
			}
			silenced := strings.Count(strings.Join(strings.Fields(r.Expr), " "), outageSilence)
			switch {
			case r.Alert == "ShisaPlannedOutage":
			case r.Alert == "ShisaTunnelDown" && silenced < 2:
				t.Errorf("%s: both branches (up == 0 and shisa_tunnel_up == 0) must end with %q", r.Alert, outageSilence)
			case silenced < 1:
				t.Errorf("%s: not silenced during a planned outage (%q)", r.Alert, outageSilence)
			}
			if !fires[r.Alert] {
				t.Errorf("%s: alerts_test.yml never expects it to fire", r.Alert)
			}
		}
	}
	for _, a := range wantAlerts {
		if !slices.Contains(got, a) {
			t.Errorf("alerts.yml has no alert %s", a)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}
