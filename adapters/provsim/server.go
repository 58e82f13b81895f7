package provsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/clock"
)

// MaxRequestBody is the cap on admin request bodies, in bytes (64 KiB).
const MaxRequestBody = 64 << 10

var (
	bucketMeta      = []byte("meta")
	bucketResidents = []byte("residents")
	bucketReports   = []byte("reports")
	bucketCodes     = []byte("codes")
)

// Server is one simulated provincial backend. Its Handler is safe for
// concurrent use; bbolt serialises writes.
type Server struct {
	cfg     Config
	db      *bolt.DB
	handler http.Handler
}

// codeRecord is an issued native code on disk. Times are Unix seconds.
type codeRecord struct {
	IDNumber   string `json:"id_number"`
	IssuedAt   int64  `json:"issued_at"`
	ValidUntil int64  `json:"valid_until"`
}

// New validates cfg, opens (or creates) the bbolt file and returns a server.
// It fails if the file is locked by another process for more than a second,
// or if it was created for another jurisdiction or dialect.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CodeTTL == 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	db, err := bolt.Open(cfg.DBPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("provsim: open %s: %w", cfg.DBPath, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketResidents, bucketReports, bucketCodes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		for k, want := range map[string]string{"jurisdiction": cfg.Jurisdiction, "dialect": cfg.Dialect} {
			got := meta.Get([]byte(k))
			if got == nil {
				if err := meta.Put([]byte(k), []byte(want)); err != nil {
					return err
				}
				continue
			}
			if string(got) != want {
				return fmt.Errorf("%s holds %s %q, config says %q: use another DBPath", cfg.DBPath, k, got, want)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("provsim: init %s: %w", cfg.DBPath, err)
	}
	s := &Server{cfg: cfg, db: db}
	s.handler = s.routes()
	return s, nil
}

// Close closes the bbolt file. In-flight requests must have finished.
func (s *Server) Close() error { return s.db.Close() }

// Handler returns the HTTP API: the admin API, /healthz and the code API of
// the configured dialect only.
func (s *Server) Handler() http.Handler { return s.handler }

// Jurisdiction returns the GB/T 2260 code the server serves.
func (s *Server) Jurisdiction() string { return s.cfg.Jurisdiction }

// Dialect returns DialectZhejiang or DialectBeijing.
func (s *Server) Dialect() string { return s.cfg.Dialect }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "jurisdiction": s.cfg.Jurisdiction, "dialect": s.cfg.Dialect})
	})
	mux.HandleFunc("POST /admin/v1/residents", s.handleEnrol)
	mux.HandleFunc("GET /admin/v1/residents/{id}", s.handleGet)
	mux.HandleFunc("POST /admin/v1/residents/{id}/reports", s.handleReport)
	mux.HandleFunc("PUT /admin/v1/residents/{id}/status", s.handleStatus)
	switch s.cfg.Dialect {
	case DialectZhejiang:
		mux.HandleFunc("GET /zjhc/v1/codes", s.handleIssue("idNo", zjView))
		mux.HandleFunc("GET /zjhc/v1/codes/{code}", s.handleLookup(zjView))
	case DialectBeijing:
		mux.HandleFunc("GET /bjjkb/api/v1/jkb", s.handleIssue("sfzh", bjView))
		mux.HandleFunc("GET /bjjkb/api/v1/jkb/{code}", s.handleLookup(bjView))
	}
	// The catch-all answers in JSON. Because it matches every method, the
	// mux never answers 405 itself: allowedMethods asks it which methods
	// the path has routes for.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, &ruleError{http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("method %s is not allowed on this path: use %s", r.Method, strings.Join(allow, " or "))})
			return
		}
		writeError(w, notFound("not_found", "no route for %s %s on this %s-dialect backend", r.Method, r.URL.Path, s.cfg.Dialect))
	})
	return recoverJSON(mux)
}

// routeMethods are the methods allowedMethods tries.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods returns the methods that have a route (other than the
// catch-all "/") for r's path, in routeMethods order. GET routes also
// serve HEAD.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range routeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

