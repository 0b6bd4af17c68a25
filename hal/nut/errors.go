package nut

import (
	"fmt"
	"strings"

	"github.com/shisa-gw/shisa/hal"
)

// Error is an "ERR <code> [extra]" reply from upsd. Match it against the
// sentinels below with errors.Is (the code decides); its message says what
// was asked and what to check.
type Error struct {
	Code  string // ACCESS-DENIED, DATA-STALE, …
	Extra string // the rest of the line, if any
	Cmd   string // the command that failed, password elided
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("nut: ")
	if e.Cmd != "" {
		b.WriteString(e.Cmd)
		b.WriteString(": ")
	}
	b.WriteString("ERR ")
	b.WriteString(e.Code)
	if e.Extra != "" {
		b.WriteString(" ")
		b.WriteString(e.Extra)
	}
	if h := hints[e.Code]; h != "" {
		b.WriteString(": ")
		b.WriteString(h)
	}
	return b.String()
}

// Is matches an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Stale reports whether the error means the UPS's data is not current: the
// driver lost the UPS (DATA-STALE) or upsd lost the driver
// (DRIVER-NOT-CONNECTED). upsmon treats both as the UPS being lost.
func (e *Error) Stale() bool {
	return e.Code == "DATA-STALE" || e.Code == "DRIVER-NOT-CONNECTED"
}

func code(c string) *Error { return &Error{Code: c} }

// The replies of the NUT network protocol (NUT 2.8).
var (
	ErrAccessDenied         = code("ACCESS-DENIED")
	ErrUnknownUPS           = code("UNKNOWN-UPS")
	ErrVarNotSupported      = code("VAR-NOT-SUPPORTED")
	ErrCmdNotSupported      = code("CMD-NOT-SUPPORTED")
	ErrInvalidArgument      = code("INVALID-ARGUMENT")
	ErrInstCmdFailed        = code("INSTCMD-FAILED")
	ErrSetFailed            = code("SET-FAILED")
	ErrReadOnly             = code("READONLY")
	ErrTooLong              = code("TOO-LONG")
	ErrFeatureNotSupported  = code("FEATURE-NOT-SUPPORTED")
	ErrFeatureNotConfigured = code("FEATURE-NOT-CONFIGURED")
	ErrDriverNotConnected   = code("DRIVER-NOT-CONNECTED")
	ErrDataStale            = code("DATA-STALE")
	ErrAlreadyLoggedIn      = code("ALREADY-LOGGED-IN")
	ErrInvalidPassword      = code("INVALID-PASSWORD")
	ErrAlreadySetPassword   = code("ALREADY-SET-PASSWORD")
	ErrInvalidUsername      = code("INVALID-USERNAME")
	ErrAlreadySetUsername   = code("ALREADY-SET-USERNAME")
	ErrUsernameRequired     = code("USERNAME-REQUIRED")
	ErrPasswordRequired     = code("PASSWORD-REQUIRED")
	ErrUnknownCommand       = code("UNKNOWN-COMMAND")
	ErrInvalidValue         = code("INVALID-VALUE")
)

var hints = map[string]string{
	"ACCESS-DENIED":          "upsd refused the user or password; check them against upsd.users on the NUT server (the user needs an 'upsmon secondary' line to LOGIN, 'actions = SET' and 'instcmds' to arm the return)",
	"UNKNOWN-UPS":            "no UPS of that name on the server; check the name against ups.conf there (upsc -l HOST lists them)",
	"VAR-NOT-SUPPORTED":      "the UPS's driver does not provide this variable",
	"CMD-NOT-SUPPORTED":      "the UPS's driver does not offer this instant command (upscmd -l UPS lists those it has)",
	"INVALID-ARGUMENT":       "the server did not accept the command's argument",
	"INSTCMD-FAILED":         "the driver could not carry out the instant command; see the NUT server's log",
	"SET-FAILED":             "the driver could not set the variable; see the NUT server's log",
	"READONLY":               "the variable cannot be written on this UPS",
	"TOO-LONG":               "the value is too long for the variable",
	"FEATURE-NOT-SUPPORTED":  "the server does not support this feature",
	"FEATURE-NOT-CONFIGURED": "the feature is not enabled on the server",
	"DRIVER-NOT-CONNECTED":   "upsd has lost the UPS driver; check the driver (upsdrvctl start) and the UPS's cable on the NUT server",
	"DATA-STALE":             "the driver has no fresh data from the UPS; check the UPS's cable and the driver on the NUT server",
	"ALREADY-LOGGED-IN":      "this connection already logged in",
	"INVALID-PASSWORD":       "the password was refused as malformed",
	"INVALID-USERNAME":       "the user name was refused as malformed",
	"USERNAME-REQUIRED":      "the command needs a user; set one in the configuration",
	"PASSWORD-REQUIRED":      "the command needs a password; set the password file in the configuration",
	"UNKNOWN-COMMAND":        "the server does not know the command (an old upsd?)",
	"INVALID-VALUE":          "the server refused the value",
}

// ReturnUnsupportedError is ArmReturn's error when the UPS has no
// shutdown.return instant command. It matches hal.ErrArmUnsupported and
// ErrCmdNotSupported.
type ReturnUnsupportedError struct {
	UPS      string
	Commands []string // the instant commands the UPS does offer
	Err      error    // the server's refusal, when it came from INSTCMD
}

func (e *ReturnUnsupportedError) Error() string {
	return fmt.Sprintf("nut: UPS %s does not offer the shutdown.return instant command, so it cannot be armed to cut the load and restore it when mains returns (it offers: %s); the box must rely on its own reboot timer",
		e.UPS, orNone(e.Commands))
}

// Is matches hal.ErrArmUnsupported and ErrCmdNotSupported.
func (e *ReturnUnsupportedError) Is(target error) bool {
	return target == hal.ErrArmUnsupported || target == ErrCmdNotSupported
}

func (e *ReturnUnsupportedError) Unwrap() error { return e.Err }

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// TrackingError is an instant command or SET VAR that upsd accepted and the
// driver then reported as failed (NUT's command tracking: GET TRACKING).
type TrackingError struct {
	Cmd    string
	Result string // "ERR UNKNOWN", "ERR FAILED", "ERR INVALID-ARGUMENT"
}

func (e *TrackingError) Error() string {
	hint := "see the NUT server's driver log"
	if e.Result == "ERR UNKNOWN" {
		hint = "the driver does not implement it, although it lists it"
	}
	return fmt.Sprintf("nut: %s: upsd accepted it and the driver reported %s: %s", e.Cmd, e.Result, hint)
}

// Is matches ErrSetFailed for SET VAR and ErrInstCmdFailed for INSTCMD.
func (e *TrackingError) Is(target error) bool {
	if strings.HasPrefix(e.Cmd, "SET ") {
		return target == ErrSetFailed
	}
	return target == ErrInstCmdFailed
}
