package nut

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shisa-gw/shisa/hal"
)

// MaxLine is the longest reply line the client accepts, in bytes. upsd's own
// lines are far shorter; a longer one is a broken or hostile server.
const MaxLine = 8192

// ErrProtocol is matched by errors about replies the client cannot parse.
var ErrProtocol = errors.New("nut: protocol error")

// ParseLine splits one reply line into words the way NUT's parseconf does:
// words are separated by spaces or tabs; a double-quoted word may hold
// spaces; a backslash escapes the next character (in or out of quotes).
// Control characters other than tab are refused: the reply is untrusted.
func ParseLine(line string) ([]string, error) {
	if len(line) > MaxLine {
		return nil, fmt.Errorf("%w: line of %d bytes (limit %d)", ErrProtocol, len(line), MaxLine)
	}
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quoted bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case isCtl(c):
			return nil, fmt.Errorf("%w: control character %#02x in reply", ErrProtocol, c)
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("%w: reply ends in a backslash", ErrProtocol)
			}
			i++
			if isCtl(line[i]) {
				return nil, fmt.Errorf("%w: control character %#02x in reply", ErrProtocol, line[i])
			}
			cur.WriteByte(line[i])
			inWord = true
		case c == '"':
			if quoted {
				quoted = false
				// The quoted word ends here, even if empty.
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
				continue
			}
			if inWord {
				return nil, fmt.Errorf("%w: quote inside a word", ErrProtocol)
			}
			quoted, inWord = true, true
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("%w: unterminated quote", ErrProtocol)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// isCtl reports a control character other than tab.
func isCtl(c byte) bool { return c < 0x20 && c != '\t' || c == 0x7f }

// Quote returns s as one protocol word: quoted, with backslashes and quotes
// escaped. It refuses control characters, which could end the command line
// early and smuggle in another command.
func Quote(s string) (string, error) {
	for i := 0; i < len(s); i++ {
		if isCtl(s[i]) {
			return "", fmt.Errorf("nut: control character %#02x in an argument", s[i])
		}
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`, nil
}

// ParseStatus sets the flags of ups.status (space-separated words such as
// "OB DISCHRG LB") on st. Unknown words are ignored; st.Status keeps them.
func ParseStatus(st *hal.UPSState, status string) {
	st.Status = strings.Join(strings.Fields(status), " ")
	for _, w := range strings.Fields(status) {
		switch w {
		case "OL":
			st.Online = true
		case "OB":
			st.OnBattery = true
		case "LB":
			st.LowBattery = true
		case "FSD":
			st.ForcedShutdown = true
		case "CHRG":
			st.Charging = true
		case "DISCHRG":
			st.Discharging = true
		case "RB":
			st.ReplaceBattery = true
		case "BYPASS":
			st.Bypass = true
		case "OVER":
			st.Overload = true
		case "OFF":
			st.Off = true
		}
	}
}

// stateFromVars builds a state from LIST VAR's variables.
func stateFromVars(source string, vars map[string]string) (hal.UPSState, error) {
	st := hal.Unknown(source)
	status, ok := vars["ups.status"]
	if !ok {
		return st, fmt.Errorf("%w: the UPS has no ups.status variable", ErrProtocol)
	}
	ParseStatus(&st, status)
	st.ChargePct = number(vars["battery.charge"])
	st.RuntimeS = number(vars["battery.runtime"])
	return st, nil
}

// number parses a non-negative finite number, -1 when absent or bad.
func number(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f != f || f > 1e12 {
		return -1
	}
	return f
}
