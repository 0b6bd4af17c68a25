package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/fleet"
)

// manualFleet is this command's section of the manual (issue 5).
const manualFleet = `  fleet status --targets FILE --token-file FILE [--timeout 2s]
               [--concurrency 64] [--state FILE] [--json]
      For the datacenter: ask every box in FILE for its status over the
      management API, all at once (at most --concurrency at a time, each
      within --timeout), and print one row per box, worst first:
      unreachable, tunnel down, safe mode, stuck job, time offset,
      self-check failed, on battery, then the healthy ones. FILE has one
      box per line, "NAME URL" (hamamatsu-honcho http://10.99.1.2:8080);
      # starts a comment. The token file (mode 0600) holds the bearer token
      sent to every box. With --state FILE (JSON, kept between polls) the
      datacenter remembers which box answers for each target and marks a
      box RETIRED when a spare takes its place: the spare's site pack came
      from it, or another box answers for its target. Exit status 1 when
      any box is not healthy.
`

func cmdFleet(ctx context.Context, args []string, w io.Writer) error {
	if len(args) < 1 || args[0] != "status" {
		return usageError{"usage: shisactl fleet status --targets FILE --token-file FILE [--timeout 2s] [--concurrency 64] [--json]"}
	}
	fs := flags("fleet status")
	targetsFile := fs.String("targets", "", "")
	tokenFile := fs.String("token-file", "", "")
	timeout := fs.Duration("timeout", 2*time.Second, "")
	concurrency := fs.Int("concurrency", 64, "")
	asJSON := fs.Bool("json", false, "")
	stateFile := fs.String("state", "", "")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case *targetsFile == "":
		return usageError{"fleet status: --targets FILE is required (one box per line: NAME URL)"}
	case *tokenFile == "":
		return usageError{"fleet status: --token-file FILE is required (the management API's bearer token)"}
	case *timeout <= 0 || *timeout > time.Minute:
		return usageError{fmt.Sprintf("fleet status: --timeout %v is out of range (want more than 0, at most 1m)", *timeout)}
	case *concurrency < 1 || *concurrency > 1024:
		return usageError{fmt.Sprintf("fleet status: --concurrency %d is out of range (want 1 to 1024)", *concurrency)}
	}
	f, err := os.Open(*targetsFile)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	targets, err := fleet.ParseTargets(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("fleet: %s: %w", *targetsFile, err)
	}
	if len(targets) == 0 {
		return fmt.Errorf("fleet: %s lists no boxes", *targetsFile)
	}
	token, err := api.ReadTokenFile(*tokenFile)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}

	var boxes *fleet.Boxes
	if *stateFile != "" {
		if boxes, err = readFleetState(*stateFile); err != nil {
			return fmt.Errorf("fleet: %w", err)
		}
	}
	rs := fleet.Poll(ctx, targets, fleet.Options{Token: token, Timeout: *timeout, Concurrency: *concurrency})
	if *asJSON {
		err = printJSON(w, rs)
	} else {
		err = fleet.WriteTable(w, rs)
	}
	if err != nil {
		return err
	}
	if boxes != nil {
		retired := boxes.Update(rs, time.Now())
		b, err := json.MarshalIndent(boxes, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*stateFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("fleet: saving %s: %w", *stateFile, err)
		}
		out := w
		if *asJSON {
			out = os.Stderr
		}
		if err := fleet.WriteRetired(out, retired); err != nil {
			return err
		}
	}
	bad := 0
	for _, r := range rs {
		if r.Class != fleet.Healthy {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("fleet: %d of %d boxes need attention", bad, len(rs))
	}
	return nil
}

// readFleetState reads --state FILE; a missing file is an empty state.
func readFleetState(path string) (*fleet.Boxes, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &fleet.Boxes{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return fleet.ReadBoxes(f)
}
