package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Client talks to shisad's local API.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr}}
}

// Status fetches /v1/status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.get(ctx, "/v1/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Events fetches one page of journal records after cursor since.
func (c *Client) Events(ctx context.Context, since uint64, limit int) (*EventsPage, error) {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var p EventsPage
	if err := c.get(ctx, "/v1/events?"+q.Encode(), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Get fetches path (with its query, such as
// "/v1/report?month=2026-11&format=html") and returns the body of a 200
// answer. Any other answer is an error carrying the server's "error"
// message.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	return c.Do(ctx, http.MethodGet, path, nil)
}

// Do sends a request with method to path, with body as JSON when it is not
// nil, and returns the body of a 2xx answer; like Get, any other answer is
// an error carrying the server's message.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://shisad"+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.explain(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading shisad's answer: %w", err)
	}
	if len(answer) > maxAnswer {
		return nil, fmt.Errorf("shisad's answer to %s is larger than %d MiB; not reading it", path, maxAnswer>>20)
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(answer, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("shisad: %s", e.Error)
		}
		return nil, fmt.Errorf("shisad answered %s", resp.Status)
	}
	return answer, nil
}

// maxAnswer bounds what the client reads of one answer.
const maxAnswer = 8 << 20

func (c *Client) get(ctx context.Context, path string, v any) error {
	return c.send(ctx, http.MethodGet, path, nil, v)
}

// explain turns a dial failure into advice for the technician.
func (c *Client) explain(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("shisad is not running (no one at %s): check `systemctl status shisad`", c.socket)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("not allowed to open %s: run shisactl as root", c.socket)
	}
	return fmt.Errorf("talking to shisad at %s: %w", c.socket, err)
}

// send makes a request with a JSON body (none when in is nil) and decodes
// a 2xx answer into out; any other answer is an error carrying the
// server's message.
func (c *Client) send(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://shisad"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.explain(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("reading shisad's answer: %w", err)
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("shisad's answer to %s is larger than %d MiB; not reading it", path, maxAnswer>>20)
	}
	if resp.StatusCode/100 != 2 {
		var e fieldErrorBody
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			if e.Field != "" {
				return fmt.Errorf("shisad refused it: %w", &FieldError{e.Field, strings.TrimPrefix(e.Error, e.Field+": ")})
			}
			return fmt.Errorf("shisad: %s", e.Error)
		}
		return fmt.Errorf("shisad answered %s", resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("shisad's answer is not what this shisactl understands (different versions?): %w", err)
	}
	return nil
}
