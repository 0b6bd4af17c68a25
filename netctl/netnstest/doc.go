// Package netnstest is the network-namespace rig for shisa's root
// integration tests: it builds small topologies of named network
// namespaces joined by veth pairs and bridges, runs processes inside them
// and tears everything down when the test ends, passed, failed or
// panicked.
//
// A test asks for a [Rig]; the rig picks a unique prefix ("sh" and six
// hex digits) so that rigs of parallel tests and of parallel test binaries
// never meet. Namespaces are named "<prefix>-<name>" and are visible in
// `ip netns list`; link names are chosen by the test and live inside the
// namespaces, so they need no prefix (they must fit in 15 bytes).
//
//	r := netnstest.New(t)                 // skips unless root and not -short
//	site, dc := r.NS("site"), r.NS("dc")
//	r.Link(site, "wan0", dc, "wan0")
//	site.Addr("wan0", netip.MustParsePrefix("192.0.2.2/24"))
//	dc.Addr("wan0", netip.MustParsePrefix("192.0.2.1/24"))
//	if err := site.Ping(ctx, netip.MustParseAddr("192.0.2.1")); err != nil { … }
//
// Setup methods (NS, Link, Bridge, Addr, Route, …) stop the test with a
// message naming the step, namespace and link on failure, so they must be
// called from the test goroutine. Exec, Do, DialTCP, Listen and Ping return
// errors and may be called from any goroutine.
//
// # Teardown
//
// The rig registers one t.Cleanup that, in order: signals every process
// started with [NS.Start] (SIGTERM to its process group, SIGKILL after a
// grace period) and waits for it; kills any other process still inside
// the rig's namespaces; closes the netlink handles; deletes the namespaces
// (which removes their veths); and then checks that no namespace and no
// process is left, failing the test if one is. The output of every
// process is logged when the test failed.
//
// A test binary that is killed (timeout panic, SIGKILL) cannot clean up.
// Processes started with [NS.Start] die with it (parent-death signal),
// and each rig holds an flock on /run/shisa-netnstest/<prefix>.lock for
// its lifetime. [Sweep], run once per process by [New] and by [Main],
// deletes namespaces with the rig name pattern whose lock is free (the
// owner is dead), killing whatever still runs inside them. It never
// touches a namespace whose name does not match the pattern.
//
// # Namespaces and threads
//
// A network namespace belongs to an OS thread, not to a goroutine or a
// process. [NS.Do] runs a function on a locked thread switched into the
// namespace and switches it back; if switching back fails the thread stays
// locked and Go discards it when the goroutine ends. Goroutines started by
// that function run on other threads, in the test's own namespace; sockets
// opened inside Do stay in the namespace where they were created, so a
// connection dialled in Do can be used anywhere afterwards.
//
// # The datacenter peer
//
// Subpackage dcpeer is a small wireguard-go (TUN) WireGuard endpoint with
// a TCP sink and echo, standing in for the datacenter. [BuildBinary]
// builds it (or shisad) once per test binary, [Rig.StartDCPeer] runs it in
// a namespace and waits until it is ready, and [Sink] and [Echo] drive
// its services.
package netnstest
