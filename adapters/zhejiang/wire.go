package zhejiang

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// get performs one GET against the backend under a deadline and returns the
// body of a 200 answer. notFound is the sentinel a 404 maps to.
func (a *Adapter) get(ctx context.Context, pathAndQuery string, notFound error) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+pathAndQuery, nil)
	if err != nil {
		return nil, reason.New(reason.Malformed, "zhejiang: cannot build request")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, a.unreachable(stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, a.unreachable(stripURL(err))
	}
	if len(body) > MaxResponse {
		return nil, reason.New(reason.Malformed, "zhejiang backend %s sent a body over %d bytes", a.jur, MaxResponse)
	}
	switch sc := resp.StatusCode; {
	case sc == http.StatusOK:
		return body, nil
	case sc == http.StatusNotFound:
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.ClaimsInvalid, "zhejiang backend %s does not know it: %s", a.jur, errorCode(body)), notFound)
	case sc == http.StatusConflict && errorCode(body) == "report_overdue":
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.Expired, "zhejiang backend %s: daily report overdue", a.jur), ErrReportOverdue)
	case sc == http.StatusTooManyRequests || sc >= 500:
		return nil, a.unreachable(fmt.Errorf("HTTP %d", sc))
	case sc >= 400 && sc < 500:
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.Malformed, "zhejiang backend %s refused: HTTP %d %s", a.jur, sc, errorCode(body)), ErrRefused)
	default:
		return nil, reason.New(reason.Malformed, "zhejiang backend %s: unexpected HTTP %d", a.jur, sc)
	}
}

func (a *Adapter) unreachable(cause error) error {
	return fmt.Errorf("%w (%w: %w)", reason.New(reason.IssuerUnreachable, "zhejiang backend %s did not answer", a.jur), ErrUnavailable, cause)
}

// stripURL drops the request URL from a client error: it carries the
// resident's ID number. The underlying cause (net.OpError,
// context.DeadlineExceeded, …) stays in the chain.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorCode extracts the snake_case "error" of an error body, or "".
func errorCode(body []byte) string {
	var eb struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &eb) != nil || len(eb.Error) > 64 {
		return ""
	}
	for i := 0; i < len(eb.Error); i++ {
		if c := eb.Error[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return ""
		}
	}
	return eb.Error
}

// codeBody is the zhejiang dialect's code body.
type codeBody struct {
	CodeID       string `json:"codeId"`
	HealthColor  string `json:"healthColor"`
	ColorVersion int64  `json:"colorVersion"`
	HolderName   string `json:"holderName"`
	IDNo         string `json:"idNo"`
	IssueTime    string `json:"issueTime"`
	ValidUntil   string `json:"validUntil"`
}

var codeFields = []string{"codeId", "healthColor", "colorVersion", "holderName", "idNo", "issueTime", "validUntil"}

// colors maps healthColor strictly: exact, lower-case words only.
var colors = map[string]adapters.Color{"green": adapters.Green, "yellow": adapters.Yellow, "red": adapters.Red}

// decodeCode strictly decodes a code body into a NativeStatus (Jurisdiction
// left empty). Errors: malformed (not one JSON object, unknown, duplicate or
// missing fields, wrong types, trailing data, bad ids or times),
// color_unknown, timestamps_invalid (validUntil not after issueTime).
func decodeCode(body []byte) (*adapters.NativeStatus, error) {
	if len(body) > MaxResponse {
		return nil, reason.New(reason.Malformed, "zhejiang code body over %d bytes", MaxResponse)
	}
	if err := strictObject(body, codeFields); err != nil {
		return nil, reason.New(reason.Malformed, "zhejiang code body: %v", err)
	}
	var b codeBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, reason.New(reason.Malformed, "zhejiang code body: %v", err)
	}
	if !validCodeID(b.CodeID) {
		return nil, reason.New(reason.Malformed, "zhejiang code body: codeId is not 16 to 64 base64url characters")
	}
	color, ok := colors[b.HealthColor]
	if !ok {
		return nil, reason.New(reason.ColorUnknown, "zhejiang healthColor %q is not green, yellow or red", clip(b.HealthColor))
	}
	if b.ColorVersion < 1 {
		return nil, reason.New(reason.Malformed, "zhejiang code body: colorVersion %d is not positive", b.ColorVersion)
	}
	if b.HolderName == "" || !utf8.ValidString(b.HolderName) || utf8.RuneCountInString(b.HolderName) > 64 {
		return nil, reason.New(reason.Malformed, "zhejiang code body: holderName must be 1 to 64 characters of UTF-8")
	}
	if !validIDNumber(b.IDNo) {
		return nil, reason.New(reason.Malformed, "zhejiang code body: idNo is not 17 digits then a digit or X")
	}
	issued, err := time.Parse(time.RFC3339, b.IssueTime)
	if err != nil {
		return nil, reason.New(reason.Malformed, "zhejiang code body: issueTime is not RFC 3339")
	}
	until, err := time.Parse(time.RFC3339, b.ValidUntil)
	if err != nil {
		return nil, reason.New(reason.Malformed, "zhejiang code body: validUntil is not RFC 3339")
	}
	if !until.After(issued) {
		return nil, reason.New(reason.TimestampsInvalid, "zhejiang code body: validUntil is not after issueTime")
	}
	return &adapters.NativeStatus{
		System:      System,
		NativeID:    b.CodeID,
		ResidentKey: b.IDNo,
		Name:        b.HolderName,
		Color:       color,
		Version:     b.ColorVersion,
		IssuedAt:    issued,
		ValidUntil:  until,
	}, nil
}

// strictObject checks that body is exactly one JSON object whose keys are
// all in fields, each present exactly once (keys compared after unescaping,
// case-sensitively), with nothing after it.
func strictObject(body []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if !contains(fields, key) {
			return fmt.Errorf("unknown field %q", clip(key))
		}
		if seen[key] {
			return fmt.Errorf("duplicate field %q", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	for _, f := range fields {
		if !seen[f] {
			return fmt.Errorf("missing field %q", f)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clip shortens attacker-controlled text quoted in an error.
func clip(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return s
}
