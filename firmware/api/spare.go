package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Spare is a shelf spare's state (Status.Spare): a unit with no site
// installed, waiting to be activated with a site pack.
type Spare struct {
	// Ready: `spare prepare` ran and its bench self-test passed: the unit
	// can go on the shelf.
	Ready bool `json:"ready"`
	// PreparedAt is when `spare prepare` last ran; nil if it never did
	// (a unit fresh from the factory image, or one whose site was removed
	// by hand).
	PreparedAt *time.Time `json:"prepared_at,omitempty"`
	// SelfTest is the bench self-test of the last `spare prepare`.
	SelfTest []CheckItem `json:"self_test,omitempty"`
	// Recipient is this unit's age X25519 recipient ("age1…"): a pack
	// sealed to it opens on this unit only, with no passphrase, and can
	// be activated with the button.
	Recipient string `json:"recipient,omitempty"`
	// Trusted are the fingerprints of the datacenter keys in the image.
	Trusted []string `json:"trusted"`
	// Button says whether the technician button is watched.
	Button bool `json:"button"`
	// State is "waiting" (on the shelf or just powered), "activating" or
	// "refused" (the last attempt failed; LastError says why).
	State     string `json:"state"`
	LastError string `json:"last_error,omitempty"`
}

// Spare states.
const (
	SpareWaiting    = "waiting"
	SpareActivating = "activating"
	SpareRefused    = "refused"
)

// PackInfo is the site pack a unit runs (Status.Pack), from its
// installed.json; nil on a unit configured by hand.
type PackInfo struct {
	Serial uint64 `json:"serial"`
	// From is the box that exported the pack, or "datacenter".
	From        string    `json:"from"`
	Created     time.Time `json:"created"`
	InstalledAt time.Time `json:"installed_at"`
	// Signer is the fingerprint of the datacenter key that vouched for
	// the pack (directly, or through the site's export certificate).
	Signer string `json:"signer"`
	// Replaces is the box this one took over from: From, when a unit
	// exported the pack and it is not this box. The datacenter marks it
	// retired.
	Replaces string `json:"replaces,omitempty"`
}

// ActivateRequest is POST /v1/spare/activate's body.
type ActivateRequest struct {
	// Pack is the site pack file's bytes (base64 in JSON).
	Pack []byte `json:"pack"`
	// Passphrase opens a pack sealed to a passphrase; empty for a pack
	// sealed to this unit.
	Passphrase string `json:"passphrase,omitempty"`
}

// Activated answers an activation: the pack is installed and the site
// starts.
type Activated struct {
	Site   string `json:"site"`
	Serial uint64 `json:"serial"`
	From   string `json:"from"`
	// Signer is the fingerprint of the key that vouched for the pack (the
	// datacenter's, directly or through the site's export certificate).
	Signer string `json:"signer"`
	// Socket is the local API socket of the site's daemon (api.socket),
	// where the caller follows the start and the acceptance check.
	Socket string `json:"socket"`
}

// PrepareRequest is POST /v1/spare/prepare's body.
type PrepareRequest struct {
	// Site must be the installed site's id: the caller confirms which
	// site's secrets it wipes. Empty on a spare.
	Site string `json:"site"`
}

// Sparer is a unit with no site: it can be activated.
type Sparer interface {
	Activate(ctx context.Context, req ActivateRequest) (Activated, error)
}

// Preparer makes a shelf spare: a unit serving a site (which it wipes,
// then goes on as a spare) or a spare (which makes a fresh identity and
// runs the bench self-test again).
type Preparer interface {
	// Prepare returns the spare's state after the bench self-test.
	Prepare(ctx context.Context, req PrepareRequest) (Spare, error)
}

// maxActivateBody bounds POST /v1/spare/activate: a pack (at most 320 KiB)
// in base64 and a passphrase.
const maxActivateBody = 512 << 10

// spareRoutes adds POST /v1/spare/activate (a spare) or POST
// /v1/spare/prepare (a unit serving a site). Both only on the local
// socket: Handler, never the management API.
func spareRoutes(mux *http.ServeMux, b Backend, rt routes) {
	if s, ok := b.(Sparer); ok {
		mux.HandleFunc("POST /v1/spare/activate", func(w http.ResponseWriter, r *http.Request) {
			var req ActivateRequest
			if !readJSONBody(w, r, maxActivateBody, &req) {
				return
			}
			if len(req.Pack) == 0 {
				writeFieldError(w, http.StatusBadRequest, &FieldError{"pack", "empty"})
				return
			}
			a, err := s.Activate(r.Context(), req)
			if err != nil {
				rt.refuse(w, "activating the spare", err)
				return
			}
			writeJSON(w, http.StatusOK, a)
		})
	} else {
		mux.HandleFunc("POST /v1/spare/activate", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusConflict, "this unit already serves a site: it is not a spare (run `shisactl spare prepare` first to make it one)")
		})
	}
	if p, ok := b.(Preparer); ok {
		mux.HandleFunc("POST /v1/spare/prepare", func(w http.ResponseWriter, r *http.Request) {
			var req PrepareRequest
			if !readJSONBody(w, r, 4<<10, &req) {
				return
			}
			sp, err := p.Prepare(r.Context(), req)
			if err != nil {
				rt.refuse(w, "preparing the spare", err)
				return
			}
			writeJSON(w, http.StatusOK, sp)
		})
	} else {
		mux.HandleFunc("POST /v1/spare/prepare", notBuilt("spare prepare"))
	}
}

// ErrRefused wraps a refusal that is the request's fault or the unit's
// state (a bad pack, a wrong confirmation): a 409 with the message, not
// a 500.
var ErrRefused = errors.New("refused")

// refuse answers a refused request (FieldError: 400, ErrRefused or
// ErrConflict: 409) or a failure (500).
func (rt routes) refuse(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, ErrRefused) {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	rt.powerFail(w, what, err)
}

// readJSONBody decodes a JSON body of at most max bytes into v, refusing
// unknown fields; it answers 400 or 413 and returns false when it cannot.
func readJSONBody(w http.ResponseWriter, r *http.Request, max int64, v any) bool {
	if !noParams(w, r) {
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeFieldError(w, http.StatusRequestEntityTooLarge, &FieldError{"body", fmt.Sprintf("larger than %d bytes", max)})
		} else {
			writeFieldError(w, http.StatusBadRequest, &FieldError{"body", "cannot be read: " + err.Error()})
		}
		return false
	}
	// Not decodeStrict: it bounds a body to a power request's 4 KiB,
	// and a pack is larger. Its errors are *FieldErrors naming the field.
	if err := decodeStrictAny(body, v); err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			fe = &FieldError{"body", err.Error()}
		}
		writeFieldError(w, http.StatusBadRequest, fe)
		return false
	}
	return true
}

// Activate sends a site pack to a spare.
func (c *Client) Activate(ctx context.Context, req ActivateRequest) (*Activated, error) {
	var a Activated
	if err := c.send(ctx, http.MethodPost, "/v1/spare/activate", req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Prepare turns the unit into a shelf spare.
func (c *Client) Prepare(ctx context.Context, site string) (*Spare, error) {
	var s Spare
	if err := c.send(ctx, http.MethodPost, "/v1/spare/prepare", PrepareRequest{Site: site}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
