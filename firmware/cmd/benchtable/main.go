// Command benchtable prints the benchmark figures in a directory as a
// table, sorted by figure name; `make bench` runs it last.
//
// Usage:
//
//	benchtable [--json] [DIR]
//
// DIR defaults to $SHISA_BENCH_OUT, else bench/out. Every *.json file in it
// must be one figure as written by package benchfig; a malformed file is
// named on stderr and the exit status is 1, after the good figures are
// printed. With --json the figures are printed as one JSON array instead.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shisa-gw/shisa/firmware/benchfig"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the figures as one JSON array")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: benchtable [--json] [DIR]\n\nDIR defaults to $%s, else %s.\n", benchfig.EnvDir, benchfig.DefaultDir)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	dir := benchfig.Dir()
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "benchtable: %s is not a directory of figures; run `make bench` first\n", dir)
		return 1
	}

	figs, readErr := benchfig.ReadDir(dir)
	out := bufio.NewWriter(stdout)
	if *asJSON {
		if figs == nil {
			figs = []benchfig.Figure{} // [] rather than null
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(figs); err != nil {
			fmt.Fprintf(stderr, "benchtable: %v\n", err)
			return 1
		}
	} else {
		benchfig.Table(out, figs)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "benchtable: writing the table: %v\n", err)
		return 1
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "benchtable: malformed figure files in %s (fix or delete them and rerun the benchmark that wrote them):\n", dir)
		for _, e := range unjoin(readErr) {
			fmt.Fprintf(stderr, "  %v\n", e)
		}
		return 1
	}
	if len(figs) == 0 {
		fmt.Fprintf(stderr, "benchtable: no figures in %s\n", dir)
	}
	return 0
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		return j.Unwrap()
	}
	return []error{err}
}
