package provsim

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/clock"
)

// Recovery streaks (DESIGN.md §1): consecutive normal daily reports after
// which a yellow or red holder turns green.
const (
	YellowRecoveryDays = 7
	RedRecoveryDays    = 14
	// ReportGraceDays is how many days after the last report (or enrolment)
	// an issued code stays valid at most: green holders must report too.
	ReportGraceDays = 7
)

// DateLayout is the layout of report and enrolment dates ("2020-02-27"),
// always read in China Standard Time (clock.CST).
const DateLayout = "2006-01-02"

// Resident is one enrolled person as the admin API shows it. It is also the
// on-disk record. IDNumber and Name are personal data: never log them.
type Resident struct {
	IDNumber     string         `json:"id_number"` // 18 chars, GB 11643 shape
	Name         string         `json:"name"`
	Address      string         `json:"address"`
	Color        adapters.Color `json:"color"`
	Ver          int64          `json:"ver"`    // starts at 1, +1 on every colour change
	Streak       int            `json:"streak"` // consecutive normal daily reports
	LastReport   string         `json:"last_report,omitempty"`
	Enrolled     string         `json:"enrolled"` // YYYY-MM-DD, CST
	StatusReason string         `json:"status_reason,omitempty"`
}

// Enrolment is the body of POST /admin/v1/residents.
//
// id_number and name are required: a body without them (or with null) is
// refused with 400 missing_field. The other fields are optional and default
// to the healthy answer: address "", symptoms false, confirmed_contact false,
// travel_history none. Client always sends every field. Keys are
// case-sensitive; unknown and duplicate keys are refused (bad_json,
// duplicate_key).
type Enrolment struct {
	IDNumber         string   `json:"id_number"`         // required
	Name             string   `json:"name"`              // required
	Address          string   `json:"address"`           // optional, default ""
	Symptoms         bool     `json:"symptoms"`          // optional, default false
	ConfirmedContact bool     `json:"confirmed_contact"` // optional, default false
	TravelHistory    []string `json:"travel_history"`    // optional: GB/T 2260 codes visited in the last 14 days
}

// DailyReport is the body of POST /admin/v1/residents/{id_number}/reports.
// Both fields are required (400 missing_field if absent or null): a missing
// "normal" must not read as an abnormal report.
type DailyReport struct {
	Date   string `json:"date"`   // required, YYYY-MM-DD, CST
	Normal bool   `json:"normal"` // required
}

// StatusChange is the body of PUT /admin/v1/residents/{id_number}/status:
// a contact-tracing decision. Both fields are required (400 missing_field).
type StatusChange struct {
	Color  adapters.Color `json:"color"`  // required: green, yellow or red
	Reason string         `json:"reason"` // required, non-blank
}

// The JSON keys of the admin request bodies, for decodeBody: every key
// allowed, and the ones that must be present and not null.
var (
	enrolmentKeys    = bodyKeys{required: []string{"id_number", "name"}, optional: []string{"address", "symptoms", "confirmed_contact", "travel_history"}}
	dailyReportKeys  = bodyKeys{required: []string{"date", "normal"}}
	statusChangeKeys = bodyKeys{required: []string{"color", "reason"}}
)

// ruleError is a refusal with an HTTP status and a stable snake_case code.
type ruleError struct {
	status  int
	code    string
	message string
}

func (e *ruleError) Error() string { return e.code + ": " + e.message }

func badRequest(code, format string, args ...any) *ruleError {
	return &ruleError{400, code, fmt.Sprintf(format, args...)}
}

func conflict(code, format string, args ...any) *ruleError {
	return &ruleError{409, code, fmt.Sprintf(format, args...)}
}

func notFound(code, format string, args ...any) *ruleError {
	return &ruleError{404, code, fmt.Sprintf(format, args...)}
}

// NormalizeIDNumber checks a resident identity card number against
// GB 11643-1999 and returns it with a lower case x upper-cased. It checks:
//   - the shape: 17 digits then a digit or X (x is accepted);
//   - the birth date in digits 7 to 14 (YYYYMMDD): a real calendar date
//     from 1900-01-01 up to today, today being the CST calendar day of t
//     (pass the injected clock's time, never the wall clock).
//
// Non-goal: the ISO 7064 MOD 11-2 check digit (character 18) is not
// verified. The demo and the federation tests use made-up numbers such as
// 330106198801011234 whose check digits are wrong, and a resident's number is
// an opaque key to the federation; a real backend would verify it.
func NormalizeIDNumber(s string, t time.Time) (string, error) {
	id, err := checkIDNumber("id_number", s, midnight(t))
	if err != nil {
		return "", err
	}
	return id, nil
}

// minBirthDate is the earliest birth date NormalizeIDNumber accepts.
var minBirthDate = time.Date(1900, 1, 1, 0, 0, 0, 0, clock.CST)

// checkIDNumber is NormalizeIDNumber with a refusal that names field (the
// JSON field, path segment or query parameter the number came from).
func checkIDNumber(field, s string, today time.Time) (string, *ruleError) {
	if len(s) != 18 {
		return "", badRequest("invalid_id_number", "%s must be 18 characters: 17 digits then a digit or X", field)
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", badRequest("invalid_id_number", "%s must be 18 characters: 17 digits then a digit or X", field)
		}
	}
	switch c := s[17]; {
	case c >= '0' && c <= '9', c == 'X':
	case c == 'x':
		s = s[:17] + "X"
	default:
		return "", badRequest("invalid_id_number", "%s must be 18 characters: 17 digits then a digit or X", field)
	}
	birth, err := time.ParseInLocation("20060102", s[6:14], clock.CST)
	if err != nil || birth.Format("20060102") != s[6:14] {
		return "", badRequest("invalid_id_number", "%s has birth date digits %s (characters 7-14) that are not a YYYYMMDD calendar date", field, s[6:14])
	}
	if birth.Before(minBirthDate) || birth.After(today) {
		return "", badRequest("invalid_id_number", "%s has birth date %s, outside %s to today (%s)",
			field, birth.Format(DateLayout), minBirthDate.Format(DateLayout), today.Format(DateLayout))
	}
	return s, nil
}

