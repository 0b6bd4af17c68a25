package nut_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/nut"
	"github.com/shisa-gw/shisa/hal/nut/nuttest"
)

func ExampleDial() {
	srv, _ := nuttest.NewServer() // a real upsd: "nas.office:3493"
	defer srv.Close()
	srv.Set("ups.status", "OB DISCHRG LB")
	srv.Cmds = []string{"load.off"}

	ctx := context.Background()
	c, err := nut.Dial(ctx, srv.Addr(), nut.Options{UPS: "ups", User: "shisa", Password: "secret"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	st, _ := c.State(ctx)
	fmt.Println(st.OnBattery, st.LowBattery, st.ChargePct)
	err = c.ArmReturn(ctx, 20e9, 30e9)
	fmt.Println(errors.Is(err, hal.ErrArmUnsupported))
	// Output:
	// true true 100
	// true
}
