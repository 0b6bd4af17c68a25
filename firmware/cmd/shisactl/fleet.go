package main

import (
	"context"
	"errors"
	"io"
)

// manualFleet is this command's section of the manual (issue 5).
const manualFleet = ""

func cmdFleet(ctx context.Context, args []string, w io.Writer) error {
	return errors.New("fleet: not built yet (issue 5)")
}
