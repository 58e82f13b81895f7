package issuance

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
)

// Defaults.
const (
	// DefaultCodeTTL bounds a roam code's lifetime when the backend's own
	// validity is longer.
	DefaultCodeTTL = 7 * 24 * time.Hour
	// DefaultStatusTTL is the lifetime of a status assertion.
	DefaultStatusTTL = 60 * time.Second
)

// ErrUnknownCode is returned by Status for a code id this node never issued.
var ErrUnknownCode = errors.New("unknown code id")

var bucketIssued = []byte("issued") // jti -> native id

// Issuer issues roam codes for one jurisdiction.
type Issuer struct {
	native     adapters.Native
	signer     *roamjws.Signer
	clock      clock.Clock
	db         *bolt.DB
	subjectKey []byte
	codeTTL    time.Duration
	statusTTL  time.Duration
}

// Config wires an Issuer. DBPath is a bbolt file in the node's data dir;
// SubjectKey is the node's secret for pseudonymous sub (at least 32 bytes).
type Config struct {
	Native     adapters.Native
	Signer     *roamjws.Signer
	Clock      clock.Clock
	DBPath     string
	SubjectKey []byte
	CodeTTL    time.Duration
	StatusTTL  time.Duration
}

// New opens the issued-code store and returns an Issuer.
func New(c Config) (*Issuer, error) {
	if c.Native == nil || c.Signer == nil || c.Clock == nil {
		return nil, errors.New("issuance: Native, Signer and Clock are required")
	}
	if len(c.SubjectKey) < 32 {
		return nil, errors.New("issuance: SubjectKey must be at least 32 bytes")
	}
	db, err := bolt.Open(c.DBPath, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open issued-code store %s: %w", c.DBPath, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketIssued)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	if c.CodeTTL <= 0 {
		c.CodeTTL = DefaultCodeTTL
	}
	if c.StatusTTL <= 0 {
		c.StatusTTL = DefaultStatusTTL
	}
	return &Issuer{native: c.Native, signer: c.Signer, clock: c.Clock, db: db, subjectKey: c.SubjectKey, codeTTL: c.CodeTTL, statusTTL: c.StatusTTL}, nil
}

// Close closes the store.
func (is *Issuer) Close() error { return is.db.Close() }

// Jurisdiction is the GB/T 2260 code this issuer signs for.
func (is *Issuer) Jurisdiction() string { return is.native.Jurisdiction() }

// Signer is the issuer's signing key.
func (is *Issuer) Signer() *roamjws.Signer { return is.signer }

// Issue asks the backend for residentID's current native code and returns
// it as a signed roam code ("roam:" + compact JWS) with its claims. exp is
// the earlier of the backend's validity and now + CodeTTL.
func (is *Issuer) Issue(ctx context.Context, residentID string) (string, *adapters.Claims, error) {
	ns, err := is.native.Issue(ctx, residentID)
	if err != nil {
		return "", nil, err
	}
	jti, err := roamjws.NewCodeID()
	if err != nil {
		return "", nil, err
	}
	now := is.clock.Now()
	exp := now.Add(is.codeTTL)
	if !ns.ValidUntil.IsZero() && ns.ValidUntil.Before(exp) {
		exp = ns.ValidUntil
	}
	if !exp.After(now) {
		return "", nil, fmt.Errorf("backend code %s is already expired", ns.NativeID)
	}
	c := &adapters.Claims{
		Issuer:    is.native.Jurisdiction(),
		CodeID:    jti,
		Subject:   is.subject(ns.ResidentKey),
		Display:   adapters.MaskName(ns.Name),
		Color:     ns.Color,
		System:    ns.System,
		Version:   ns.Version,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expires:   exp.Unix(),
	}
	tok, err := is.signer.Sign(c, roamjws.TypCode)
	if err != nil {
		return "", nil, err
	}
	if err := is.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIssued).Put([]byte(jti), []byte(ns.NativeID))
	}); err != nil {
		return "", nil, fmt.Errorf("record issued code: %w", err)
	}
	return roamjws.Prefix + tok, c, nil
}

// Status returns a signed status assertion (typ roam-status+jwt) with the
// current colour and status version of code id jti, valid for StatusTTL.
// It returns ErrUnknownCode for a code id this node never issued.
func (is *Issuer) Status(ctx context.Context, jti string) (string, *adapters.Claims, error) {
	var nativeID string
	if err := is.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIssued).Get([]byte(jti))
		if v == nil {
			return ErrUnknownCode
		}
		nativeID = string(v)
		return nil
	}); err != nil {
		return "", nil, err
	}
	ns, err := is.native.Lookup(ctx, nativeID)
	if err != nil {
		return "", nil, err
	}
	now := is.clock.Now()
	c := &adapters.Claims{
		Issuer: is.native.Jurisdiction(), CodeID: jti, Color: ns.Color, Version: ns.Version,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(is.statusTTL).Unix(),
	}
	tok, err := is.signer.Sign(c, roamjws.TypStatus)
	if err != nil {
		return "", nil, err
	}
	return tok, c, nil
}

func (is *Issuer) subject(residentKey string) string {
	m := hmac.New(sha256.New, is.subjectKey)
	m.Write([]byte(residentKey))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}
