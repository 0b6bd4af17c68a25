package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The power routes (issue 4), on the local socket and, behind the bearer
// token, on the management API:
//
//	GET    /v1/power            the power state machine, the UPS, the last shutdown
//	GET    /v1/outages          planned outage windows and scheduled restarts
//	POST   /v1/outages          plan one: {"start", "end", "reason", "id"}
//	DELETE /v1/outages/{id}     cancel one
//	POST   /v1/power/restart    restart now, or at {"at"}: the safe-shutdown
//	                            sequence with an immediate return
//
// A bad request is a 400 whose JSON names the field and says why
// ({"error": "start: …", "field": "start"}) and changes nothing.

// Power states (PowerStatus.State, Status.Power), as the power job's
// state machine names them.
const (
	PowerOnline       = "online"
	PowerOnBattery    = "on_battery"
	PowerShuttingDown = "shutting_down"
	PowerHalted       = "halted"
)

// UPSUnknown is UPSStatus.State when the UPS has not been seen (never
// read, or refused us): neither online nor on battery as far as we know.
const UPSUnknown = "unknown"

// PowerStates lists the states in order, for shisa_power_state.
var PowerStates = []string{PowerOnline, PowerOnBattery, PowerShuttingDown, PowerHalted}

// PowerStatus is the answer to GET /v1/power.
type PowerStatus struct {
	// State is one of the Power… states.
	State string `json:"state"`
	// Cause says why the machine is in State, for people ("mains lost, on
	// battery …", "planned outage …"); empty while online.
	Cause string `json:"cause,omitempty"`
	// UPS is the UPS's state; nil without one (ups.source none).
	UPS *UPSStatus `json:"ups,omitempty"`
	// Controller is how the box powers off ("systemd", "simulated"), or why
	// it cannot ("unavailable: …").
	Controller string `json:"controller"`
	// TimeZone is the site's zone; outage times are shown in it.
	TimeZone string `json:"time_zone"`
	// Outages are the planned windows and scheduled restarts, by start.
	Outages []Outage `json:"outages"`
	// GraceS, LeadS and BudgetS are the configured power.grace, power.lead
	// and power.budget in seconds.
	GraceS  float64 `json:"grace_s"`
	LeadS   float64 `json:"lead_s"`
	BudgetS float64 `json:"budget_s"`
	// Last is the sequence run by this shisad, once it has run (normally
	// the box is off before anyone reads it: it matters when the power-off
	// was refused).
	Last *ShutdownReport `json:"last_shutdown,omitempty"`
	// Back is the outage this start came back from; nil after a plain
	// start.
	Back *BackReport `json:"back,omitempty"`
}

// ShutdownReport is the outcome of a safe-shutdown sequence.
type ShutdownReport struct {
	Reason     string   `json:"reason"`
	Cause      string   `json:"cause"`
	At         string   `json:"at"` // RFC 3339, when it was decided
	SafeToCut  bool     `json:"safe_to_cut"`
	SafeToCutS float64  `json:"safe_to_cut_s,omitempty"`
	TotalS     float64  `json:"total_s"`
	Return     string   `json:"return"` // ups, wake or reboot
	PoweredOff bool     `json:"powered_off"`
	Failed     []string `json:"failed_steps,omitempty"` // "arm: …"
}

// BackReport is the outage a start came back from.
type BackReport struct {
	GoneS  float64 `json:"gone_s"`
	Reason string  `json:"reason"`
	Window string  `json:"window,omitempty"`
	Msg    string  `json:"message"`
}

// OutageList is the answer to GET /v1/outages.
type OutageList struct {
	TimeZone string   `json:"time_zone"`
	Outages  []Outage `json:"outages"`
}

// OutageRequest is the body of POST /v1/outages. Start and End are in the
// site's time zone ("2026-12-05 08:00") or RFC 3339 (whose offset wins).
type OutageRequest struct {
	ID     string `json:"id,omitempty"`
	Start  string `json:"start"`
	End    string `json:"end"`
	Reason string `json:"reason,omitempty"`
}