func checkText(field, s string, required bool, maxRunes int) *ruleError {
	if required && strings.TrimSpace(s) == "" {
		return badRequest("invalid_"+field, "%s is required", field)
	}
	if !utf8.ValidString(s) {
		return badRequest("invalid_"+field, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return badRequest("invalid_"+field, "%s has %d characters; at most %d are allowed", field, n, maxRunes)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return badRequest("invalid_"+field, "%s contains a control character", field)
		}
	}
	return nil
}

// newResident applies the enrolment rules: red for symptoms or a confirmed
// contact, yellow for travel through Hubei (GB/T 2260 prefix 42), else green.
func newResident(e Enrolment, today time.Time) (*Resident, *ruleError) {
	id, rerr := checkIDNumber("id_number", e.IDNumber, today)
	if rerr != nil {
		return nil, rerr
	}
	if err := checkText("name", e.Name, true, 64); err != nil {
		return nil, err
	}
	if err := checkText("address", e.Address, false, 256); err != nil {
		return nil, err
	}
	if len(e.TravelHistory) > 64 {
		return nil, badRequest("invalid_travel_history", "travel_history has %d entries; at most 64 are allowed", len(e.TravelHistory))
	}
	hubei := false
	for i, c := range e.TravelHistory {
		if !isDivisionCode(c) {
			return nil, badRequest("invalid_travel_history", "travel_history[%d] %q is not a six-digit GB/T 2260 code", i, c)
		}
		if strings.HasPrefix(c, "42") {
			hubei = true
		}
	}
	color := adapters.Green
	switch {
	case e.Symptoms || e.ConfirmedContact:
		color = adapters.Red
	case hubei:
		color = adapters.Yellow
	}
	return &Resident{
		IDNumber: id,
		Name:     strings.TrimSpace(e.Name),
		Address:  e.Address,
		Color:    color,
		Ver:      1,
		Enrolled: today.Format(DateLayout),
	}, nil
}

// setColor changes the colour, bumping Ver only if it actually changes.
func (r *Resident) setColor(c adapters.Color) {
	if r.Color != c {
		r.Color = c
		r.Ver++
	}
}

// parseDate reads a YYYY-MM-DD date as midnight CST.
func parseDate(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(DateLayout, s, clock.CST)
	if err != nil || t.Format(DateLayout) != s {
		return time.Time{}, false
	}
	return t, true
}

// midnight returns the start of t's calendar day in CST.
func midnight(t time.Time) time.Time {
	y, m, d := t.In(clock.CST).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, clock.CST)
}

// applyReport applies one daily report dated date, on a server whose
// calendar day is today. Duplicate detection is the store's job; here a date
// on or before the last report is out of order.
func (r *Resident) applyReport(rep DailyReport, today time.Time) *ruleError {
	d, ok := parseDate(rep.Date)
	if !ok {
		return badRequest("invalid_date", "date %q is not a YYYY-MM-DD calendar date", rep.Date)
	}
	if d.After(today) {
		return conflict("report_in_future", "date %s is after today (%s): reports are for days that have begun", rep.Date, today.Format(DateLayout))
	}
	enrolled, _ := parseDate(r.Enrolled)
	if d.Before(enrolled) {
		return conflict("report_before_enrolment", "date %s is before enrolment on %s", rep.Date, r.Enrolled)
	}
	consecutive := false
	if r.LastReport != "" {
		last, _ := parseDate(r.LastReport)
		if !d.After(last) {
			return conflict("report_out_of_order", "date %s is not after the last report %s: reports are accepted in date order", rep.Date, r.LastReport)
		}
		consecutive = d.Equal(last.AddDate(0, 0, 1))
	}
	r.LastReport = rep.Date
	if !rep.Normal {
		r.Streak = 0
		r.setColor(adapters.Red)
		return nil
	}
	if consecutive {
		r.Streak++
	} else {
		r.Streak = 1
	}
	switch {
	case r.Color == adapters.Yellow && r.Streak >= YellowRecoveryDays,
		r.Color == adapters.Red && r.Streak >= RedRecoveryDays:
		r.setColor(adapters.Green)
	}
	return nil
}

// applyStatus applies a contact-tracing status change: the colour is set
// and the streak restarts.
func (r *Resident) applyStatus(s StatusChange) *ruleError {
	if _, err := adapters.ParseColor(string(s.Color)); err != nil {
		return badRequest("invalid_color", "color %q is not one of green, yellow, red", s.Color)
	}
	if err := checkText("reason", s.Reason, true, 256); err != nil {
		return err
	}
	r.Streak = 0
	r.StatusReason = s.Reason
	r.setColor(s.Color)
	return nil
}

// reportDeadline is the instant after which a new code is refused: midnight
// CST ReportGraceDays after the last report, or after enrolment if none.
func (r *Resident) reportDeadline() time.Time {
	base := r.Enrolled
	if r.LastReport != "" {
		base = r.LastReport
	}
	d, _ := parseDate(base)
	return d.AddDate(0, 0, ReportGraceDays)
}
