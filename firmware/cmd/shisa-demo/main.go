// Command shisa-demo plays a scripted day of one shisa site on this machine,
// rootless: a simulated datacenter with two endpoints, a real shisad on
// wireguard-go's userspace netstack, an endpoint that dies, flaps and
// returns; then a planned and an unplanned power outage on the simulated
// board. It prints a timeline with the measured times. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/shisa-gw/shisa/firmware/demo"
)

func main() {
	hold := flag.Duration("hold-down", 10*time.Second, "failback hold-down for the demo (a real site uses 60s)")
	verbose := flag.Bool("v", false, "also print shisad's own log")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: shisa-demo [-hold-down 10s] [-v]\n\nPlays one site's day rootless: tunnel up, traffic, datacenter endpoint 1 dies,\nfailover, endpoint 1 flaps and returns, failback after the hold-down; then a\nplanned power outage and an unplanned one on the simulated board; then a\nshelf spare activated with the button and checked (動作確認).\n")
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := demo.Options{HoldDown: *hold, Out: os.Stdout}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	fmt.Println("shisa demo — one office site, two datacenter endpoints, all in this process (no root)")
	if _, err := demo.Run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
	fmt.Println("\npower — a planned outage and an unplanned one on the simulated board (UPS and power controller)")
	if _, err := demo.RunPower(ctx, demo.PowerOptions{Out: os.Stdout, Logger: opts.Logger}); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
	fmt.Println("\nspare — a box from the shelf becomes the site's box: USB stick, button held 5 s, 動作確認")
	if _, err := demo.RunSpare(ctx, demo.SpareOptions{Out: os.Stdout, Logger: opts.Logger}); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}
