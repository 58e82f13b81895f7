package shc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/roam-federation/roam/adapters/jwscompact"
)

// AnyIssuer registers keys that count for every issuer (roamctl
// --trust-jwks FILE without ISSUER=, issue 4 §6).
const AnyIssuer = ""

// TrustStore is an in-memory Keys and KeyIssuers: JWK sets registered per
// issuer URL and card revocation lists per (issuer, kid). It never fetches
// anything. The zero value is empty and ready; it is safe for concurrent use.
type TrustStore struct {
	mu   sync.RWMutex
	keys map[string]map[string]*ecdsa.PublicKey // issuer → kid → key
	crls map[[2]string]map[string]int64         // (issuer, kid) → rid → revoked-before (Unix s; 0: always)
}

// AddJWKS registers the keys of a JWK set (RFC 7517 §5; an issuer's
// /.well-known/jwks.json) for issuer, an issuer URL, or AnyIssuer. Every key
// must be a public EC P-256 key, with alg ES256 and use "sig" when present,
// and kid its RFC 7638 SHA-256 thumbprint (SMART Health Cards, "Determining
// keys associated with an issuer"); x5c chains are kept by the JWK but not
// validated. On any error nothing is registered.
func (s *TrustStore) AddJWKS(issuer string, jwks []byte) error {
	if issuer != AnyIssuer {
		if err := checkIssuer(issuer); err != nil {
			return err
		}
	}
	set, err := jwk.Parse(jwks)
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	if set.Len() == 0 {
		return fmt.Errorf("jwks holds no key")
	}
	add := map[string]*ecdsa.PublicKey{}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if _, ok := k.(jwk.ECDSAPublicKey); !ok {
			return fmt.Errorf("jwks key %d: want a public EC key, got kty %s", i, k.KeyType())
		}
		if crv, _ := k.Get(jwk.ECDSACrvKey); crv != jwa.P256 {
			return fmt.Errorf("jwks key %d: curve %v, want P-256", i, crv)
		}
		if alg := k.Algorithm().String(); alg != "" && alg != "ES256" {
			return fmt.Errorf("jwks key %d: alg %s, want ES256", i, alg)
		}
		if use := k.KeyUsage(); use != "" && use != "sig" {
			return fmt.Errorf("jwks key %d: use %q, want sig", i, use)
		}
		var pub ecdsa.PublicKey
		if err := k.Raw(&pub); err != nil {
			return fmt.Errorf("jwks key %d: %w", i, err)
		}
		if pub.Curve != elliptic.P256() {
			return fmt.Errorf("jwks key %d: not a P-256 key", i)
		}
		tp, err := Thumbprint(&pub)
		if err != nil {
			return fmt.Errorf("jwks key %d: %w", i, err)
		}
		if k.KeyID() != tp {
			return fmt.Errorf("jwks key %d: kid %q is not its RFC 7638 thumbprint %q", i, k.KeyID(), tp)
		}
		add[tp] = &pub
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]map[string]*ecdsa.PublicKey{}
	}
	if s.keys[issuer] == nil {
		s.keys[issuer] = map[string]*ecdsa.PublicKey{}
	}
	for kid, pub := range add {
		s.keys[issuer][kid] = pub
	}
	return nil
}

// AddCRL registers a card revocation list (SMART Health Cards,
// "Revocation"; served at <iss>/.well-known/crl/<kid>.json) for issuer:
// {"kid": …, "method": "rid", "ctr": n, "rids": ["rid", "rid.timestamp", …]}.
// A "rid.timestamp" entry (Unix seconds) revokes only cards whose nbf is
// before timestamp. It replaces any CRL registered for the same kid. Only
// the "rid" method is supported.
func (s *TrustStore) AddCRL(issuer string, crl []byte) error {
	if err := scanStrict(crl, nil); err != nil {
		return fmt.Errorf("crl: %w", err)
	}
	var c struct {
		Kid    string          `json:"kid"`
		Method string          `json:"method"`
		Ctr    json.RawMessage `json:"ctr"`
		Rids   []string        `json:"rids"`
	}
	if err := json.Unmarshal(crl, &c); err != nil {
		return fmt.Errorf("crl: %w", err)
	}
	if c.Kid == "" {
		return fmt.Errorf("crl: kid is required")
	}
	if c.Method != "rid" {
		return fmt.Errorf("crl: method %q is not supported (want rid)", c.Method)
	}
	rids := map[string]int64{}
	for _, e := range c.Rids {
		rid, ts, hasTS := strings.Cut(e, ".")
		if rid == "" || len(rid) > maxRid || !isB64URLString(rid) {
			return fmt.Errorf("crl: rid %q must be 1 to %d base64url characters", e, maxRid)
		}
		var before int64
		if hasTS {
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("crl: rid %q has a bad timestamp", e)
			}
			before = n
		}
		if old, dup := rids[rid]; dup && (old == 0 || (before != 0 && before < old)) {
			continue // keep the wider revocation
		}
		rids[rid] = before
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crls == nil {
		s.crls = map[[2]string]map[string]int64{}
	}
	s.crls[[2]string{issuer, c.Kid}] = rids
	return nil
}

// Key returns the key registered under kid for issuer, or for AnyIssuer.
func (s *TrustStore) Key(issuer, kid string) (*ecdsa.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if k, ok := s.keys[issuer][kid]; ok {
		return k, true
	}
	k, ok := s.keys[AnyIssuer][kid]
	return k, ok
}

// IssuersOf returns the issuer URLs kid is registered under, sorted
// (AnyIssuer registrations are not listed: they match every issuer).
func (s *TrustStore) IssuersOf(kid string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for iss, ks := range s.keys {
		if _, ok := ks[kid]; ok && iss != AnyIssuer {
			out = append(out, iss)
		}
	}
	slices.Sort(out)
	return out
}

// Revoked reports whether the CRL registered for (issuer, kid) lists rid,
// with no timestamp or with a timestamp after iat (the card's nbf).
func (s *TrustStore) Revoked(issuer, kid, rid string, iat time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	before, ok := s.crls[[2]string{issuer, kid}][rid]
	if !ok {
		return false
	}
	return before == 0 || iat.Before(time.Unix(before, 0))
}

func isB64URLString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !jwscompact.IsB64URL(s[i]) {
			return false
		}
	}
	return true
}
