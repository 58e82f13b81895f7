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
type Enrolment struct {
	IDNumber         string   `json:"id_number"`
	Name             string   `json:"name"`
	Address          string   `json:"address"`
	Symptoms         bool     `json:"symptoms"`
	ConfirmedContact bool     `json:"confirmed_contact"`
	TravelHistory    []string `json:"travel_history"` // GB/T 2260 codes visited in the last 14 days
}

// DailyReport is the body of POST /admin/v1/residents/{id_number}/reports.
type DailyReport struct {
	Date   string `json:"date"` // YYYY-MM-DD, CST
	Normal bool   `json:"normal"`
}

// StatusChange is the body of PUT /admin/v1/residents/{id_number}/status:
// a contact-tracing decision.
type StatusChange struct {
	Color  adapters.Color `json:"color"`
	Reason string         `json:"reason"`
}

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

// NormalizeIDNumber checks the shape of a resident identity card number
// (GB 11643-1999: 17 digits then a digit or X) and returns it with a lower
// case x upper-cased. The check digit is not verified, so that demo data need
// not carry real checksums.
func NormalizeIDNumber(s string) (string, bool) {
	if len(s) != 18 {
		return "", false
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	switch c := s[17]; {
	case c >= '0' && c <= '9', c == 'X':
		return s, true
	case c == 'x':
		return s[:17] + "X", true
	}
	return "", false
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
	id, ok := NormalizeIDNumber(e.IDNumber)
	if !ok {
		return nil, badRequest("invalid_id_number", "id_number must be 18 characters: 17 digits then a digit or X")
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
