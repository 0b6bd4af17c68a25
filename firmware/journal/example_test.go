package journal_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/shisa-gw/shisa/firmware/journal"
)

func Example() {
	dir, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	clock := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	j, err := journal.Open(dir, journal.Options{Now: func() time.Time { return clock }})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	j.Append("tunnel.up", "Tunnel to dc1 is up.", map[string]any{"endpoint": "dc1"})
	clock = clock.Add(90 * time.Second)
	j.Append("tunnel.failover", "dc1 stopped answering; switched to dc2.", map[string]any{"from": "dc1", "to": "dc2"})

	// The datacenter asks for everything after its cursor.
	recs, next, err := j.Since(0, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(r.Seq, r.Time.Format(time.RFC3339), r.Kind, r.Msg)
	}
	fmt.Println("next cursor:", next)
	// Output:
	// 1 2026-03-01T09:00:00Z tunnel.up Tunnel to dc1 is up.
	// 2 2026-03-01T09:01:30Z tunnel.failover dc1 stopped answering; switched to dc2.
	// next cursor: 2
}
