package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func fakeIfaces(name string) (*net.Interface, error) {
	switch name {
	case "wan0":
		return &net.Interface{Name: name, HardwareAddr: net.HardwareAddr{0xdc, 0xa6, 0x32, 0, 0, 1}}, nil
	case "lan0":
		return &net.Interface{Name: name, HardwareAddr: net.HardwareAddr{0xdc, 0xa6, 0x32, 0, 0, 2}}, nil
	case "wg0":
		return &net.Interface{Name: name}, nil
	}
	return nil, errors.New("no such network interface")
}

func fakeUname(u *unix.Utsname) error {
	copy(u.Release[:], "6.1.0-18-arm64")
	copy(u.Machine[:], "aarch64")
	return nil
}

func opts(root fstest.MapFS) Options {
	return Options{
		Root:            root,
		Interfaces:      map[string]string{"wan": "wan0", "lan": "lan0"},
		Version:         "v1.2.3",
		ConfigPath:      "/etc/shisa/site.yaml",
		InterfaceByName: fakeIfaces,
		Uname:           fakeUname,
		Hostname:        func() (string, error) { return "hamamatsu-honcho-a", nil },
	}
}

func TestReadDeviceTreeBoard(t *testing.T) {
	cfg := []byte("site: hamamatsu-honcho\n")
	root := fstest.MapFS{
		"sys/firmware/devicetree/base/serial-number": {Data: []byte("10000000a1b2c3d4\x00")},
		"proc/device-tree/model":                     {Data: []byte("Raspberry Pi 4 Model B Rev 1.5\x00")},
		"proc/device-tree/compatible":                {Data: []byte("raspberrypi,4-model-b\x00brcm,bcm2711\x00")},
		"etc/machine-id":                             {Data: []byte("0123456789abcdef0123456789abcdef\n")},
		"etc/shisa/site.yaml":                        {Data: cfg},
	}
	sum := sha256.Sum256(cfg)
	got := Read(opts(root))
	assert.Equal(t, Inventory{
		Serial: "10000000a1b2c3d4", SerialSource: "devicetree",
		Model: "Raspberry Pi 4 Model B Rev 1.5", Board: "raspberrypi,4-model-b",
		MACs:     map[string]string{"wan": "dc:a6:32:00:00:01", "lan": "dc:a6:32:00:00:02"},
		Firmware: Firmware{Version: "v1.2.3", Slot: SlotUnknown},
		Kernel:   "6.1.0-18-arm64", Arch: "aarch64",
		ConfigSHA256: hex.EncodeToString(sum[:]),
		Hostname:     "hamamatsu-honcho-a",
	}, got)
}

func TestReadDMIAndFallbacks(t *testing.T) {
	root := fstest.MapFS{
		"sys/class/dmi/id/product_serial": {Data: []byte("To be filled by O.E.M.\n")},
		"sys/class/dmi/id/product_name":   {Data: []byte("NUC8i5BEH\n")},
		"sys/class/dmi/id/board_name":     {Data: []byte("NUC8BEB\n")},
		"etc/machine-id":                  {Data: []byte("0123456789abcdef0123456789abcdef\n")},
	}
	o := opts(root)
	o.Interfaces = map[string]string{"wan": "eth9", "lan": "wg0"}
	o.Slot = "b"
	got := Read(o)
	assert.Equal(t, "0123456789abcdef0123456789abcdef", got.Serial, "an OEM placeholder is no serial")
	assert.Equal(t, "machine-id", got.SerialSource)
	assert.Equal(t, "NUC8i5BEH", got.Model)
	assert.Equal(t, "NUC8BEB", got.Board)
	assert.Equal(t, "b", got.Firmware.Slot)
	assert.Empty(t, got.MACs)
	assert.Empty(t, got.ConfigSHA256)
	assert.Equal(t, []string{
		"lan port wg0 has no hardware address",
		"wan port eth9: no such network interface",
		"config /etc/shisa/site.yaml: open etc/shisa/site.yaml: file does not exist",
	}, got.Problems)
}

func TestReadEmptyTree(t *testing.T) {
	o := opts(fstest.MapFS{})
	o.ConfigPath = ""
	o.Uname = func(*unix.Utsname) error { return errors.New("no uname") }
	got := Read(o)
	assert.Empty(t, got.Serial)
	assert.Empty(t, got.Model)
	assert.Empty(t, got.Board)
	assert.Equal(t, []string{"uname: no uname"}, got.Problems, "absent files are not problems")
}

func TestReadRealSystem(t *testing.T) {
	got := Read(Options{Version: "dev"})
	assert.NotEmpty(t, got.Kernel)
	assert.NotEmpty(t, got.Hostname)
	assert.Equal(t, SlotUnknown, got.Firmware.Slot)
	t.Logf("%+v", got)
}
