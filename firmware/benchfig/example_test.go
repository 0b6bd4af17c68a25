package benchfig_test

import (
	"fmt"
	"os"

	"github.com/shisa-gw/shisa/firmware/benchfig"
)

func ExampleFromSamples() {
	trials := []float64{1.1, 0.9, 1.4, 1.0, 2.6} // seconds, one per failover
	f := benchfig.FromSamples("dc_failover_s", "s", trials, 3)
	fmt.Println(f.N, f.P50, f.P99, f.Max)
	benchfig.Table(os.Stdout, []benchfig.Figure{f})
	// Output:
	// 5 1.1 2.6 2.6
	// figure         unit  n  p50  p99  max  target  ok
	// dc_failover_s  s     5  1.1  2.6  2.6    <= 3  ✓
}
