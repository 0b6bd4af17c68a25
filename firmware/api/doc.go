// Package api is shisad's local API: JSON over HTTP on a unix socket in
// /run/shisa/, used by shisactl. The socket's file mode (0660, owner root)
// is its access control: whoever may open it may ask the daemon anything.
// The package holds both the server's handlers and the client.
//
// Routes:
//
//	GET /v1/status                  unit, site, role, tunnel, recent events
//	GET /v1/events?since=N&limit=M  journal records after cursor N, oldest first
package api
