package watchdog

import "os"

// NewOSFile exposes the real DeviceFile for tests of the ioctl ABI.
func NewOSFile(f *os.File) DeviceFile { return osFile{f} }
