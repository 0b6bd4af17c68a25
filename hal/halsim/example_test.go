package halsim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
)

// The simulated board drives hal's contact UPS as a real one would.
func Example() {
	b := halsim.NewBoard()
	ups, _ := hal.NewContacts(hal.ContactsConfig{
		OnBattery:  b.Line("ups-onbatt"),
		LowBattery: b.Line("ups-lowbatt"),
		Kill:       b.Line("ups-kill"),
		KillPulse:  10 * time.Millisecond,
	})
	defer ups.Close()

	b.Set("ups-onbatt", true)
	fmt.Println((<-ups.Events()).Status)
	b.Set("ups-lowbatt", true)
	fmt.Println((<-ups.Events()).Status)
	_ = ups.ArmReturn(context.Background(), 20*time.Second, 30*time.Second)
	fmt.Print(b.LogText())
	// Output:
	// OB
	// OB LB
	// set ups-onbatt active
	// set ups-lowbatt active
	// pulse ups-kill 10ms
}
