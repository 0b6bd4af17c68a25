package hygiene

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"
)

// is32bit reports whether GOARCH has 4-byte pointers, where the Go runtime
// requires 64-bit atomic operands to be 8-byte aligned and checks it.
func is32bit() bool {
	switch runtime.GOARCH {
	case "386", "arm", "mips", "mipsle":
		return true
	}
	return false
}

// TestArch proves which architecture the tests run on: `make test` runs
// this package under qemu-aarch64-static and qemu-arm-static too, and the
// log says so (go test -v).
func TestArch(t *testing.T) {
	goarm := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				goarm = " GOARM=" + s.Value
			}
		}
	}
	t.Logf("running on GOOS=%s GOARCH=%s%s, pointer size %d", runtime.GOOS, runtime.GOARCH, goarm, unsafe.Sizeof(uintptr(0)))
	want := uintptr(8)
	if is32bit() {
		want = 4
	}
	if got := unsafe.Sizeof(uintptr(0)); got != want {
		t.Errorf("GOARCH=%s has %d-byte pointers, want %d", runtime.GOARCH, got, want)
	}
	if runtime.GOARCH == "arm" {
		// A uint64 after a uint32 sits at offset 4 on 32-bit ARM: this is
		// the layout that makes a plain uint64 field unsafe for atomics.
		var s struct {
			a uint32
			b uint64
		}
		if off := unsafe.Offsetof(s.b); off != 4 {
			t.Errorf("on arm, uint64 after uint32 is at offset %d, want 4", off)
		}
	}
}

// misaligned returns a *uint64 whose address is 4 mod 8, carved out of a
// buffer, so the test does not depend on where the allocator puts a struct.
func misaligned() *uint64 {
	buf := make([]uint32, 4) // 16 bytes, at least 4-aligned
	for i := range buf[:2] {
		p := unsafe.Pointer(&buf[i])
		if uintptr(p)%8 == 4 {
			return (*uint64)(p)
		}
	}
	panic("no 4-mod-8 address in a 16-byte buffer")
}

// TestUnaligned64BitAtomicPanics demonstrates the fault the ARM stage of
// `make test` exists to catch: on 32-bit ARM, sync/atomic's 64-bit
// functions on an address that is not 8-byte aligned panic with
// "unaligned 64-bit atomic operation" (the runtime checks it on 386, arm
// and mips), while on arm64 and amd64 they work. A counter declared as a
// plain uint64 field after a 32-bit one is exactly such an address; the fix
// is atomic.Uint64 / atomic.Int64, which the compiler aligns.
//
// If this test ever passes on GOARCH=arm without the panic, the ARM stage is
// not running what it claims to.
func TestUnaligned64BitAtomicPanics(t *testing.T) {
	if !is32bit() {
		t.Skipf("GOARCH=%s is 64-bit: unaligned 64-bit atomics do not panic here; this runs in the armv7 stage of make test", runtime.GOARCH)
	}
	p := misaligned()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("atomic.AddUint64 on an address 4 mod 8 did not panic on 32-bit: the check this stage relies on is gone")
		}
		msg := ""
		if e, ok := r.(error); ok {
			msg = e.Error()
		} else {
			msg, _ = r.(string)
		}
		if !strings.Contains(msg, "unaligned 64-bit atomic operation") {
			t.Fatalf("panic %q, want one about an unaligned 64-bit atomic operation", msg)
		}
		t.Logf("caught as expected on GOARCH=%s: %s", runtime.GOARCH, msg)
	}()
	atomic.AddUint64(p, 1)
}

// TestAlignedAtomicTypes shows the fix: atomic.Uint64 after a uint32 is
// aligned on every architecture, so the same operation is fine.
func TestAlignedAtomicTypes(t *testing.T) {
	var s struct {
		flag uint32
		n    atomic.Uint64
	}
	if off := unsafe.Offsetof(s.n); off%8 != 0 {
		t.Errorf("atomic.Uint64 at offset %d, want a multiple of 8", off)
	}
	s.n.Add(1)
	if s.n.Load() != 1 {
		t.Error("atomic.Uint64.Add(1) did not count")
	}
}
