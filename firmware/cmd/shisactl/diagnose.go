package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
)

// manualDiagnose is this command's section of the manual (issue 5).
const manualDiagnose = `  diagnose [--lang ja|en] [--json]
      The first thing to run when the office cannot reach the datacenter.
      shisad walks the path in order (LAN port, WAN port, default route and
      its gateway, the tunnel, each datacenter endpoint, the keys, the
      clock) and says in one sentence which part is broken and what to
      check, with the evidence under it (✓ passed, ✗ failed, – not
      checked). Japanese unless --lang en; --json prints the whole
      diagnosis for programs. Exit status 0 when everything works, 1 when
      something is broken or shisad cannot be reached.

`

// diagnoser is what diagnose needs of the local API.
type diagnoser interface {
	Get(ctx context.Context, path string) ([]byte, error)
}

// errBroken makes the exit status 1 when a segment is broken; the
// sentence is already printed.
type errBroken struct{ seg selfcheck.Segment }

func (e errBroken) Error() string {
	return fmt.Sprintf("diagnose: the %s segment is broken (see above)", e.seg)
}

func cmdDiagnose(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	return runDiagnose(ctx, c, args, w)
}

func runDiagnose(ctx context.Context, c diagnoser, args []string, w io.Writer) error {
	fs := flags("diagnose")
	asJSON := fs.Bool("json", false, "")
	lang := fs.String("lang", "ja", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *lang != "ja" && *lang != "en" {
		return usageError{fmt.Sprintf("diagnose: --lang %q: want ja or en", *lang)}
	}
	body, err := c.Get(ctx, "/v1/diagnose")
	if err != nil {
		return fmt.Errorf("diagnose: %w", err)
	}
	var d selfcheck.Diagnosis
	if err := json.Unmarshal(body, &d); err != nil || d.Segment == "" {
		if err == nil {
			err = fmt.Errorf("no segment in the answer")
		}
		return fmt.Errorf("diagnose: shisad's answer is not what this shisactl understands (different versions?): %w", err)
	}
	if *asJSON {
		if err := printJSON(w, d); err != nil {
			return err
		}
	} else if err := d.WriteText(w, *lang); err != nil {
		return err
	}
	if !d.OK {
		return errBroken{d.Segment}
	}
	return nil
}
