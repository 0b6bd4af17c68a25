// Package api is shisad's HTTP APIs, server handlers and client:
//
// The local API is JSON over HTTP on a unix socket in /run/shisa/, used by
// shisactl. The socket's file mode (0660, owner root) is its access
// control: whoever may open it may ask the daemon anything. Handler serves
// it, ListenUnix and Serve run it, Client talks to it.
//
//	GET /v1/status                  unit, site, role, tunnel, time sync, self-check, recent events
//	GET /v1/events?since=N&limit=M  journal records after cursor N, oldest first
//	GET /v1/report?month=YYYY-MM&format=json|csv|html&lang=ja|en
//	GET /v1/diagnose                where the path to the datacenter breaks
//
// The management API is what the datacenter polls: HTTP on the management
// address inside the tunnel (and health.also_listen), every request with a
// bearer token. ManagementHandler serves it and ServeManagement runs it.
//
//	GET /v1/status, /v1/events, /v1/report   as above
//	GET /v1/inventory                        serial, model, MACs, firmware, config hash
//	GET /metrics                             Prometheus text format
//
// Both serve the power routes (power.go; on the management API behind the
// token like the rest), with JSON bodies whose refusals are a 400 naming
// the field ({"error": "end: …", "field": "end"}) that change nothing:
//
//	GET    /v1/power                  power state, UPS, outages, last shutdown
//	GET    /v1/outages                planned windows and scheduled restarts
//	POST   /v1/outages                {"start", "end", "reason"}: plan one
//	DELETE /v1/outages/{id}           cancel one
//	POST   /v1/power/restart          {"at"}: restart now or at a time
//
// Both answer a malformed query, an unknown parameter or one given twice
// with a 400 whose "error" begins with the parameter's name.
package api