func recoverJSON(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal", "message": "internal error"})
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var re *ruleError
	if errors.As(err, &re) {
		writeJSON(w, re.status, map[string]string{"error": re.code, "message": re.message})
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal", "message": "storage error"})
}

func (s *Server) pathID(r *http.Request) (string, *ruleError) {
	return checkIDNumber("id_number in the path", r.PathValue("id"), s.today())
}

func (s *Server) today() time.Time { return midnight(s.cfg.Clock.Now()) }

func getResident(tx *bolt.Tx, id string) (*Resident, error) {
	raw := tx.Bucket(bucketResidents).Get([]byte(id))
	if raw == nil {
		return nil, notFound("unknown_resident", "no resident with that id_number is enrolled")
	}
	var r Resident
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("corrupt resident record: %w", err)
	}
	return &r, nil
}

func putResident(tx *bolt.Tx, r *Resident) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketResidents).Put([]byte(r.IDNumber), raw)
}

func (s *Server) handleEnrol(w http.ResponseWriter, r *http.Request) {
	var e Enrolment
	if err := decodeBody(w, r, &e, enrolmentKeys); err != nil {
		writeError(w, err)
		return
	}
	res, rerr := newResident(e, s.today())
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketResidents).Get([]byte(res.IDNumber)) != nil {
			return conflict("resident_exists", "a resident with that id_number is already enrolled")
		}
		return putResident(tx, res)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	id, rerr := s.pathID(r)
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	var res *Resident
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		res, err = getResident(tx, id)
		return err
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	id, rerr := s.pathID(r)
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	var rep DailyReport
	if err := decodeBody(w, r, &rep, dailyReportKeys); err != nil {
		writeError(w, err)
		return
	}
	today := s.today()
	var res *Resident
	err := s.db.Update(func(tx *bolt.Tx) (err error) {
		if res, err = getResident(tx, id); err != nil {
			return err
		}
		key := []byte(id + "/" + rep.Date)
		if tx.Bucket(bucketReports).Get(key) != nil {
			return conflict("duplicate_report", "a report for %s was already filed", rep.Date)
		}
		if rerr := res.applyReport(rep, today); rerr != nil {
			return rerr
		}
		raw, _ := json.Marshal(map[string]bool{"normal": rep.Normal})
		if err := tx.Bucket(bucketReports).Put(key, raw); err != nil {
			return err
		}
		return putResident(tx, res)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	id, rerr := s.pathID(r)
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	var sc StatusChange
	if err := decodeBody(w, r, &sc, statusChangeKeys); err != nil {
		writeError(w, err)
		return
	}
	var res *Resident
	err := s.db.Update(func(tx *bolt.Tx) (err error) {
		if res, err = getResident(tx, id); err != nil {
			return err
		}
		if rerr := res.applyStatus(sc); rerr != nil {
			return rerr
		}
		return putResident(tx, res)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// codeView renders an issued code in a dialect's JSON shape.
type codeView func(codeID string, res *Resident, c codeRecord) any

func (s *Server) newCodeID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	if s.cfg.Dialect == DialectBeijing {
		return strings.ToUpper(hex.EncodeToString(b[:])), nil
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (s *Server) handleIssue(param string, view codeView) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if len(q[param]) != 1 {
			writeError(w, badRequest("invalid_id_number", "give exactly one %s query parameter", param))
			return
		}
		id, rerr := checkIDNumber(param, q.Get(param), s.today())
		if rerr != nil {
			writeError(w, rerr)
			return
		}
		codeID, err := s.newCodeID()
		if err != nil {
			writeError(w, err)
			return
		}
		now := s.cfg.Clock.Now().Truncate(time.Second)
		var (
			res *Resident
			rec codeRecord
		)
		err = s.db.Update(func(tx *bolt.Tx) (err error) {
			if res, err = getResident(tx, id); err != nil {
				return err
			}
			deadline := res.reportDeadline()
			if !now.Before(deadline) {
				return conflict("report_overdue", "the last daily report (or enrolment) is more than %d days old: file a report before asking for a code", ReportGraceDays)
			}
			until := now.Add(s.cfg.CodeTTL)
			if deadline.Before(until) {
				until = deadline
			}
			rec = codeRecord{IDNumber: id, IssuedAt: now.Unix(), ValidUntil: until.Unix()}
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			return tx.Bucket(bucketCodes).Put([]byte(codeID), raw)
		})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, view(codeID, res, rec))
	}
}

func (s *Server) handleLookup(view codeView) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		codeID := r.PathValue("code")
		var (
			res *Resident
			rec codeRecord
		)
		err := s.db.View(func(tx *bolt.Tx) (err error) {
			raw := tx.Bucket(bucketCodes).Get([]byte(codeID))
			if raw == nil {
				return notFound("unknown_code", "no code with that id was issued here")
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("corrupt code record: %w", err)
			}
			res, err = getResident(tx, rec.IDNumber)
			return err
		})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, view(codeID, res, rec))
	}
}

