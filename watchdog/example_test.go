package watchdog_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shisa-gw/shisa/watchdog"
	"github.com/shisa-gw/shisa/watchdog/watchdogtest"
)

// A job registers its check before it starts and reports from its own
// loop, where a hang in its work would stop the reports. The daemon stops
// the jobs first and the supervisor last.
func Example() {
	notify := watchdogtest.NewFakeNotifier(0) // the daemon leaves Notifier nil: systemd
	sup := watchdog.New(watchdog.Options{Notifier: notify, Interval: time.Hour})

	jobs, stopJobs := context.WithCancel(context.Background())
	check := sup.Register("tunnel", 30*time.Second)
	done := make(chan struct{})
	go func() { // the tunnel job
		defer close(done)
		defer check.Unregister() // ended on purpose: no longer watched
		probe := time.NewTicker(5 * time.Second)
		defer probe.Stop()
		for {
			select {
			case <-jobs.Done():
				return
			case <-probe.C:
				// … probe the endpoints, move routes: the job's work …
				check.Report() // the loop turned: the job is alive
			}
		}
	}()

	sup.Ready("spare, tunnel connecting")
	fmt.Printf("%q\n", <-notify.C)

	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- sup.Run(ctx) }()
	fmt.Printf("%q\n", <-notify.C) // every check fresh: pet

	stopJobs()
	<-done
	stop()
	fmt.Println("run:", <-ran)
	fmt.Printf("%q\n", <-notify.C)
	// Output:
	// "READY=1\nSTATUS=spare, tunnel connecting"
	// "WATCHDOG=1"
	// run: <nil>
	// "STOPPING=1"
}
