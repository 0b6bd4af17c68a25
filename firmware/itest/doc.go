// Package itest holds shisa's integration tests and namespace benchmarks:
// the real shisad binary on the TUN backend in a unit namespace, routing
// an office host namespace through a WireGuard tunnel to two datacenter
// namespaces (each a dcpeer with the same cloud service address behind
// it), with a WAN router namespace between them.
//
//	office ── lan0 unit wan0 ── wan ──┬── dc1 (dcpeer, 10.99.0.1, 10.20.0.10)
//	192.168.10.10    shisad    router └── dc2 (dcpeer, 10.99.0.2, 10.20.0.10)
//
// The package has tests only. They need root and skip in -short mode;
// the TestBench… functions run only when SHISA_BENCH_OUT is set (make
// bench) and write one figure each with package benchfig.
//
// # Path MTU
//
// The office host has MTU 1500 and the tunnel 1420. The cloud service's
// host (dcpeer here) has MTU 1500 too, as a server on the datacenter's
// Ethernet would, so it advertises an MSS of 1460 and the office sends
// full 1500-byte segments with DF set. The unit's kernel cannot forward
// them into the 1420-byte tunnel and answers ICMP "fragmentation needed"
// (type 3 code 4, MTU 1420); the office host caches the path MTU (`ip
// route get` shows "mtu 1420") and resends smaller segments. The unit
// does not clamp the MSS: path MTU discovery alone carries the transfer,
// and TestTunnelFailoverInNamespaces checks that it does (the cached MTU
// and the unit's ICMP counters).
package itest
