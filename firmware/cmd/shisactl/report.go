package main

import (
	"context"
	"errors"
	"io"

	"github.com/shisa-gw/shisa/firmware/api"
)

// manualReport is this command's section of the manual (issue 5).
const manualReport = ""

func cmdReport(ctx context.Context, c *api.Client, args []string, w io.Writer) error {
	return errors.New("report: not built yet (issue 5)")
}