// ZhejiangCode is the zhejiang-dialect code body. Times are RFC 3339.
type ZhejiangCode struct {
	CodeID       string `json:"codeId"`
	HealthColor  string `json:"healthColor"` // green | yellow | red
	ColorVersion int64  `json:"colorVersion"`
	HolderName   string `json:"holderName"`
	IDNo         string `json:"idNo"`
	IssueTime    string `json:"issueTime"`
	ValidUntil   string `json:"validUntil"`
}

// BeijingCode is the beijing-dialect code body. Times are
// "2006-01-02 15:04:05" in UTC+8 (BeijingTimeLayout).
type BeijingCode struct {
	Jkbbh string `json:"jkbbh"` // 健康宝编号, code id
	Zt    string `json:"zt"`    // 状态: 未见异常 | 居家观察 | 集中观察
	Ztbb  int64  `json:"ztbb"`  // 状态版本, status version
	Xm    string `json:"xm"`    // 姓名, name
	Sfzh  string `json:"sfzh"`  // 身份证号, national ID number
	Scsj  string `json:"scsj"`  // 生成时间, issue time
	Yxqz  string `json:"yxqz"`  // 有效期至, valid until
}

// BeijingTimeLayout is the beijing dialect's time layout, always UTC+8.
const BeijingTimeLayout = "2006-01-02 15:04:05"

// The beijing dialect's statuses.
const (
	StatusNormal      = "未见异常" // no abnormality seen: green
	StatusHomeObs     = "居家观察" // home observation: yellow
	StatusCentralized = "集中观察" // centralized observation: red
)

// BeijingStatus maps a canonical colour to the beijing dialect's status.
func BeijingStatus(c adapters.Color) string {
	switch c {
	case adapters.Green:
		return StatusNormal
	case adapters.Yellow:
		return StatusHomeObs
	case adapters.Red:
		return StatusCentralized
	}
	return ""
}

func zjView(codeID string, res *Resident, c codeRecord) any {
	return ZhejiangCode{
		CodeID:       codeID,
		HealthColor:  string(res.Color),
		ColorVersion: res.Ver,
		HolderName:   res.Name,
		IDNo:         res.IDNumber,
		IssueTime:    time.Unix(c.IssuedAt, 0).In(clock.CST).Format(time.RFC3339),
		ValidUntil:   time.Unix(c.ValidUntil, 0).In(clock.CST).Format(time.RFC3339),
	}
}

func bjView(codeID string, res *Resident, c codeRecord) any {
	return BeijingCode{
		Jkbbh: codeID,
		Zt:    BeijingStatus(res.Color),
		Ztbb:  res.Ver,
		Xm:    res.Name,
		Sfzh:  res.IDNumber,
		Scsj:  time.Unix(c.IssuedAt, 0).In(clock.CST).Format(BeijingTimeLayout),
		Yxqz:  time.Unix(c.ValidUntil, 0).In(clock.CST).Format(BeijingTimeLayout),
	}
}
