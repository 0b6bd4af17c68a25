package hal_test

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/shisa-gw/shisa/hal"
)

// A dry contact wired to a pull-up reads active when it pulls the line low.
func ExampleOpenInput() {
	pin := &gpiotest.Pin{N: "GPIO17", L: gpio.High, EdgesChan: make(chan gpio.Level, 1)}
	reg := hal.PinMap{"GPIO17": pin} // on the board: board.Open()
	onBatt, err := hal.OpenInput(reg, hal.Line{Name: "ups-onbatt", Pin: "GPIO17", ActiveLow: true, Debounce: 20 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("on battery:", onBatt.Active())
	pin.EdgesChan <- gpio.Low
	active, err := onBatt.WaitForEdge(context.Background())
	fmt.Println("on battery:", active, err)
	// Output:
	// on battery: false
	// on battery: true <nil>
}

func ExampleUPSState_Lost() {
	st := hal.Unknown("nut:ups@nas:3493")
	st.OnBattery, st.Status = true, "OB"
	fmt.Println(st.Lost("ERR DATA-STALE"))
	// Output:
	// nut:ups@nas:3493: OB LB STALE(ERR DATA-STALE)
}
