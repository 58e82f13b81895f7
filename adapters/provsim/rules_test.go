package provsim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/clock"
)

var day0 = time.Date(2020, 2, 26, 0, 0, 0, 0, clock.CST)

func TestEnrolColours(t *testing.T) {
	tests := []struct {
		name string
		e    Enrolment
		want adapters.Color
	}{
		{"healthy", Enrolment{}, adapters.Green},
		{"symptoms", Enrolment{Symptoms: true}, adapters.Red},
		{"confirmed contact", Enrolment{ConfirmedContact: true}, adapters.Red},
		{"hubei province", Enrolment{TravelHistory: []string{"420000"}}, adapters.Yellow},
		{"wuhan city", Enrolment{TravelHistory: []string{"330100", "420100"}}, adapters.Yellow},
		{"not hubei", Enrolment{TravelHistory: []string{"330100", "410000", "142000"}}, adapters.Green},
		{"symptoms beat hubei", Enrolment{Symptoms: true, TravelHistory: []string{"420100"}}, adapters.Red},
		{"contact beats hubei", Enrolment{ConfirmedContact: true, TravelHistory: []string{"420100"}}, adapters.Red},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.e.IDNumber, tt.e.Name = "33010219900101123X", "张小三"
			r, err := newResident(tt.e, day0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Color != tt.want || r.Ver != 1 || r.Streak != 0 || r.Enrolled != "2020-02-26" {
				t.Errorf("got colour %s ver %d streak %d enrolled %s, want %s/1/0/2020-02-26", r.Color, r.Ver, r.Streak, r.Enrolled, tt.want)
			}
		})
	}
}

func TestEnrolRejects(t *testing.T) {
	tests := []struct {
		name string
		e    Enrolment
		code string
	}{
		{"short id", Enrolment{IDNumber: "3301021990", Name: "a"}, "invalid_id_number"},
		{"letter in id", Enrolment{IDNumber: "3301021990010112A4", Name: "a"}, "invalid_id_number"},
		{"Y check char", Enrolment{IDNumber: "33010219900101123Y", Name: "a"}, "invalid_id_number"},
		{"no name", Enrolment{IDNumber: "330102199001011234"}, "invalid_name"},
		{"control char in name", Enrolment{IDNumber: "330102199001011234", Name: "a\x00b"}, "invalid_name"},
		{"bad utf8 name", Enrolment{IDNumber: "330102199001011234", Name: "\xff"}, "invalid_name"},
		{"bad travel code", Enrolment{IDNumber: "330102199001011234", Name: "a", TravelHistory: []string{"42"}}, "invalid_travel_history"},
		{"impossible birth date", Enrolment{IDNumber: "330102999999991239", Name: "a"}, "invalid_id_number"},
		{"month 13", Enrolment{IDNumber: "330102199013011234", Name: "a"}, "invalid_id_number"},
		{"day 00", Enrolment{IDNumber: "330102199001001234", Name: "a"}, "invalid_id_number"},
		{"february 29 of a common year", Enrolment{IDNumber: "330102190002291234", Name: "a"}, "invalid_id_number"},
		{"born 1899-12-31", Enrolment{IDNumber: "330102189912311234", Name: "a"}, "invalid_id_number"},
		{"born tomorrow", Enrolment{IDNumber: "330102202002271234", Name: "a"}, "invalid_id_number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newResident(tt.e, day0)
			if err == nil || err.code != tt.code || err.status != 400 {
				t.Fatalf("got %v, want 400 %s", err, tt.code)
			}
		})
	}
	r, err := newResident(Enrolment{IDNumber: "33010219900101123x", Name: "a"}, day0)
	if err != nil || r.IDNumber != "33010219900101123X" {
		t.Fatalf("lower-case x: got %v %v", r, err)
	}
}

// step is one event in a resident's history: a report (day offset from
// enrolment, normal?) or a status change, and the state expected after it.
type step struct {
	day      int            // report date = enrolment + day
	normal   bool           // report outcome
	status   adapters.Color // if set, a status change instead of a report
	wantCol  adapters.Color
	wantVer  int64
	wantStr  int
	wantCode string // refusal code, if the step must be refused
}

