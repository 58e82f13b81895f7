package console

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/roam-federation/roam/adapters/qrimage"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/recognition"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

//go:embed static
var staticFS embed.FS

// Limits on what a browser may send, in bytes.
const (
	// maxCodeBytes caps a pasted code; the pipeline caps it again with its
	// own reason (input_too_large).
	maxCodeBytes = 64 << 10
	// maxUploadBytes caps a QR photo upload (qrimage.MaxFileBytes plus
	// the multipart envelope).
	maxUploadBytes = qrimage.MaxFileBytes + 64<<10
	// maxJSONBytes caps a JSON request body (prepare and submit).
	maxJSONBytes = 256 << 10
	// commandTTL is how long a prepared command may wait for its
	// signatures, seconds granularity (registry.MaxCommandTTL caps it).
	commandTTL = 15 * time.Minute
	// auditShown is how many of the newest audit records the admin page gets.
	auditShown = 200
)

// Info describes the node serving the console.
type Info struct {
	NodeID       string   `json:"node_id"`
	Jurisdiction string   `json:"jurisdiction"`
	Name         string   `json:"name"`
	Checkpoints  []string `json:"checkpoints"`
}

// Member is one Raft server as the admin page shows it. AppliedIndex and
// Lag (entries behind the leader's commit index) are filled when the
// member answered; Error says why not otherwise.
type Member struct {
	ID           string `json:"id"`
	RaftAddress  string `json:"raft_address"`
	GRPCAddress  string `json:"grpc_address"`
	Voter        bool   `json:"voter"`
	Leader       bool   `json:"leader"`
	State        string `json:"state,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	Lag          int64  `json:"lag"`
	Error        string `json:"error,omitempty"`
}

// Cluster is the serving node's view of the Raft cluster.
type Cluster struct {
	NodeID        string   `json:"node_id"`
	State         string   `json:"state"`
	Term          uint64   `json:"term"`
	CommitIndex   uint64   `json:"commit_index"`
	AppliedIndex  uint64   `json:"applied_index"`
	LastContactMs int64    `json:"last_contact_ms"`
	Members       []Member `json:"members"`
}

// Backend is what the console needs from a node. Verify and Propose
// return gRPC status errors (the node's own service methods), which the
// console maps to HTTP statuses.
type Backend interface {
	Info() Info
	// Verify decides on payload at this node for a checkpoint kind, now.
	Verify(ctx context.Context, payload []byte, checkpoint string) (*roamv1.Decision, error)
	// Registry is the applied registry state (its audit field may be
	// empty: the audit log comes from Audit).
	Registry() *roamv1.RegistrySnapshot
	// Audit is the newest limit audit records, oldest first, and the
	// number of records in all.
	Audit(limit int) ([]*roamv1.AuditRecord, int)
	// Cluster asks every member for its applied index (bounded by ctx).
	Cluster(ctx context.Context) (*Cluster, error)
	// Propose submits a signed registry command, as RegistryService.Propose.
	Propose(ctx context.Context, sc *roamv1.SignedCommand) (*roamv1.ProposeResponse, error)
	// Now is the node's clock (simulated in the demo).
	Now() time.Time
}

// Options tune the handler.
type Options struct {
	// LocalOnly answers only requests whose Host header names a loopback
	// address (localhost, 127.0.0.1, [::1]); set it when the console
	// listens on loopback, so a web page the operator visits cannot reach
	// it through DNS rebinding.
	LocalOnly bool
}

// New returns the console's handler: the pages at /, /checkpoint and
// /admin, their assets under /static/, and the JSON API under /api/.
func New(b Backend, o Options) http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	h := &handler{b: b, decodeSem: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	mux := http.NewServeMux()
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, sub, name)
		}
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/checkpoint", http.StatusFound)
	})
	mux.HandleFunc("GET /checkpoint", page("checkpoint.html"))
	mux.HandleFunc("GET /admin", page("admin.html"))
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /api/info", h.info)
	mux.HandleFunc("POST /api/verify", h.verify)
	mux.HandleFunc("GET /api/registry", h.registry)
	mux.HandleFunc("GET /api/cluster", h.cluster)
	mux.HandleFunc("POST /api/admin/prepare", h.prepare)
	mux.HandleFunc("POST /api/admin/submit", h.submit)
	allowed := map[string]string{"/api/info": "GET", "/api/verify": "POST", "/api/registry": "GET", "/api/cluster": "GET",
		"/api/admin/prepare": "POST", "/api/admin/submit": "POST"}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := allowed[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s takes %s, not %s", r.URL.Path, m, r.Method))
			return
		}
		WriteError(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s %s is not a console API call", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		if o.LocalOnly && !loopbackHost(r.Host) {
			WriteError(w, http.StatusMisdirectedRequest, "host_not_local", fmt.Sprintf("this console serves localhost only; Host %q is not a loopback name", r.Host))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// securityHeaders: the pages load nothing from elsewhere, may use the
// camera of this origin only, and are never framed.
func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Permissions-Policy", "camera=(self)")
}

type handler struct {
	b Backend
	// decodeSem bounds the QR photos decoded at once (half the cores, at
	// least one), so uploads cannot starve Raft of CPU or the process of
	// memory (found by review: 64 parallel uploads took 10 GB and forced
	// elections); decodeWaiting counts the uploads queued for it.
	decodeSem     chan struct{}
	decodeWaiting atomic.Int32
}

// Upload queue bounds: beyond maxDecodeWaiting queued photos, or after
// decodeWait in the queue, an upload is answered 503 busy.
const (
	maxDecodeWaiting = 16
	decodeWait       = 10 * time.Second
)

// acquireDecode takes a decode slot, or reports false when the queue is
// full, the wait is over or the request is gone; release with <-h.decodeSem.
func (h *handler) acquireDecode(ctx context.Context) bool {
	if h.decodeWaiting.Add(1) > maxDecodeWaiting {
		h.decodeWaiting.Add(-1)
		return false
	}
	defer h.decodeWaiting.Add(-1)
	t := time.NewTimer(decodeWait)
	defer t.Stop()
	select {
	case h.decodeSem <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// apiError is every error body: a stable code (a reason code where the
// input was the problem) and a message a person can act on.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// WriteError writes the console's JSON error body {"error": {"code",
// "message"}} with an HTTP status; the node's own middleware (rate limit)
// answers in the same shape.
func WriteError(w http.ResponseWriter, httpCode int, code, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, msg
	writeJSON(w, httpCode, e)
}

// writeStatus maps a node's gRPC status error to HTTP: the caller's
// mistakes are 4xx with the node's own message, an unavailable node 503.
func writeStatus(w http.ResponseWriter, err error) {
	st, _ := status.FromError(err)
	httpCode := map[codes.Code]int{
		codes.InvalidArgument:    http.StatusBadRequest,
		codes.FailedPrecondition: http.StatusConflict,
		codes.AlreadyExists:      http.StatusConflict,
		codes.PermissionDenied:   http.StatusForbidden,
		codes.Unauthenticated:    http.StatusUnauthorized,
		codes.NotFound:           http.StatusNotFound,
		codes.OutOfRange:         http.StatusBadRequest,
		codes.ResourceExhausted:  http.StatusTooManyRequests,
		codes.Unavailable:        http.StatusServiceUnavailable,
		codes.DeadlineExceeded:   http.StatusGatewayTimeout,
		codes.Canceled:           499,
	}[st.Code()]
	if httpCode == 0 {
		httpCode = http.StatusInternalServerError
	}
	WriteError(w, httpCode, snake(st.Code().String()), st.Message())
}

// snake turns a gRPC code name (InvalidArgument) into the snake_case of
// every other error code here (invalid_argument).
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (h *handler) info(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.b.Info())
}

// ReasonView is one reason with its catalogue titles (reason.TextOf).
type ReasonView struct {
	Code    string `json:"code"`
	ZH      string `json:"zh"`
	EN      string `json:"en"`
	Message string `json:"message"`
	// MessageZH is the message in Chinese where its source wrote one (a
	// host policy's message_zh), else "".
	MessageZH string `json:"message_zh,omitempty"`
}

// DecisionView is the checkpoint page's decision. Outcome is PASS,
// QUARANTINE_7D, QUARANTINE_14D, TEST_REQUIRED, REJECT or UNDECIDED.
type DecisionView struct {
	Outcome       string       `json:"outcome"`
	OutcomeZH     string       `json:"outcome_zh"`
	Reasons       []ReasonView `json:"reasons"`
	Host          string       `json:"host"`
	Issuer        string       `json:"issuer"`
	AgreementID   string       `json:"agreement_id"`
	PolicyVersion string       `json:"policy_version"`
	RegistryIndex uint64       `json:"registry_index"`
	EvaluatedAt   string       `json:"evaluated_at"`
	// Source is "text" for a pasted code, "image" for a decoded QR photo.
	Source string `json:"source"`
}

// View turns a decision into what the page shows.
func View(d *roamv1.Decision, source string) DecisionView {
	v := DecisionView{
		Outcome: recognition.OutcomeName(d.GetOutcome()), OutcomeZH: recognition.OutcomeZH(d.GetOutcome()), Host: d.GetHost(), Issuer: d.GetIssuer(),
		AgreementID: d.GetAgreementId(), PolicyVersion: d.GetPolicyVersion(),
		RegistryIndex: d.GetRegistryIndex(), Source: source, Reasons: []ReasonView{},
	}
	if d.GetEvaluatedAt() != nil {
		v.EvaluatedAt = d.GetEvaluatedAt().AsTime().Format(time.RFC3339)
	}
	for _, r := range d.GetReasons() {
		t := reason.TextOf(reason.Code(r.GetCode()))
		v.Reasons = append(v.Reasons, ReasonView{Code: r.GetCode(), ZH: t.ZH, EN: t.EN, Message: r.GetMessage(), MessageZH: r.GetMessageZh()})
	}
	return v
}

// verify takes either a JSON body {"code": "...", "checkpoint": "..."} or a
// multipart form with fields checkpoint and image (a PNG or JPEG photo of
// the QR code, decoded here: issue 7 §2 allows server-side decoding).
func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	var code, checkpoint, source string
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
		mr, err := r.MultipartReader()
		if err != nil {
			WriteError(w, http.StatusBadRequest, string(reason.Malformed), "multipart form: "+err.Error())
			return
		}
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				WriteError(w, http.StatusRequestEntityTooLarge, string(reason.InputTooLarge), fmt.Sprintf("upload: a photo may be up to %d bytes", qrimage.MaxFileBytes))
				return
			}
			if err != nil {
				WriteError(w, http.StatusBadRequest, string(reason.Malformed), "multipart form: "+err.Error())
				return
			}
			switch p.FormName() {
			case "checkpoint":
				b, _ := io.ReadAll(io.LimitReader(p, 64))
				checkpoint = string(b)
			case "image":
				if !h.acquireDecode(r.Context()) {
					w.Header().Set("Retry-After", "2")
					WriteError(w, http.StatusServiceUnavailable, "busy", "this node is reading other QR photos; retry in a moment, or paste the code text")
					return
				}
				text, err := qrimage.Decode(p)
				<-h.decodeSem
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					WriteError(w, http.StatusRequestEntityTooLarge, string(reason.InputTooLarge), fmt.Sprintf("upload: a photo may be up to %d bytes", qrimage.MaxFileBytes))
					return
				}
				if err != nil {
					c := reason.Of(err)
					if errors.Is(err, qrimage.ErrNoQR) {
						c = reason.Malformed
					}
					st := http.StatusUnprocessableEntity
					if c == reason.InputTooLarge {
						st = http.StatusRequestEntityTooLarge
					}
					WriteError(w, st, string(c), "QR photo: "+err.Error())
					return
				}
				code, source = text, "image"
			}
		}
		if source == "" {
			WriteError(w, http.StatusBadRequest, string(reason.Malformed), "multipart form: no image field with a QR photo")
			return
		}
	case "application/json":
		var req struct {
			Code       string `json:"code"`
			Checkpoint string `json:"checkpoint"`
		}
		if !decodeJSON(w, r, maxCodeBytes+1024, &req) {
			return
		}
		code, checkpoint, source = strings.TrimSpace(req.Code), req.Checkpoint, "text"
	default:
		WriteError(w, http.StatusUnsupportedMediaType, string(reason.Malformed), "send application/json {code, checkpoint} or multipart/form-data with image and checkpoint")
		return
	}
	if code == "" {
		WriteError(w, http.StatusBadRequest, string(reason.Malformed), "no code: paste the code text or upload a photo of its QR")
		return
	}
	if checkpoint == "" {
		WriteError(w, http.StatusBadRequest, string(reason.CheckpointUnknown), "choose a checkpoint kind")
		return
	}
	d, err := h.b.Verify(r.Context(), []byte(code), checkpoint)
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument && strings.HasPrefix(st.Message(), "checkpoint:") {
		WriteError(w, http.StatusBadRequest, string(reason.CheckpointUnknown), st.Message())
		return
	}
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeJSON(w, http.StatusOK, View(d, source))
}

// decodeJSON reads one JSON object of at most limit bytes into v, with no
// unknown fields, and writes the error itself when it fails.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	// application/json only: a cross-site HTML form can send text/plain or
	// form bodies without a CORS preflight, never application/json.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		WriteError(w, http.StatusUnsupportedMediaType, string(reason.Malformed), "send the request body as application/json")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, string(reason.InputTooLarge), fmt.Sprintf("request body is over %d bytes", limit))
		} else {
			WriteError(w, http.StatusBadRequest, string(reason.Malformed), "request body: "+err.Error())
		}
		return false
	}
	if dec.More() {
		WriteError(w, http.StatusBadRequest, string(reason.Malformed), "request body: one JSON object expected")
		return false
	}
	return true
}

// RegistryView is the admin page's registry: what the matrix, the key
// table and the audit log need, never key material beyond public JWKs.
type RegistryView struct {
	Index uint64 `json:"index"`
	// Now is the node's clock, Unix seconds: an ACTIVE agreement whose
	// window starts later is not yet in force.
	Now            int64             `json:"now"`
	NationalQuorum uint32            `json:"national_quorum"`
	Jurisdictions  []JurisdictionRow `json:"jurisdictions"`
	Agreements     []AgreementRow    `json:"agreements"`
	AdminKeys      []AdminKeyRow     `json:"admin_keys"`
	Audit          []AuditRow        `json:"audit"`
	AuditTotal     int               `json:"audit_total"`
}

// JurisdictionRow is one jurisdiction and its issuer keys.
type JurisdictionRow struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	CodeSystem string   `json:"code_system"`
	Keys       []KeyRow `json:"keys"`
}

// KeyRow is one issuer key; times are Unix seconds (0: unbounded).
type KeyRow struct {
	Kid       string `json:"kid"`
	Alg       string `json:"alg"`
	State     string `json:"state"`
	NotBefore int64  `json:"not_before"`
	NotAfter  int64  `json:"not_after"`
}

// AgreementRow is one agreement host ← issuer; times are Unix seconds.
type AgreementRow struct {
	ID             string   `json:"id"`
	Host           string   `json:"host"`
	Issuer         string   `json:"issuer"`
	Version        uint64   `json:"version"`
	State          string   `json:"state"`
	EffectiveFrom  int64    `json:"effective_from"`
	EffectiveUntil int64    `json:"effective_until"`
	Colors         []string `json:"colors"`
	ProposedBy     string   `json:"proposed_by"`
	SuspendedBy    string   `json:"suspended_by,omitempty"`
	Pending        bool     `json:"pending"`
}

// AdminKeyRow is one admin key, so the page can tell whose key the
// browser holds (by RFC 7638 thumbprint).
type AdminKeyRow struct {
	Kid          string `json:"kid"`
	Jurisdiction string `json:"jurisdiction"`
	Alg          string `json:"alg"`
	Holder       string `json:"holder"`
	Revoked      bool   `json:"revoked"`
}

// AuditRow is one applied command, accepted or rejected.
type AuditRow struct {
	Index     uint64   `json:"index"`
	Time      int64    `json:"time"`
	CommandID string   `json:"command_id"`
	Type      string   `json:"type"`
	Signers   []string `json:"signer_jurisdictions"`
	Accepted  bool     `json:"accepted"`
	Reason    string   `json:"reason,omitempty"`
	Summary   string   `json:"summary"`
}

// BuildRegistryView flattens a registry snapshot and its newest audit
// records (oldest first, total in all) for the admin page, newest audit
// record first.
func BuildRegistryView(st *roamv1.RegistrySnapshot, audit []*roamv1.AuditRecord, total int) RegistryView {
	v := RegistryView{Index: st.GetIndex(), NationalQuorum: st.GetNationalQuorum(),
		Jurisdictions: []JurisdictionRow{}, Agreements: []AgreementRow{}, AdminKeys: []AdminKeyRow{}, Audit: []AuditRow{}}
	byID := map[string]int{}
	for _, j := range st.GetJurisdictions() {
		byID[j.GetId()] = len(v.Jurisdictions)
		v.Jurisdictions = append(v.Jurisdictions, JurisdictionRow{ID: j.GetId(), Name: j.GetName(), CodeSystem: j.GetCodeSystem(), Keys: []KeyRow{}})
	}
	for _, k := range st.GetKeys() {
		i, ok := byID[k.GetJurisdiction()]
		if !ok {
			continue
		}
		v.Jurisdictions[i].Keys = append(v.Jurisdictions[i].Keys, KeyRow{Kid: k.GetKid(), Alg: k.GetAlg(),
			State: strings.TrimPrefix(k.GetState().String(), "KEY_STATE_"), NotBefore: k.GetNotBefore(), NotAfter: k.GetNotAfter()})
	}
	sort.Slice(v.Jurisdictions, func(a, b int) bool { return v.Jurisdictions[a].ID < v.Jurisdictions[b].ID })
	for _, a := range st.GetAgreements() {
		v.Agreements = append(v.Agreements, AgreementRow{ID: a.GetId(), Host: a.GetHost(), Issuer: a.GetIssuer(), Version: a.GetVersion(),
			State: strings.TrimPrefix(a.GetState().String(), "AGREEMENT_STATE_"), EffectiveFrom: a.GetEffectiveFrom(), EffectiveUntil: a.GetEffectiveUntil(),
			Colors: a.GetTerms().GetColors(), ProposedBy: a.GetProposedBy(), SuspendedBy: a.GetSuspendedBy(), Pending: a.GetPending() != nil})
	}
	for _, k := range st.GetAdminKeys() {
		v.AdminKeys = append(v.AdminKeys, AdminKeyRow{Kid: k.GetKid(), Jurisdiction: k.GetJurisdiction(), Alg: k.GetAlg(), Holder: k.GetHolder(), Revoked: k.GetRevoked()})
	}
	v.AuditTotal = total
	for i := len(audit) - 1; i >= 0 && len(v.Audit) < auditShown; i-- {
		r := audit[i]
		v.Audit = append(v.Audit, AuditRow{Index: r.GetIndex(), Time: r.GetTime(), CommandID: r.GetCommandId(),
			Type: strings.TrimPrefix(r.GetType().String(), "COMMAND_TYPE_"), Signers: r.GetSignerJurisdictions(),
			Accepted: r.GetAccepted(), Reason: r.GetReason(), Summary: r.GetSummary()})
	}
	return v
}

func (h *handler) registry(w http.ResponseWriter, _ *http.Request) {
	audit, total := h.b.Audit(auditShown)
	v := BuildRegistryView(h.b.Registry(), audit, total)
	v.Now = h.b.Now().Unix()
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	c, err := h.b.Cluster(ctx)
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// prepareRequest names a registry command message (e.g. "SuspendAgreement",
// a message of package roam.v1) and its fields in protojson.
type prepareRequest struct {
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
}

// Prepared is a command ready for signing: the browser signs Payload
// (base64url, the exact CommandPayload bytes) as a compact JWS with
// protected header {"alg", "kid", "typ": Typ} (RFC 7515 §7.1) and submits
// the signature.
type Prepared struct {
	Payload   string `json:"payload"`
	Typ       string `json:"typ"`
	CommandID string `json:"command_id"`
	ExpiresAt int64  `json:"expires_at"`
	// Summary is the command in protojson, for the person about to sign.
	Summary string `json:"summary"`
}

// prepare builds the CommandPayload the admin's browser will sign. It
// holds no state: what is signed is exactly what is returned, and the FSM
// checks it when the signature comes back.
func (h *handler) prepare(w http.ResponseWriter, r *http.Request) {
	var req prepareRequest
	if !decodeJSON(w, r, maxJSONBytes, &req) {
		return
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName("roam.v1." + req.Type))
	if err != nil || req.Type == "" || strings.ContainsAny(req.Type, ". ") {
		WriteError(w, http.StatusBadRequest, "bad_command", fmt.Sprintf("type %q is not a roam.v1 registry command (e.g. SuspendAgreement)", req.Type))
		return
	}
	msg := mt.New().Interface()
	if len(req.Body) == 0 {
		req.Body = json.RawMessage("{}")
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(req.Body, msg); err != nil {
		WriteError(w, http.StatusBadRequest, "bad_command", fmt.Sprintf("body of %s: %v", req.Type, err))
		return
	}
	if _, ok := msg.(*roamv1.Genesis); ok {
		WriteError(w, http.StatusBadRequest, "bad_command", "a genesis command is applied by the bootstrapping node from its config, never proposed")
		return
	}
	cmd, err := registry.NewCommand(msg)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "bad_command", err.Error())
		return
	}
	id, err := roamjws.NewCodeID()
	if err != nil {
		WriteError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	exp := time.Now().Add(commandTTL).Unix()
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(&roamv1.CommandPayload{Id: id, ExpiresAt: exp, Command: cmd})
	if err != nil {
		WriteError(w, http.StatusBadRequest, "bad_command", err.Error())
		return
	}
	sum, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	writeJSON(w, http.StatusOK, Prepared{Payload: base64.RawURLEncoding.EncodeToString(payload), Typ: registry.TypCommand,
		CommandID: id, ExpiresAt: exp, Summary: req.Type + " " + string(sum)})
}

// submit proposes a command signed in the browser: {"signatures": [JWS…]}.
func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Signatures []string `json:"signatures"`
	}
	if !decodeJSON(w, r, maxJSONBytes, &req) {
		return
	}
	if len(req.Signatures) == 0 || len(req.Signatures) > 16 {
		WriteError(w, http.StatusBadRequest, "bad_command", "signatures: 1 to 16 compact JWS, each over the prepared payload")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	resp, err := h.b.Propose(ctx, &roamv1.SignedCommand{Signatures: req.Signatures})
	if err != nil {
		writeStatus(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"index": strconv.FormatUint(resp.GetIndex(), 10), "command_id": resp.GetCommandId()})
}
