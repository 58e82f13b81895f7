package beijing

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/backendhttp/backendhttptest"
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/federation/reason"
)

const goodBody = `{"jkbbh":"0123456789ABCDEF0123456789ABCDEF","zt":"未见异常","ztbb":3,"xm":"张小三","sfzh":"110102199001011234","scsj":"2020-02-26 09:00:00","yxqz":"2020-03-04 00:00:00"}`

var suite = backendhttptest.Dialect{
	Provsim:        provsim.DialectBeijing,
	Jurisdiction:   "110000",
	ResidentID:     "110102199001011234",
	Stranger:       "120102199001011234",
	CodeID:         "0123456789ABCDEF0123456789ABCDEF",
	Format:         "beijing",
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
		{"unknown status", 200, strings.Replace(goodBody, `"未见异常"`, `"解除观察"`, 1), reason.ColorUnknown, nil},
		{"colour word", 200, strings.Replace(goodBody, `"未见异常"`, `"green"`, 1), reason.ColorUnknown, nil},
		{"status with space", 200, strings.Replace(goodBody, `"未见异常"`, `"未见异常 "`, 1), reason.ColorUnknown, nil},
		{"empty status", 200, strings.Replace(goodBody, `"未见异常"`, `""`, 1), reason.ColorUnknown, nil},
		{"case-folded field", 200, strings.Replace(goodBody, `"jkbbh"`, `"JKBBH"`, 1), reason.Malformed, nil},
		{"duplicate field", 200, strings.Replace(goodBody, `{`, `{"zt":"集中观察",`, 1), reason.Malformed, nil},
		{"missing field", 200, strings.Replace(goodBody, `"ztbb":3,`, ``, 1), reason.Malformed, nil},
		{"rfc3339 time", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-03-04T00:00:00+08:00`, 1), reason.Malformed, nil},
		{"no seconds", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-03-04 00:00`, 1), reason.Malformed, nil},
		{"impossible date", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-02-30 00:00:00`, 1), reason.Malformed, nil},
		{"until before issue", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-02-26 08:00:00`, 1), reason.TimestampsInvalid, nil},
		{"other code id", 200, strings.Replace(goodBody, `0123456789ABCDEF0123456789ABCDEF`, `FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF`, 1), reason.Malformed, nil},
		{"bad sfzh", 200, strings.Replace(goodBody, `110102199001011234`, `11010219900101123`, 1), reason.Malformed, nil},
	},
	Payloads: []backendhttptest.Payload{
		{"BJJKB:0123456789ABCDEF0123456789ABCDEF", true, "0123456789ABCDEF0123456789ABCDEF", ""},
		{"BJJKB:abc0123456789XYZ", true, "abc0123456789XYZ", ""},
		{"BJJKB:0123456789ABCDEF0123456789ABCDEF ", true, "", reason.Malformed},
		{"bjjkb:0123456789ABCDEF0123456789ABCDEF", false, "", reason.UnsupportedFormat},
		{"ZJHC:AAAAAAAAAAAAAAAAAAAAAA", false, "", reason.UnsupportedFormat},
		{"BJJKB:0123456789ABCDEF-123456789ABCDEF", true, "", reason.Malformed},
	},
}

func TestAdapter(t *testing.T) { backendhttptest.Run(t, suite) }

func TestStatusMapping(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		e    provsim.Enrolment
		want adapters.Color
	}{
		{"未见异常", provsim.Enrolment{}, adapters.Green},
		{"居家观察", provsim.Enrolment{TravelHistory: []string{"420100"}}, adapters.Yellow},
		{"集中观察", provsim.Enrolment{Symptoms: true}, adapters.Red},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backendhttptest.NewBackend(t, suite, tt.e)
			st, err := b.Ad.Issue(ctx, suite.ResidentID)
			if err != nil || st.Color != tt.want {
				t.Fatalf("got %+v %v, want %s", st, err, tt.want)
			}
			if c, err := ColorOf(tt.name); err != nil || c != tt.want {
				t.Fatalf("ColorOf(%s) = %s %v", tt.name, c, err)
			}
		})
	}
	if _, err := ColorOf("green"); reason.Of(err) != reason.ColorUnknown {
		t.Fatalf("ColorOf(green): %v", err)
	}
}
