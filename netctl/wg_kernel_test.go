package netctl

import (
	"errors"
	"strings"
	"testing"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestKernelWireGuardAvailable(t *testing.T) {
	// Whatever the answer (false here, true on the boxes), asking must be
	// cheap and quiet; it is logged for whoever reads the test output.
	t.Logf("KernelWireGuardAvailable() = %v", KernelWireGuardAvailable())
}

func TestKernelWireGuardMissing(t *testing.T) {
	if KernelWireGuardAvailable() {
		t.Skip("this kernel has WireGuard; the missing-module path cannot be shown here")
	}
	w, err := OpenWireGuard(WireGuardOptions{Name: "wg-nokernel", Backend: BackendKernel})
	if !errors.Is(err, ErrNoKernelWireGuard) {
		t.Fatalf("OpenWireGuard(kernel) = %v, %v; want ErrNoKernelWireGuard", w, err)
	}
	if want := "kernel has no WireGuard support (try backend: tun)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// TestKernelWireGuard exercises the kernel backend where it exists (the
// boxes, CI with the module): create, configure, read, reuse, delete.
func TestKernelWireGuard(t *testing.T) {
	wgEnterNewNetns(t)
	if !KernelWireGuardAvailable() {
		t.Skip("kernel has no WireGuard module")
	}
	const name = "wg-ktest"
	w, err := OpenWireGuard(WireGuardOptions{Name: name, Backend: BackendKernel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if _, ok := w.(*KernelWireGuard); !ok {
		t.Fatalf("got %T", w)
	}
	priv := wgMustKey(t)
	if err := w.Configure(wgtypes.Config{PrivateKey: &priv}); err != nil {
		t.Fatal(err)
	}
	// A restart finds the link and keeps its configuration.
	again, err := OpenWireGuard(WireGuardOptions{Name: name, Backend: BackendKernel})
	if err != nil {
		t.Fatal(err)
	}
	d, err := again.Device()
	if err != nil || d.PublicKey != priv.PublicKey() {
		t.Fatalf("reused device: %v, %v", d, err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close of a deleted link: %v", err)
	}
}
