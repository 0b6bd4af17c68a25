// Package config reads, defaults and validates the site configuration
// (/etc/shisa/site.yaml).
//
// Decoding is strict: an unknown key, a missing required key, a value of
// the wrong kind or a bad address is an error that names the file, the line
// and the field, and the daemon refuses to start rather than guess. All
// problems found in one file are reported together.
package config