// RestartRequest is the body of POST /v1/power/restart; an empty body or
// an empty At restarts now.
type RestartRequest struct {
	At     string `json:"at,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RestartAnswer is the answer to POST /v1/power/restart: Now, or the
// scheduled restart.
type RestartAnswer struct {
	Now       bool    `json:"now"`
	Scheduled *Outage `json:"scheduled,omitempty"`
}

// FieldError is a request refused because of one field. Backends return it
// (wrapped or not) for a refusal that names a field; the handlers answer
// 400 with {"error": "field: reason", "field": field}.
type FieldError struct {
	Field  string
	Reason string
}

// Error is "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ErrConflict from a PowerBackend method is a 409 (a shutdown already under
// way).
var ErrConflict = errors.New("conflict")

// PowerBackend is what the power routes need. The daemon implements it;
// Handler and ManagementHandler serve the routes when their backend does
// and answer 501 otherwise.
type PowerBackend interface {
	// Power returns the power job's state.
	Power() PowerStatus
	// ParseTime reads a time in the site's zone (or RFC 3339).
	ParseTime(s string) (time.Time, error)
	// AddOutage plans a window (Outage.Restart false) and returns it as
	// stored; a refusal is a *FieldError.
	AddOutage(o Outage) (Outage, error)
	// CancelOutage removes a window or scheduled restart; an unknown id is
	// an error wrapping ErrNotFound.
	CancelOutage(id string) (Outage, error)
	// Restart restarts now (at zero) or schedules a restart at at.
	Restart(at time.Time, reason string) (RestartAnswer, error)
}

// maxPowerBody bounds a power request's body.
const maxPowerBody = 4 << 10

// maxReason bounds a window's reason, in characters.
const maxReason = 200

// ParseOutageRequest reads a POST /v1/outages body: one JSON object with
// only the known fields, start and end present and readable by parseTime,
// an id of at most 64 letters, digits, '-' or '_', a reason of at most 200
// printable characters. Every error is a *FieldError.
func ParseOutageRequest(body []byte, parseTime func(string) (time.Time, error)) (Outage, error) {
	var req OutageRequest
	if err := decodeStrict(body, &req); err != nil {
		return Outage{}, err
	}
	var o Outage
	var err error
	if o.ID, err = checkID(req.ID); err != nil {
		return Outage{}, err
	}
	if o.Start, err = readTime("start", req.Start, parseTime); err != nil {
		return Outage{}, err
	}
	if o.End, err = readTime("end", req.End, parseTime); err != nil {
		return Outage{}, err
	}
	if !o.End.After(o.Start) {
		return Outage{}, &FieldError{"end", fmt.Sprintf("%s is not after start (%s); a window must end after it starts", req.End, req.Start)}
	}
	if o.Reason, err = checkReason(req.Reason); err != nil {
		return Outage{}, err
	}
	return o, nil
}

// ParseRestartRequest reads a POST /v1/power/restart body (empty is
// {}): at, when given, must be readable by parseTime; the zero time means
// now. Every error is a *FieldError.
func ParseRestartRequest(body []byte, parseTime func(string) (time.Time, error)) (at time.Time, reason string, err error) {
	var req RestartRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			return time.Time{}, "", err
		}
	}
	if req.At != "" {
		if at, err = readTime("at", req.At, parseTime); err != nil {
			return time.Time{}, "", err
		}
	}
	if reason, err = checkReason(req.Reason); err != nil {
		return time.Time{}, "", err
	}
	return at, reason, nil
}

// decodeStrict decodes one JSON object into v: unknown fields, trailing
// data and wrong types are *FieldErrors (field "body" when no field is
// known).
func decodeStrict(body []byte, v any) error {
	if len(body) > maxPowerBody {
		return &FieldError{"body", fmt.Sprintf("%d bytes; at most %d", len(body), maxPowerBody)}
	}
	return decodeStrictAny(body, v)
}

// decodeStrictAny is decodeStrict for a body of any size (the caller
// bounds it).
func decodeStrictAny(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return &FieldError{te.Field, fmt.Sprintf("want a %s, got a JSON %s", te.Type, te.Value)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := printable(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
			if name == "" || len(name) > 64 {
				return &FieldError{"body", fmt.Sprintf("unknown field %.64q", name)}
			}
			return &FieldError{name, "unknown field"}
		case errors.Is(err, io.EOF):
			return &FieldError{"body", "empty; want a JSON object"}
		}
		return &FieldError{"body", "not a JSON object: " + err.Error()}
	}
	if dec.More() {
		return &FieldError{"body", "more than one JSON value"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{"body", "trailing data after the JSON object"}
	}
	return nil
}

func readTime(field, v string, parseTime func(string) (time.Time, error)) (time.Time, error) {
	if strings.TrimSpace(v) == "" {
		return time.Time{}, &FieldError{field, "missing; write it as 2006-01-02 15:04 (site time) or in RFC 3339"}
	}
	if len(v) > 64 {
		return time.Time{}, &FieldError{field, "too long to be a time"}
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, &FieldError{field, err.Error()}
	}
	return t, nil
}

func checkID(id string) (string, error) {
	if len(id) > 64 {
		return "", &FieldError{"id", "longer than 64 characters"}
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", &FieldError{"id", fmt.Sprintf("%q: want letters, digits, '-' or '_'", id)}
		}
	}
	return id, nil
}

func checkReason(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", &FieldError{"reason", "not valid UTF-8"}
	}
	if n := utf8.RuneCountInString(s); n > maxReason {
		return "", &FieldError{"reason", fmt.Sprintf("%d characters; at most %d", n, maxReason)}
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return "", &FieldError{"reason", "holds a control character; write it on one line"}
		}
	}
	return s, nil
}

// registerPower adds the power routes to mux.
func (rt routes) registerPower(mux *http.ServeMux, b Backend) {
	pb, ok := b.(PowerBackend)
	if !ok {
		for _, p := range []string{"GET /v1/power", "GET /v1/outages", "POST /v1/outages", "DELETE /v1/outages/{id}", "POST /v1/power/restart"} {
			mux.HandleFunc(p, notBuilt("the power job"))
		}
		return
	}
	mux.HandleFunc("GET /v1/power", func(w http.ResponseWriter, r *http.Request) {
		if noParams(w, r) {
			writeJSON(w, http.StatusOK, pb.Power())
		}
	})
	mux.HandleFunc("GET /v1/outages", func(w http.ResponseWriter, r *http.Request) {
		if !noParams(w, r) {
			return
		}
		p := pb.Power()
		writeJSON(w, http.StatusOK, OutageList{TimeZone: p.TimeZone, Outages: orEmpty(p.Outages)})
	})
	mux.HandleFunc("POST /v1/outages", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		o, err := ParseOutageRequest(body, pb.ParseTime)
		if err == nil {
			o, err = pb.AddOutage(o)
		}
		if err != nil {
			rt.powerFail(w, "planning the outage", err)
			return
		}
		writeJSON(w, http.StatusCreated, o)
	})
	mux.HandleFunc("DELETE /v1/outages/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !noParams(w, r) {
			return
		}
		id, err := checkID(r.PathValue("id"))
		if err == nil && id == "" {
			err = &FieldError{"id", "missing"}
		}
		var o Outage
		if err == nil {
			o, err = pb.CancelOutage(id)
		}
		if err != nil {
			rt.powerFail(w, "cancelling the outage", err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
	mux.HandleFunc("POST /v1/power/restart", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		at, reason, err := ParseRestartRequest(body, pb.ParseTime)
		var a RestartAnswer
		if err == nil {
			a, err = pb.Restart(at, reason)
		}
		if err != nil {
			rt.powerFail(w, "restarting", err)
			return
		}
		code := http.StatusAccepted
		if a.Scheduled != nil {
			code = http.StatusCreated
		}
		writeJSON(w, code, a)
	})
}

func orEmpty(o []Outage) []Outage {
	if o == nil {
		return []Outage{}
	}
	return o
}

// readBody reads a request body of at most maxPowerBody bytes; it answers
// 400 or 413 and returns false when it cannot. A query is refused too.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if !noParams(w, r) {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPowerBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeFieldError(w, http.StatusRequestEntityTooLarge, &FieldError{"body", fmt.Sprintf("larger than %d bytes", maxPowerBody)})
		} else {
			writeFieldError(w, http.StatusBadRequest, &FieldError{"body", "cannot be read: " + err.Error()})
		}
		return nil, false
	}
	return body, true
}

type fieldErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

func writeFieldError(w http.ResponseWriter, code int, e *FieldError) {
	writeJSON(w, code, fieldErrorBody{Error: e.Error(), Field: e.Field})
}

// powerFail answers a refused or failed power request.
func (rt routes) powerFail(w http.ResponseWriter, what string, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		writeFieldError(w, http.StatusBadRequest, fe)
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, fmt.Sprintf("%s: %v", what, err))
	default:
		rt.fail(w, what, err)
	}
}

// Power fetches GET /v1/power.
func (c *Client) Power(ctx context.Context) (*PowerStatus, error) {
	var p PowerStatus
	if err := c.get(ctx, "/v1/power", &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Outages fetches GET /v1/outages.
func (c *Client) Outages(ctx context.Context) (*OutageList, error) {
	var l OutageList
	if err := c.get(ctx, "/v1/outages", &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// AddOutage plans a window (POST /v1/outages).
func (c *Client) AddOutage(ctx context.Context, req OutageRequest) (*Outage, error) {
	var o Outage
	if err := c.send(ctx, http.MethodPost, "/v1/outages", req, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// CancelOutage cancels a window (DELETE /v1/outages/{id}).
func (c *Client) CancelOutage(ctx context.Context, id string) (*Outage, error) {
	var o Outage
	if err := c.send(ctx, http.MethodDelete, "/v1/outages/"+url.PathEscape(id), nil, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// Restart asks for a restart now or at req.At (POST /v1/power/restart).
func (c *Client) Restart(ctx context.Context, req RestartRequest) (*RestartAnswer, error) {
	var a RestartAnswer
	if err := c.send(ctx, http.MethodPost, "/v1/power/restart", req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
