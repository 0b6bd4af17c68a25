package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndUsage(t *testing.T) {
	code, out, _ := runCLI("--help")
	assert.Equal(t, 0, code)
	for _, s := range []string{"USAGE", "COMMANDS", "status", "events", "config check", "EXIT STATUS"} {
		assert.Contains(t, out, s)
	}
	code, _, errs := runCLI("frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown command "frobnicate"`)
	code, _, errs = runCLI("status", "--bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "status:")
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	// Copy the example and its key; git does not keep the key's 0600.
	ex, err := os.ReadFile("../../../testdata/site.example.yaml")
	require.NoError(t, err)
	key, err := os.ReadFile("../../../testdata/keys/site.key")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "keys"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keys", "site.key"), key, 0o600))
	for _, name := range []string{"api.token", "pair.secret"} {
		secret, err := os.ReadFile("../../../testdata/keys/" + name)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "keys", name), secret, 0o600))
	}
	good := filepath.Join(dir, "site.yaml")
	require.NoError(t, os.WriteFile(good, ex, 0o644))

	code, out, errs := runCLI("config", "check", good)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "is valid")
	assert.NotContains(t, out, strings.TrimSpace(string(key)), "the private key never appears")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(ex), "mtu: 1420", "mtu: 9000", 1)+"\nbogus: 1\n"), 0o644))
	code, _, errs = runCLI("config", "check", bad)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "tunnel.mtu")
	assert.Contains(t, errs, "bogus")
}

type backend struct{ j *journal.Journal }

func (b backend) Status() api.Status {
	recent, _ := b.j.Last(10)
	now := time.Now()
	return api.Status{Site: "hamamatsu-honcho", Unit: "a", Version: "v1", Role: "active", Uptime: 3725,
		Backend: "tun", Interface: "wg-shisa",
		Tunnel: tunnel.Status{State: tunnel.Up, Active: "dc2", Layout: "distinct", Since: now.Add(-90 * time.Second),
			Reason: "dc1 is dead", Failovers: 1, Endpoints: []tunnel.EndpointStatus{
				{Name: "dc1", Endpoint: "203.0.113.10:51820", Health: tunnel.Dead, Misses: 7},
				{Name: "dc2", Endpoint: "203.0.113.20:51820", Health: tunnel.Alive, Active: true, RTT: 4.2,
					LastHandshake: now.Add(-14 * time.Second), RxBytes: 3 << 20, TxBytes: 1536},
			}},
		Events: recent}
}

func (b backend) Events(since uint64, limit int) ([]journal.Record, uint64, error) {
	return b.j.Since(since, limit)
}

func TestStatusAndEventsAgainstAServer(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{NoSync: true})
	require.NoError(t, err)
	defer j.Close()
	for _, k := range []string{"tunnel.up", "endpoint.dead", "tunnel.failover"} {
		_, err := j.Append(k, "msg "+k, nil)
		require.NoError(t, err)
	}
	dir, err := os.MkdirTemp("", "shisactl-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s.sock")
	ln, err := api.ListenUnix(sock)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln, api.Handler(backend{j}, nil)) }()
	defer func() { cancel(); <-done }()

	code, out, errs := runCLI("--socket", sock, "status")
	require.Equal(t, 0, code, errs)
	t.Log("\n" + out)
	for _, s := range []string{"hamamatsu-honcho", "UP via dc2", "ENDPOINT", "dead", "14s ago", "3.0 MiB", "1.5 KiB", "tunnel.failover", "1h02m"} {
		assert.Contains(t, out, s)
	}
	code, out, _ = runCLI("--socket="+sock, "status", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"state": "up"`)

	code, out, _ = runCLI("--socket", sock, "events", "--since", "1")
	require.Equal(t, 0, code)
	assert.NotContains(t, out, "tunnel.up")
	assert.Contains(t, out, "endpoint.dead")

	code, _, errs = runCLI("--socket", filepath.Join(dir, "none.sock"), "status")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "shisad is not running")
}

func TestKeyNew(t *testing.T) {
	file := filepath.Join(t.TempDir(), "site.key")
	code, out, errs := runCLI("key", "new", file)
	require.Equal(t, 0, code, errs)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	k, err := wgtypes.ParseKey(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	assert.Contains(t, out, "public key: "+k.PublicKey().String())
	assert.NotContains(t, out, k.String(), "the private key is never printed")
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	code, _, errs = runCLI("key", "new", file)
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "--force")
	b2, _ := os.ReadFile(file)
	assert.Equal(t, b, b2, "the existing key is kept")
	code, _, _ = runCLI("key", "new", file, "--force")
	assert.Equal(t, 0, code)
	b3, _ := os.ReadFile(file)
	assert.NotEqual(t, b, b3)
}

func TestTokenNew(t *testing.T) {
	file := filepath.Join(t.TempDir(), "api.token")
	code, out, errs := runCLI("token", "new", file)
	require.Equal(t, 0, code, errs)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	tok := strings.TrimSpace(string(b))
	assert.Len(t, tok, 43)
	assert.NotContains(t, out, tok, "the token is not printed")
	fi, _ := os.Stat(file)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	code, _, _ = runCLI("token", "new", file)
	assert.Equal(t, 1, code, "an existing token is kept")
}
