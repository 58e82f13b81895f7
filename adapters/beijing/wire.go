package beijing

import (
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/backendhttp"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/reason"
)

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

// validCodeID: 16 to 64 letters and digits.
func validCodeID(s string) bool { return backendhttp.ValidCodeID(s, "") }

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
		return "", reason.New(reason.ColorUnknown, "beijing status %q is not 未见异常, 居家观察 or 集中观察", backendhttp.Clip(zt))
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
	var b codeBody
	if err := backendhttp.DecodeStrict(body, codeFields, &b, "beijing code body"); err != nil {
		return nil, err
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
	if !backendhttp.ValidName(b.Xm) {
		return nil, reason.New(reason.Malformed, "beijing code body: xm must be 1 to 64 characters of UTF-8")
	}
	if !backendhttp.ValidIDNumber(b.Sfzh) {
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
