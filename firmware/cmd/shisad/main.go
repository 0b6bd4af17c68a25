// Command shisad is the shisa daemon: it keeps the office's WireGuard tunnel
// to the datacenter up, fails over between datacenter endpoints, journals
// what happens and answers shisactl on a local unix socket.
//
// Usage:
//
//	shisad [-config /etc/shisa/site.yaml] [-log-format text|json] [-log-level info]
//
// It exits 2 when the configuration is invalid (the errors name file, line
// and field), 1 when it cannot run, and 0 after SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/daemon"
)

// defaultMemoryLimit is the Go runtime's soft memory limit (see main).
const defaultMemoryLimit = 16 << 20

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `shisad — the shisa VPN gateway daemon

USAGE
  shisad [options]

OPTIONS
  -config FILE       site configuration (default /etc/shisa/site.yaml)
  -log-format FMT    text or json (default text; systemd's journal keeps both)
  -log-level LEVEL   debug, info, warn or error (default info)
  -version           print the version and exit

Normally started by systemd (shisad.service). Talk to it with shisactl.
The Go runtime's soft memory limit is 16 MiB unless GOMEMLIMIT is set.
Exit status: 0 after SIGTERM/SIGINT, 1 when it cannot run, 2 for a bad
configuration (run 'shisactl config check FILE' for the details).
`

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("shisad", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	cfgPath := fs.String("config", "/etc/shisa/site.yaml", "")
	logFormat := fs.String("log-format", "text", "")
	logLevel := fs.String("log-level", "info", "")
	showVersion := fs.Bool("version", false, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Println("shisad", version)
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "shisad: -log-level: %v\n", err)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, hopts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, hopts)
	default:
		fmt.Fprintf(os.Stderr, "shisad: -log-format: want text or json, got %q\n", *logFormat)
		return 2
	}
	log := slog.New(h)

	// The box is small. wireguard-go (tun backend) keeps a 64 KiB buffer
	// per packet in flight, so under a saturating load its pools grow the
	// heap without bound; a soft limit makes the collector return them.
	// GOMEMLIMIT in the environment overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}

	site, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shisad: refusing to start with an invalid configuration:\n%v\n", err)
		return 2
	}
	d, err := daemon.New(daemon.Options{Site: site, Version: version, Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("shisad running", "version", version, "site", site.Site, "unit", site.Unit, "socket", site.API.Socket)
	if err := d.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	log.Info("shisad stopped")
	return 0
}