// normals returns n consecutive normal reports from day from, expecting col
// and ver throughout and the streak counting up from startStreak+1.
func normals(from, n, startStreak int, col adapters.Color, ver int64) []step {
	var s []step
	for i := 0; i < n; i++ {
		s = append(s, step{day: from + i, normal: true, wantCol: col, wantVer: ver, wantStr: startStreak + i + 1})
	}
	return s
}

func concat(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

func TestReportRules(t *testing.T) {
	tests := []struct {
		name  string
		start adapters.Color
		steps []step
	}{
		{"yellow green after 7", adapters.Yellow, concat(
			normals(0, 6, 0, adapters.Yellow, 1),
			[]step{{day: 6, normal: true, wantCol: adapters.Green, wantVer: 2, wantStr: 7}},
			normals(7, 2, 7, adapters.Green, 2),
		)},
		{"red green after 14", adapters.Red, concat(
			normals(0, 13, 0, adapters.Red, 1),
			[]step{{day: 13, normal: true, wantCol: adapters.Green, wantVer: 2, wantStr: 14}},
		)},
		{"red not green after 7", adapters.Red, normals(0, 7, 0, adapters.Red, 1)},
		{"gap restarts streak", adapters.Yellow, concat(
			normals(0, 5, 0, adapters.Yellow, 1),
			[]step{{day: 6, normal: true, wantCol: adapters.Yellow, wantVer: 1, wantStr: 1}},
			normals(7, 5, 1, adapters.Yellow, 1),
			[]step{{day: 12, normal: true, wantCol: adapters.Green, wantVer: 2, wantStr: 7}},
		)},
		{"abnormal makes red and resets", adapters.Green, concat(
			normals(0, 3, 0, adapters.Green, 1),
			[]step{{day: 3, normal: false, wantCol: adapters.Red, wantVer: 2, wantStr: 0}},
			[]step{{day: 4, normal: false, wantCol: adapters.Red, wantVer: 2, wantStr: 0}},
			normals(5, 13, 0, adapters.Red, 2),
			[]step{{day: 18, normal: true, wantCol: adapters.Green, wantVer: 3, wantStr: 14}},
		)},
		{"abnormal during yellow", adapters.Yellow, concat(
			normals(0, 6, 0, adapters.Yellow, 1),
			[]step{{day: 6, normal: false, wantCol: adapters.Red, wantVer: 2, wantStr: 0}},
			normals(7, 7, 0, adapters.Red, 2),
		)},
		{"status change resets streak and bumps ver", adapters.Yellow, concat(
			normals(0, 5, 0, adapters.Yellow, 1),
			[]step{{status: adapters.Red, wantCol: adapters.Red, wantVer: 2, wantStr: 0}},
			normals(5, 13, 0, adapters.Red, 2),
			[]step{{day: 18, normal: true, wantCol: adapters.Green, wantVer: 3, wantStr: 14}},
		)},
		{"same-colour status keeps ver", adapters.Red, concat(
			normals(0, 10, 0, adapters.Red, 1),
			[]step{{status: adapters.Red, wantCol: adapters.Red, wantVer: 1, wantStr: 0}},
			normals(10, 13, 0, adapters.Red, 1),
			[]step{{day: 23, normal: true, wantCol: adapters.Green, wantVer: 2, wantStr: 14}},
		)},
		{"status to green", adapters.Red, []step{{status: adapters.Green, wantCol: adapters.Green, wantVer: 2}}},
		{"out of order refused", adapters.Green, []step{
			{day: 3, normal: true, wantCol: adapters.Green, wantVer: 1, wantStr: 1},
			{day: 2, normal: true, wantCode: "report_out_of_order"},
			{day: 3, normal: true, wantCode: "report_out_of_order"},
		}},
		{"before enrolment refused", adapters.Green, []step{{day: -1, normal: true, wantCode: "report_before_enrolment"}}},
		{"future refused", adapters.Green, []step{{day: 99, normal: true, wantCode: "report_in_future"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Resident{IDNumber: "330102199001011234", Name: "x", Color: tt.start, Ver: 1, Enrolled: day0.Format(DateLayout)}
			today := day0.AddDate(0, 0, 60)
			for i, s := range tt.steps {
				var err *ruleError
				if s.status != "" {
					err = r.applyStatus(StatusChange{Color: s.status, Reason: "close contact"})
				} else {
					err = r.applyReport(DailyReport{Date: day0.AddDate(0, 0, s.day).Format(DateLayout), Normal: s.normal}, today)
				}
				if s.wantCode != "" {
					if err == nil || err.code != s.wantCode || err.status != 409 {
						t.Fatalf("step %d: got %v, want 409 %s", i, err, s.wantCode)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if r.Color != s.wantCol || r.Ver != s.wantVer || r.Streak != s.wantStr {
					t.Fatalf("step %d (%+v): got %s ver %d streak %d, want %s ver %d streak %d",
						i, s, r.Color, r.Ver, r.Streak, s.wantCol, s.wantVer, s.wantStr)
				}
			}
		})
	}
}

func TestStatusRejects(t *testing.T) {
	r := &Resident{Color: adapters.Green, Ver: 1}
	for _, sc := range []StatusChange{{Color: "Red", Reason: "x"}, {Color: "blue", Reason: "x"}, {Color: adapters.Red}} {
		if err := r.applyStatus(sc); err == nil || err.status != 400 {
			t.Errorf("%+v: got %v, want 400", sc, err)
		}
	}
	if r.Color != adapters.Green || r.Ver != 1 {
		t.Errorf("refused changes altered the resident: %+v", r)
	}
}

func TestNormalizeIDNumber(t *testing.T) {
	now := time.Date(2020, 2, 26, 23, 59, 0, 0, clock.CST) // day0, late evening
	accept := []string{
		// Made-up numbers used by the demo and federation tests: their
		// check digits are mostly wrong, which is why it is not verified.
		"330106198801011234", "330102199203045678", "330104198507079012", "330108197912123456",
		"110105199002021237", "330106198801019999", "330102199001011234", "110102199001011234",
		"120102199001011234", "330106198001011234", "33010219900101123X",
		"330102190001011234", // 1900-01-01, the earliest
		"330102200002291234", // 2000-02-29, a leap day
		"330102202002261234", // born today
	}
	for _, id := range accept {
		if got, err := NormalizeIDNumber(id, now); err != nil || got != id {
			t.Errorf("NormalizeIDNumber(%s) = %q, %v; want accepted", id, got, err)
		}
	}
	if got, err := NormalizeIDNumber("33010219900101123x", now); err != nil || got != "33010219900101123X" {
		t.Errorf("lower-case x: %q %v", got, err)
	}
	// UTC 2020-02-26T16:30Z is already 2020-02-27 in CST: born that day is fine.
	if _, err := NormalizeIDNumber("330102202002271234", time.Date(2020, 2, 26, 16, 30, 0, 0, time.UTC)); err != nil {
		t.Errorf("today is the CST calendar day: %v", err)
	}
	for _, id := range []string{"330102999999991239", "330102199002301234", "330102189912311234", "330102202002271234", "3301021990010112", "33010219900101123Y", ""} {
		if _, err := NormalizeIDNumber(id, now); err == nil {
			t.Errorf("NormalizeIDNumber(%q) accepted", id)
		}
	}
}

func TestDialectFor(t *testing.T) {
	for j, want := range map[string]string{"110000": DialectBeijing, "120000": DialectBeijing, "130000": DialectBeijing,
		"330000": DialectZhejiang, "410000": DialectZhejiang, "110100": DialectZhejiang} {
		if got := DialectFor(j); got != want {
			t.Errorf("DialectFor(%s) = %s, want %s", j, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Jurisdiction: "330000", Dialect: DialectZhejiang, DBPath: "x.db", Clock: clock.Real{}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"Jurisdiction", func(c *Config) { c.Jurisdiction = "33" }},
		{"Dialect", func(c *Config) { c.Dialect = "shanghai" }},
		{"DBPath", func(c *Config) { c.DBPath = "" }},
		{"Clock", func(c *Config) { c.Clock = nil }},
		{"CodeTTL", func(c *Config) { c.CodeTTL = -time.Second }},
		{"CodeTTL", func(c *Config) { c.CodeTTL = 30 * time.Second }},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: got %v, want an error naming the field", tt.field, err)
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field || ce.Problem == "" || ce.Fix == "" {
			t.Errorf("%s: got %#v, want a *ConfigError for the field", tt.field, err)
		}
	}
}
