// Package inventory says what a box is: its serial number, model and board,
// the MAC addresses of its WAN and LAN ports, the firmware and the slot it
// booted from, the kernel, and the hash of the site configuration it runs.
// The datacenter reads it through the management API (GET /v1/inventory) to
// keep its asset list true without anyone opening the cabinet.
//
// Everything is read best-effort: a field that cannot be known is empty,
// and what failed unexpectedly is listed in Problems (never fatal: an
// inventory with a gap is still worth answering). Files are read through an
// fs.FS rooted at "/" so tests give a fake tree.
//
// Where each field comes from, first found wins:
//
//	Serial  /sys/firmware/devicetree/base/serial-number (ARM boards),
//	        /sys/class/dmi/id/product_serial (x86 dev boxes),
//	        /etc/machine-id (last resort; SerialSource says which)
//	Model   /proc/device-tree/model, /sys/class/dmi/id/product_name
//	Board   /sys/class/dmi/id/board_name, the first entry of
//	        /proc/device-tree/compatible
//	MACs    net.InterfaceByName of the WAN and LAN interfaces
//	Kernel  uname(2): release and machine
package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// SlotUnknown is Firmware.Slot until the box boots from A/B image slots.
const SlotUnknown = "unknown"

// Inventory is the answer to GET /v1/inventory.
type Inventory struct {
	Serial string `json:"serial"`
	// SerialSource is where Serial came from: "devicetree", "dmi" or
	// "machine-id" (not a hardware serial: the label on the box differs).
	SerialSource string `json:"serial_source,omitempty"`
	Model        string `json:"model"`
	Board        string `json:"board"`
	// MACs maps a port's role ("wan", "lan") to its hardware address.
	MACs         map[string]string `json:"macs"`
	Firmware     Firmware          `json:"firmware"`
	Kernel       string            `json:"kernel"`
	Arch         string            `json:"arch"`
	ConfigSHA256 string            `json:"config_sha256"`
	Hostname     string            `json:"hostname"`
	// Problems lists what could not be read, for the technician.
	Problems []string `json:"problems,omitempty"`
}

// Firmware is the running firmware.
type Firmware struct {
	Version string `json:"version"`
	// Slot is the image slot booted from ("a", "b"), or SlotUnknown.
	Slot string `json:"slot"`
}

// Options says where to look. Zero values read the running system.
type Options struct {
	// Root is the file system serial numbers, models and the
	// configuration are read from; nil means the real one (os.DirFS("/")).
	Root fs.FS
	// Interfaces maps a port's role to its interface name, such as
	// {"wan": "wan0", "lan": "lan0"}.
	Interfaces map[string]string
	// Version of the firmware (shisad's build version).
	Version string
	// Slot booted from; "" means SlotUnknown.
	Slot string
	// ConfigPath is the site configuration whose SHA-256 is reported, an
	// absolute path, read through Root. "" leaves ConfigSHA256 empty.
	ConfigPath string

	// Seams for tests; nil means the real system call.
	InterfaceByName func(name string) (*net.Interface, error)
	Uname           func(*unix.Utsname) error
	Hostname        func() (string, error)
}

// Read gathers the inventory. It never fails; see Inventory.Problems.
func Read(o Options) Inventory {
	if o.Root == nil {
		o.Root = os.DirFS("/")
	}
	if o.InterfaceByName == nil {
		o.InterfaceByName = net.InterfaceByName
	}
	if o.Uname == nil {
		o.Uname = unix.Uname
	}
	if o.Hostname == nil {
		o.Hostname = os.Hostname
	}
	r := reader{root: o.Root}
	inv := Inventory{
		MACs:     map[string]string{},
		Firmware: Firmware{Version: o.Version, Slot: o.Slot},
	}
	if inv.Firmware.Slot == "" {
		inv.Firmware.Slot = SlotUnknown
	}

	for _, c := range []struct{ file, source string }{
		{"sys/firmware/devicetree/base/serial-number", "devicetree"},
		{"sys/class/dmi/id/product_serial", "dmi"},
		{"etc/machine-id", "machine-id"},
	} {
		if v := r.value(c.file); v != "" {
			inv.Serial, inv.SerialSource = v, c.source
			break
		}
	}
	inv.Model = r.first("proc/device-tree/model", "sys/firmware/devicetree/base/model", "sys/class/dmi/id/product_name")
	inv.Board = r.value("sys/class/dmi/id/board_name")
	if inv.Board == "" {
		// "raspberrypi,4-model-b\0brcm,bcm2711\0": the most specific first.
		if b := r.raw("proc/device-tree/compatible"); len(b) > 0 {
			first, _, _ := bytes.Cut(b, []byte{0})
			inv.Board = strings.TrimSpace(string(first))
		}
	}

	roles := make([]string, 0, len(o.Interfaces))
	for role := range o.Interfaces {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		name := o.Interfaces[role]
		ifi, err := o.InterfaceByName(name)
		switch {
		case err != nil:
			r.problem("%s port %s: %v", role, name, err)
		case len(ifi.HardwareAddr) == 0:
			r.problem("%s port %s has no hardware address", role, name)
		default:
			inv.MACs[role] = ifi.HardwareAddr.String()
		}
	}

	var u unix.Utsname
	if err := o.Uname(&u); err != nil {
		r.problem("uname: %v", err)
	} else {
		inv.Kernel = unix.ByteSliceToString(u.Release[:])
		inv.Arch = unix.ByteSliceToString(u.Machine[:])
	}
	if h, err := o.Hostname(); err != nil {
		r.problem("hostname: %v", err)
	} else {
		inv.Hostname = h
	}

	if o.ConfigPath != "" {
		p := o.ConfigPath
		if !filepath.IsAbs(p) {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
		}
		b, err := fs.ReadFile(o.Root, strings.TrimPrefix(path.Clean(filepath.ToSlash(p)), "/"))
		if err != nil {
			r.problem("config %s: %v", o.ConfigPath, err)
		} else {
			sum := sha256.Sum256(b)
			inv.ConfigSHA256 = hex.EncodeToString(sum[:])
		}
	}
	inv.Problems = r.problems
	return inv
}

type reader struct {
	root     fs.FS
	problems []string
}

func (r *reader) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// raw reads name; a file that does not exist is not a problem (most
// boards have only some of them), one that cannot be read is.
func (r *reader) raw(name string) []byte {
	b, err := fs.ReadFile(r.root, name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.problem("/%s: %v", name, err)
		}
		return nil
	}
	return b
}

// value is the file's text without NULs (device tree strings end with one)
// and surrounding space. Placeholders that firmware writes for "unset"
// count as empty.
func (r *reader) value(name string) string {
	v := strings.TrimSpace(strings.ReplaceAll(string(r.raw(name)), "\x00", ""))
	switch strings.ToLower(v) {
	case "", "to be filled by o.e.m.", "default string", "not specified", "none", "0":
		return ""
	}
	return v
}

func (r *reader) first(names ...string) string {
	for _, n := range names {
		if v := r.value(n); v != "" {
			return v
		}
	}
	return ""
}
