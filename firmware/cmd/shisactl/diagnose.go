package main

import (
	"context"
	"errors"
	"io"

	"github.com/shisa-gw/shisa/firmware/api"
)

// manualDiagnose is this command's section of the manual (issue 5).
const manualDiagnose = ""

func cmdDiagnose(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	return errors.New("diagnose: not built yet (issue 5)")
}
