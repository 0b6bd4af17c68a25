// Package config reads, defaults and validates the site configuration
// (/etc/shisa/site.yaml).
//
// Decoding is strict: an unknown key, a missing required key, a value of
// the wrong kind or a bad address is an error that names the file, the line
// and the field, and the daemon refuses to start rather than guess. All
// problems found in one file are reported together.
//
// # Use
//
//	site, err := config.Load("/etc/shisa/site.yaml")
//	// err, if not nil, is a *config.Error: one Problem a line, such as
//	// site.yaml:14: tunnel.endpoints[1].public_key: not a WireGuard key (want 44 base64 characters)
//	key, err := site.PrivateKey()          // the site's WireGuard identity
//	for _, e := range site.Tunnel.Endpoints {
//		_ = e.Key()                         // already parsed, cannot fail
//	}
//	shared := site.SharedKey()             // one datacenter device, or several
//	fmt.Print(site.Summary())              // for shisactl config check
//
// Options changes two things for tools and tests: SkipFileChecks leaves
// out reading the private key file, and Hostname replaces os.Hostname for
// the default unit name.
//
// # How it works
//
// The file is parsed into a yaml.Node tree (one document only) and walked
// against Site by reflection, using the yaml struct tags as key names, so
// every value keeps its line and column. A value that cannot be decoded is
// reported and marked bad; the walk goes on. Defaults are then applied to
// every key that is absent (presence, not zero value, decides: listen_port
// 0 and persistent_keepalive 0s are meaningful), and validation checks
// ranges and relations between fields, skipping fields already reported.
// Problems are sorted by position and returned in one *Error.
//
// Relative paths (tunnel.private_key_file, api.socket, journal.dir) are
// resolved against the config file's directory. The private key file must
// be a regular file of mode 0600 or 0400. No error message, Summary or
// String ever contains key material; Summary shows the first 8 characters
// of each endpoint's public key.
//
// Every key is documented three times: in types.go, in README.md
// ("Configuration reference") and in testdata/site.example.yaml; a test
// fails when one of them lacks a key.
package config
