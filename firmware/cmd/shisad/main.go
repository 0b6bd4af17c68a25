// Command shisad is the shisa daemon: it keeps the office's WireGuard tunnel
// to the datacenter up, fails over between datacenter endpoints, journals
// what happens and answers shisactl on a local unix socket.
//
// Usage:
//
//	shisad [-config /etc/shisa/site/site.yaml] [-state DIR] [-log-format text|json] ...
//
// With no site installed (the config file does not exist) it runs as a
// spare (package spare) until a site pack is activated, then starts the
// site; after `shisactl spare prepare` it goes back to being a spare.
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
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"

	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/daemon"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/spare"
	"github.com/shisa-gw/shisa/firmware/startguard"
	"github.com/shisa-gw/shisa/watchdog"
)

// The Go runtime's soft memory limit is the heap in use once the daemon has
// started plus memoryHeadroom, and at least minMemoryLimit (see main).
const (
	memoryHeadroom = 16 << 20
	minMemoryLimit = 16 << 20
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `shisad — the shisa VPN gateway daemon

USAGE
  shisad [options]

OPTIONS
  -config FILE       site configuration (default /etc/shisa/site/site.yaml).
                     Its directory is where a site pack is installed; when
                     FILE is named site.yaml and does not exist, shisad runs
                     as a spare until a pack is activated
  -state DIR         state directory: start counter, last good config, the
                     spare's identity; a spare's journal is DIR/journal
                     (default /var/lib/shisa)
  -trusted DIR       the datacenter's public keys (*.pub) that site packs
                     must be signed by (default /usr/share/shisa/trusted)
  -socket PATH       a spare's local API socket; a site's is api.socket
                     (default /run/shisa/shisad.sock)
  -box NAME          this box's own name (default: the host name)
  -leds P,T,F        LED class names (/sys/class/leds/NAME) of the power,
                     tunnel and fault LEDs, or none (default none)
  -button LINE       the technician button's GPIO line (active low), or
                     none (default none)
  -packs GLOBS       comma-separated globs where the button looks for a
                     site pack (default /media/*/*.shisapack,/media/*.shisapack)
  -log-format FMT    text or json (default text; systemd's journal keeps both)
  -log-level LEVEL   debug, info, warn or error (default info)
  -version           print the version and exit

Normally started by systemd (shisad.service). Talk to it with shisactl.
The Go runtime's soft memory limit is the heap in use once started plus
16 MiB (at least 16 MiB) unless GOMEMLIMIT is set, and
it uses one processor (GOMAXPROCS=1) unless GOMAXPROCS is set.
Exit status: 0 after SIGTERM/SIGINT, 1 when it cannot run, 2 for a bad
configuration (run 'shisactl config check FILE' for the details).
`

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("shisad", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	cfgPath := fs.String("config", "/etc/shisa/site/site.yaml", "")
	stateDir := fs.String("state", "/var/lib/shisa", "")
	trusted := fs.String("trusted", "/usr/share/shisa/trusted", "")
	socket := fs.String("socket", "/run/shisa/shisad.sock", "")
	box := fs.String("box", "", "")
	leds := fs.String("leds", "none", "")
	button := fs.String("button", "none", "")
	packs := fs.String("packs", "/media/*/*.shisapack,/media/*.shisapack", "")
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

	// One P: shisad's work is a few small tasks, and with more Ps every
	// hand-off between its goroutines (and wireguard-go's) wakes another
	// thread. Measured (make bench, tun backend): idle CPU 1.7% → 0.7% of a
	// core, wakeups 145/s → 65/s, and saturating throughput 300–470 →
	// 537 Mbit/s on a 2-core machine. GOMAXPROCS overrides it.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}

	if *box == "" {
		*box = config.HostName()
	}
	b, err := openBoard(*leds, *button)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shisad: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	limitSet := false
	activated := false
	// One notifier for every round: STOPPING=1 reaches systemd only when
	// shisad really stops, not when it turns from spare to site or back.
	notify := handoverNotifier{ctx: ctx, inner: watchdog.SystemdNotifier{}}
	if old := previousLayout(*cfgPath); old != "" {
		fmt.Fprintf(os.Stderr, "shisad: %s is a site config of the previous layout and %s does not exist: move the config and its keys into %s (README: Upgrading), or start shisad with -config %s\n",
			old, *cfgPath, filepath.Dir(*cfgPath), old)
		return 2
	}
	for {
		if spareMode(*cfgPath) {
			log.Info("no site installed: running as a spare", "config", *cfgPath, "box", *box, "socket", *socket)
			act, err := spare.Run(ctx, spare.Options{
				SiteDir: filepath.Dir(*cfgPath), StateDir: *stateDir, TrustedDir: *trusted,
				Socket: *socket, Box: *box, Version: version, Logger: log,
				Firmware: inventory.Read(inventory.Options{Version: version}).Firmware,
				LEDs:     b.leds, Button: b.button, PackGlobs: splitList(*packs), Notifier: notify,
			})
			if err != nil {
				log.Error("the spare stopped with an error", "err", err)
				return 1
			}
			if act == nil {
				log.Info("shisad stopped")
				return 0
			}
			log.Info("site pack activated: starting the site", "site", act.Site, "serial", act.Serial)
			activated = true
			continue
		}
		site, guard, safe, base, code := load(*cfgPath, *stateDir, log)
		if site == nil {
			return code
		}
		d, err := daemon.New(daemon.Options{Site: site, Version: version, Logger: log, Guard: guard, SafeMode: safe, BaseDir: base,
			Box: *box, Activated: activated, LEDs: b.leds, StateDir: *stateDir, TrustedDir: *trusted,
			SiteDir: filepath.Dir(*cfgPath), Notifier: notify})
		if err != nil {
			log.Error("cannot start", "err", err)
			return 1
		}
		activated = false
		// The box is small. wireguard-go (tun backend) keeps a 64 KiB buffer
		// per packet in flight, so under a saturating load its pools grow the
		// heap without bound; a soft limit makes the collector return them.
		// The limit sits a fixed headroom above the heap the started daemon
		// holds (about 26 MB with the tun backend, mostly wireguard-go's batch
		// buffers, most of it never touched and so not resident): a limit
		// below that heap would make the collector run at every allocation
		// (measured: 30% of a core for a hot-standby unit with a fixed 16 MiB
		// limit, 4% with this one). GOMEMLIMIT in the environment overrides it.
		if os.Getenv("GOMEMLIMIT") == "" && !limitSet {
			limit := memoryLimit()
			debug.SetMemoryLimit(limit)
			limitSet = true
			log.Debug("soft memory limit", "bytes", limit)
		}
		log.Info("shisad running", "version", version, "site", site.Site, "unit", site.Unit, "socket", site.API.Socket)
		err = d.Run(ctx)
		if errors.Is(err, daemon.ErrBecameSpare) {
			log.Info("the site was removed (spare prepare): going on as a spare")
			continue
		}
		if err != nil {
			log.Error("stopped with an error", "err", err)
			return 1
		}
		break
	}
	log.Info("shisad stopped")
	return 0
}

// load counts this start (before anything can fail, so that every failure
// counts) and reads the configuration: normally cfgPath; in safe mode,
// after too many failed starts, the last configuration that ran healthy.
// It returns a nil site and the exit code when the daemon must not start.
func load(cfgPath, stateDir string, log *slog.Logger) (*config.Site, *startguard.Guard, string, string, int) {
	// Read the crash-loop limits from the config if it is readable; a
	// config too broken to read counts with the defaults.
	var opts startguard.Options
	site, cfgErr := config.Load(cfgPath)
	if cfgErr == nil {
		opts.Limit = site.Watchdog.SafeModeAfter
		opts.Window = site.Watchdog.SafeModeWindow.D()
	}
	opts.Dir = stateDir
	guard, dec, err := startguard.Begin(opts)
	if err == nil && dec.Reset {
		log.Warn("the start counter could not be read; counting afresh", "dir", stateDir)
	}
	if err != nil {
		// Without the counter the box still runs; it only loses the
		// crash-loop safety.
		log.Error("cannot count starts; crash-loop safety is off", "err", err)
	}
	if !dec.SafeMode {
		if cfgErr != nil {
			fmt.Fprintf(os.Stderr, "shisad: refusing to start with an invalid configuration:\n%v\n", cfgErr)
			return nil, nil, "", "", 2
		}
		return site, guard, "", filepath.Dir(cfgPath), 0
	}
	log.Error("SAFE MODE", "reason", dec.Reason, "last_good_config", dec.LastGoodConfig)
	if dec.LastGoodConfig != "" {
		good, err := config.Options{BaseDir: dec.LastGoodDir}.Load(dec.LastGoodConfig)
		if err == nil {
			return good, guard, dec.Reason, dec.LastGoodDir, 0
		}
		log.Error("the last good config does not load either", "err", err)
	}
	if cfgErr != nil {
		fmt.Fprintf(os.Stderr, "shisad: safe mode, but no configuration loads:\n%v\n", cfgErr)
		return nil, nil, "", "", 2
	}
	return site, guard, dec.Reason + " (no last good config: running the current one)", filepath.Dir(cfgPath), 0
}

// memoryLimit is the live heap now (after a collection) plus
// memoryHeadroom, at least minMemoryLimit.
func memoryLimit() int64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	live := int64(0)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		live = int64(sample[0].Value.Uint64())
	}
	return max(minMemoryLimit, live+memoryHeadroom)
}
