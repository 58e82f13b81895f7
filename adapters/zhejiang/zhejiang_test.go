package zhejiang

import (
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters/backendhttp/backendhttptest"
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/federation/reason"
)

const goodBody = `{"codeId":"AAAAAAAAAAAAAAAAAAAAAA","healthColor":"green","colorVersion":3,"holderName":"张小三","idNo":"330102199001011234","issueTime":"2020-02-26T09:00:00+08:00","validUntil":"2020-03-04T00:00:00+08:00"}`

var suite = backendhttptest.Dialect{
	Provsim:        provsim.DialectZhejiang,
	Jurisdiction:   "330000",
	ResidentID:     "330102199001011234",
	Stranger:       "110102199001011234",
	CodeID:         "AAAAAAAAAAAAAAAAAAAAAA",
	Format:         "zhejiang",
	System:         System,
	DefaultTimeout: DefaultTimeout,
	New: func(baseURL, jurisdiction string, timeout time.Duration) (backendhttptest.Adapter, error) {
		return New(baseURL, jurisdiction, WithTimeout(timeout))
	},
	FormatPayload: FormatPayload,
	ParsePayload:  ParsePayload,

	ErrUnknownCode: ErrUnknownCode, ErrUnknownResident: ErrUnknownResident,
	ErrReportOverdue: ErrReportOverdue, ErrRefused: ErrRefused, ErrUnavailable: ErrUnavailable,

	GoodBody: goodBody,
	Bodies: []backendhttptest.Body{
		{"unknown colour", 200, strings.Replace(goodBody, `"green"`, `"blue"`, 1), reason.ColorUnknown, nil},
		{"capitalised colour", 200, strings.Replace(goodBody, `"green"`, `"Green"`, 1), reason.ColorUnknown, nil},
		{"empty colour", 200, strings.Replace(goodBody, `"green"`, `""`, 1), reason.ColorUnknown, nil},
		{"beijing status", 200, strings.Replace(goodBody, `"green"`, `"未见异常"`, 1), reason.ColorUnknown, nil},
		{"case-folded field", 200, strings.Replace(goodBody, `"codeId"`, `"codeid"`, 1), reason.Malformed, nil},
		{"duplicate field", 200, strings.Replace(goodBody, `{`, `{"healthColor":"red",`, 1), reason.Malformed, nil},
		{"missing field", 200, strings.Replace(goodBody, `"colorVersion":3,`, ``, 1), reason.Malformed, nil},
		{"bad time", 200, strings.Replace(goodBody, `2020-03-04T00:00:00+08:00`, `2020-03-04 00:00:00`, 1), reason.Malformed, nil},
		{"until before issue", 200, strings.Replace(goodBody, `2020-03-04T00:00:00+08:00`, `2020-02-26T09:00:00+08:00`, 1), reason.TimestampsInvalid, nil},
		{"other code id", 200, strings.Replace(goodBody, `AAAAAAAAAAAAAAAAAAAAAA`, `BBBBBBBBBBBBBBBBBBBBBB`, 1), reason.Malformed, nil},
	},
	Payloads: []backendhttptest.Payload{
		{"ZJHC:AAAAAAAAAAAAAAAAAAAAAA", true, "AAAAAAAAAAAAAAAAAAAAAA", ""},
		{"ZJHC:abc-_0123456789XYZ", true, "abc-_0123456789XYZ", ""},
		{"ZJHC:AAAAAAAAAAAAAAAAAAAAAA ", true, "", reason.Malformed},
		{"zjhc:AAAAAAAAAAAAAAAAAAAAAA", false, "", reason.UnsupportedFormat},
		{"BJJKB:AAAAAAAAAAAAAAAAAAAAAA", false, "", reason.UnsupportedFormat},
	},
}

func TestAdapter(t *testing.T) { backendhttptest.Run(t, suite) }
