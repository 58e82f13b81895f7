package beijing

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
	"github.com/roam-federation/roam/federation/clock"
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
		return nil, reason.New(reason.Malformed, "beijing: cannot build request")
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
		return nil, reason.New(reason.Malformed, "beijing backend %s sent a body over %d bytes", a.jur, MaxResponse)
	}
	switch sc := resp.StatusCode; {
	case sc == http.StatusOK:
		return body, nil
	case sc == http.StatusNotFound:
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.ClaimsInvalid, "beijing backend %s does not know it: %s", a.jur, errorCode(body)), notFound)
	case sc == http.StatusConflict && errorCode(body) == "report_overdue":
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.Expired, "beijing backend %s: daily report overdue", a.jur), ErrReportOverdue)
	case sc == http.StatusTooManyRequests || sc >= 500:
		return nil, a.unreachable(fmt.Errorf("HTTP %d", sc))
	case sc >= 400 && sc < 500:
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.Malformed, "beijing backend %s refused: HTTP %d %s", a.jur, sc, errorCode(body)), ErrRefused)
	default:
		return nil, reason.New(reason.Malformed, "beijing backend %s: unexpected HTTP %d", a.jur, sc)
	}
}

func (a *Adapter) unreachable(cause error) error {
	return fmt.Errorf("%w (%w: %w)", reason.New(reason.IssuerUnreachable, "beijing backend %s did not answer", a.jur), ErrUnavailable, cause)
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

// codeBody is the beijing dialect's code body (健康宝 pinyin initials).
type codeBody struct {
	Jkbbh string `json:"jkbbh"` // 健康宝编号: code id
	Zt    string `json:"zt"`    // 状态: status
	Ztbb  int64  `json:"ztbb"`  // 状态版本: status version
	Xm    string `json:"xm"`    // 姓名: name
	Sfzh  string `json:"sfzh"`  // 身份证号: national ID number
	Scsj  string `json:"scsj"`  // 生成时间: issue time
	Yxqz  string `json:"yxqz"`  // 有效期至: valid until
}

var codeFields = []string{"jkbbh", "zt", "ztbb", "xm", "sfzh", "scsj", "yxqz"}

// TimeLayout is the dialect's time layout; times are always UTC+8.
const TimeLayout = "2006-01-02 15:04:05"

// The dialect's statuses (DESIGN.md §1, §4).
const (
	StatusNormal      = "未见异常" // no abnormality seen
	StatusHomeObs     = "居家观察" // home observation
	StatusCentralized = "集中观察" // centralized observation
)

// statuses maps zt strictly onto the canonical colours: exact strings only.
var statuses = map[string]adapters.Color{
	StatusNormal:      adapters.Green,
	StatusHomeObs:     adapters.Yellow,
	StatusCentralized: adapters.Red,
}

// ColorOf maps a beijing status onto its canonical colour. Errors:
// color_unknown for anything but the three statuses.
func ColorOf(zt string) (adapters.Color, error) {
	c, ok := statuses[zt]
	if !ok {
		return "", reason.New(reason.ColorUnknown, "beijing status %q is not 未见异常, 居家观察 or 集中观察", clip(zt))
	}
	return c, nil
}

// parseTime reads a "2006-01-02 15:04:05" time in UTC+8, exactly.
func parseTime(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(TimeLayout, s, clock.CST)
	if err != nil || t.Format(TimeLayout) != s {
		return time.Time{}, false
	}
	return t, true
}

// decodeCode strictly decodes a code body into a NativeStatus (Jurisdiction
// left empty). Errors: malformed (not one JSON object, unknown, duplicate or
// missing fields, wrong types, trailing data, bad ids or times),
// color_unknown, timestamps_invalid (yxqz not after scsj).
func decodeCode(body []byte) (*adapters.NativeStatus, error) {
	if len(body) > MaxResponse {
		return nil, reason.New(reason.Malformed, "beijing code body over %d bytes", MaxResponse)
	}
	if err := strictObject(body, codeFields); err != nil {
		return nil, reason.New(reason.Malformed, "beijing code body: %v", err)
	}
	var b codeBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, reason.New(reason.Malformed, "beijing code body: %v", err)
	}
	if !validCodeID(b.Jkbbh) {
		return nil, reason.New(reason.Malformed, "beijing code body: jkbbh is not 16 to 64 letters and digits")
	}
	color, err := ColorOf(b.Zt)
	if err != nil {
		return nil, err
	}
	if b.Ztbb < 1 {
		return nil, reason.New(reason.Malformed, "beijing code body: ztbb %d is not positive", b.Ztbb)
	}
	if b.Xm == "" || !utf8.ValidString(b.Xm) || utf8.RuneCountInString(b.Xm) > 64 {
		return nil, reason.New(reason.Malformed, "beijing code body: xm must be 1 to 64 characters of UTF-8")
	}
	if !validIDNumber(b.Sfzh) {
		return nil, reason.New(reason.Malformed, "beijing code body: sfzh is not 17 digits then a digit or X")
	}
	issued, ok := parseTime(b.Scsj)
	if !ok {
		return nil, reason.New(reason.Malformed, "beijing code body: scsj is not %q", TimeLayout)
	}
	until, ok := parseTime(b.Yxqz)
	if !ok {
		return nil, reason.New(reason.Malformed, "beijing code body: yxqz is not %q", TimeLayout)
	}
	if !until.After(issued) {
		return nil, reason.New(reason.TimestampsInvalid, "beijing code body: yxqz is not after scsj")
	}
	return &adapters.NativeStatus{
		System:      System,
		NativeID:    b.Jkbbh,
		ResidentKey: b.Sfzh,
		Name:        b.Xm,
		Color:       color,
		Version:     b.Ztbb,
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
