// Package image handles firmware bundles: building, signing and verifying
// them, installing one into the inactive slot, boot counting, marking a
// boot good, and rolling back to the previous slot.
//
// Writing to the inactive slot cannot break the running system: the bundle
// is hashed while it streams, synced before it is closed, and the fallback
// is set before the switch. image never imports firmware.
package image
