package zhejiang

import (
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/backendhttp"
	"github.com/roam-federation/roam/federation/reason"
)

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

// validCodeID: 16 to 64 characters of the base64url alphabet.
func validCodeID(s string) bool { return backendhttp.ValidCodeID(s, "-_") }

// decodeCode strictly decodes a code body into a NativeStatus (Jurisdiction
// left empty). Errors: malformed (not one JSON object, unknown, duplicate or
// missing fields, wrong types, trailing data, bad ids or times),
// color_unknown, timestamps_invalid (validUntil not after issueTime).
func decodeCode(body []byte) (*adapters.NativeStatus, error) {
	var b codeBody
	if err := backendhttp.DecodeStrict(body, codeFields, &b, "zhejiang code body"); err != nil {
		return nil, err
	}
	if !validCodeID(b.CodeID) {
		return nil, reason.New(reason.Malformed, "zhejiang code body: codeId is not 16 to 64 base64url characters")
	}
	color, ok := colors[b.HealthColor]
	if !ok {
		return nil, reason.New(reason.ColorUnknown, "zhejiang healthColor %q is not green, yellow or red", backendhttp.Clip(b.HealthColor))
	}
	if b.ColorVersion < 1 {
		return nil, reason.New(reason.Malformed, "zhejiang code body: colorVersion %d is not positive", b.ColorVersion)
	}
	if !backendhttp.ValidName(b.HolderName) {
		return nil, reason.New(reason.Malformed, "zhejiang code body: holderName must be 1 to 64 characters of UTF-8")
	}
	if !backendhttp.ValidIDNumber(b.IDNo) {
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
