package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Foreign trust material (issue 4 §3): EU DCC document signer certificates
// and SMART Health Card issuer JWKS, registered under XX-<ISO 3166>
// jurisdictions with the same signed-command rules as issuer keys.

// MaxTrustBytes caps one DSC (DER) or one issuer JWKS, in bytes.
const MaxTrustBytes = 16 << 10

type dscEntry struct {
	pb   *roamv1.DocumentSigner
	cert *x509.Certificate
}

type shcEntry struct {
	pb      *roamv1.ShcIssuer
	keys    map[string]*ecdsa.PublicKey // kid -> ES256 key
	revoked map[string]bool             // "<kid>.<rid>"
}

func foreign(j string) bool { return strings.HasPrefix(j, "XX-") }

// DCCKid is the DCC kid of a DSC: the first 8 bytes of SHA-256 over its DER.
func DCCKid(der []byte) []byte {
	sum := sha256.Sum256(der)
	return sum[:8]
}

func applyAddDSC(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.AddDocumentSigner)
	if _, ok := s.jurisdictions[c.GetJurisdiction()]; !ok || !foreign(c.GetJurisdiction()) {
		return "", refuse("jurisdiction %q is not a registered foreign jurisdiction (XX-<ISO 3166>)", c.GetJurisdiction())
	}
	if len(c.GetDer()) == 0 || len(c.GetDer()) > MaxTrustBytes {
		return "", refuse("der must be 1-%d bytes", MaxTrustBytes)
	}
	cert, err := x509.ParseCertificate(c.GetDer())
	if err != nil {
		return "", refuse("der is not an X.509 certificate")
	}
	switch cert.PublicKeyAlgorithm {
	case x509.ECDSA, x509.RSA:
	default:
		return "", refuse("a DSC's key must be ECDSA P-256 or RSA")
	}
	sum := sha256.Sum256(c.GetDer())
	id := hex.EncodeToString(sum[:])
	if _, ok := s.dscs[id]; ok {
		return "", refuse("this DSC is already registered")
	}
	s.dscs[id] = &dscEntry{pb: &roamv1.DocumentSigner{Kid: sum[:8], Jurisdiction: c.GetJurisdiction(), Der: append([]byte(nil), c.GetDer()...)}, cert: cert}
	return fmt.Sprintf("DSC %x of %s added (%s)", sum[:8], c.GetJurisdiction(), cert.Subject.CommonName), nil
}

func applyRevokeDSC(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.RevokeDocumentSigner)
	e, ok := s.dscs[hex.EncodeToString(c.GetDerSha256())]
	if !ok {
		return "", refuse("no DSC has that SHA-256")
	}
	if e.pb.GetRevoked() {
		return "", refuse("the DSC is already revoked")
	}
	n := *e
	n.pb = proto.Clone(e.pb).(*roamv1.DocumentSigner)
	n.pb.Revoked = true
	s.dscs[hex.EncodeToString(c.GetDerSha256())] = &n
	return fmt.Sprintf("DSC %x of %s revoked", e.pb.GetKid(), e.pb.GetJurisdiction()), nil
}

func applySetShcIssuer(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.SetShcIssuer)
	if _, ok := s.jurisdictions[c.GetJurisdiction()]; !ok || !foreign(c.GetJurisdiction()) {
		return "", refuse("jurisdiction %q is not a registered foreign jurisdiction (XX-<ISO 3166>)", c.GetJurisdiction())
	}
	if !strings.HasPrefix(c.GetUrl(), "https://") || len(c.GetUrl()) > 256 || strings.HasSuffix(c.GetUrl(), "/") {
		return "", refuse("url must be the issuer's https:// iss, without a trailing slash, at most 256 bytes")
	}
	if old, ok := s.shc[c.GetUrl()]; ok && old.pb.GetJurisdiction() != c.GetJurisdiction() {
		return "", refuse("issuer %s belongs to %s", c.GetUrl(), old.pb.GetJurisdiction())
	}
	if len(c.GetJwks()) == 0 || len(c.GetJwks()) > MaxTrustBytes {
		return "", refuse("jwks must be 1-%d bytes", MaxTrustBytes)
	}
	keys, err := parseShcJWKS(c.GetJwks())
	if err != nil {
		return "", refuse("jwks: %v", err)
	}
	e := &shcEntry{pb: &roamv1.ShcIssuer{Url: c.GetUrl(), Jurisdiction: c.GetJurisdiction(), Jwks: append([]byte(nil), c.GetJwks()...)}, keys: keys, revoked: map[string]bool{}}
	if old, ok := s.shc[c.GetUrl()]; ok { // keep revocations across key rotation
		e.pb.Revoked = append([]string(nil), old.pb.GetRevoked()...)
		for _, r := range e.pb.Revoked {
			e.revoked[r] = true
		}
	}
	s.shc[c.GetUrl()] = e
	return fmt.Sprintf("SHC issuer %s of %s set (%d keys)", c.GetUrl(), c.GetJurisdiction(), len(keys)), nil
}

// parseShcJWKS keeps the ES256 (P-256) keys of a JWKS whose kid is their
// RFC 7638 thumbprint (SMART Health Cards requires it).
func parseShcJWKS(b []byte) (map[string]*ecdsa.PublicKey, error) {
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("not a JWKS")
	}
	out := map[string]*ecdsa.PublicKey{}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		var raw any
		if err := k.Raw(&raw); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		pk, ok := raw.(*ecdsa.PublicKey)
		if !ok || pk.Curve != elliptic.P256() {
			continue // SHC verifies ES256 only; other keys are ignored
		}
		if _, err := pk.ECDH(); err != nil {
			return nil, fmt.Errorf("key %d is not a valid P-256 point", i)
		}
		tp, err := roamjws.Thumbprint(k)
		if err != nil {
			return nil, err
		}
		if k.KeyID() != tp {
			return nil, fmt.Errorf("key %d: kid %q is not its RFC 7638 thumbprint", i, k.KeyID())
		}
		out[tp] = pk
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ES256 key")
	}
	return out, nil
}

func applyRevokeShc(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.RevokeShc)
	e, ok := s.shc[c.GetUrl()]
	if !ok {
		return "", refuse("SHC issuer %q is not registered", c.GetUrl())
	}
	if c.GetKid() == "" || c.GetRid() == "" || len(c.GetRid()) > 64 || strings.Contains(c.GetKid(), ".") {
		return "", refuse("kid and rid (at most 64 bytes) are required")
	}
	key := c.GetKid() + "." + c.GetRid()
	if e.revoked[key] {
		return "", refuse("rid %s of %s is already revoked", c.GetRid(), c.GetKid())
	}
	n := &shcEntry{pb: proto.Clone(e.pb).(*roamv1.ShcIssuer), keys: e.keys, revoked: map[string]bool{key: true}}
	for r := range e.revoked {
		n.revoked[r] = true
	}
	n.pb.Revoked = append(n.pb.Revoked, key)
	sort.Strings(n.pb.Revoked)
	s.shc[c.GetUrl()] = n
	return fmt.Sprintf("SHC rid %s of %s revoked", c.GetRid(), c.GetUrl()), nil
}

// foreignJurisdictionOf says whose admin may change a foreign trust item.
func (s *state) foreignJurisdictionOf(m proto.Message) string {
	switch c := m.(type) {
	case *roamv1.AddDocumentSigner:
		return c.GetJurisdiction()
	case *roamv1.RevokeDocumentSigner:
		if e, ok := s.dscs[hex.EncodeToString(c.GetDerSha256())]; ok {
			return e.pb.GetJurisdiction()
		}
	case *roamv1.SetShcIssuer:
		return c.GetJurisdiction()
	case *roamv1.RevokeShc:
		if e, ok := s.shc[c.GetUrl()]; ok {
			return e.pb.GetJurisdiction()
		}
	}
	return ""
}

// DSCs implements the DCC trust list over the local replica: the
// non-revoked document signer certificates with this kid (collisions
// included).
func (f *FSM) DSCs(kid []byte) []*x509.Certificate {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*x509.Certificate
	for _, e := range f.st.dscs {
		if !e.pb.GetRevoked() && string(e.pb.GetKid()) == string(kid) {
			out = append(out, e.cert)
		}
	}
	return out
}

// DSCJurisdiction is the jurisdiction a DSC is registered to.
func (f *FSM) DSCJurisdiction(der []byte) (string, bool) {
	sum := sha256.Sum256(der)
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.dscs[hex.EncodeToString(sum[:])]
	if !ok {
		return "", false
	}
	return e.pb.GetJurisdiction(), true
}

// ShcKey returns an SHC issuer's ES256 key by kid.
func (f *FSM) ShcKey(issuer, kid string) (*ecdsa.PublicKey, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.shc[issuer]
	if !ok {
		return nil, false
	}
	k, ok := e.keys[kid]
	return k, ok
}

// ShcRevoked reports whether an SHC issuer revoked rid for kid.
func (f *FSM) ShcRevoked(issuer, kid, rid string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.shc[issuer]
	return ok && e.revoked[kid+"."+rid]
}

func (s *state) sortedForeign(out *roamv1.RegistrySnapshot) {
	for _, id := range sortedKeys(s.dscs) {
		out.DocumentSigners = append(out.DocumentSigners, proto.Clone(s.dscs[id].pb).(*roamv1.DocumentSigner))
	}
	for _, u := range sortedKeys(s.shc) {
		out.ShcIssuers = append(out.ShcIssuers, proto.Clone(s.shc[u].pb).(*roamv1.ShcIssuer))
	}
}

// ShcIssuerJurisdiction is the jurisdiction an SHC issuer URL is
// registered to.
func (f *FSM) ShcIssuerJurisdiction(issuer string) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.shc[issuer]
	if !ok {
		return "", false
	}
	return e.pb.GetJurisdiction(), true
}

// ShcKeys adapts the registry to the SMART Health Cards verifier's key
// interface (adapters/shc.Keys).
type ShcKeys struct{ F *FSM }

// Key returns an issuer's registered ES256 key.
func (k ShcKeys) Key(issuer, kid string) (*ecdsa.PublicKey, bool) { return k.F.ShcKey(issuer, kid) }

// IssuersOf returns the SHC issuer URLs that registered kid, sorted, so
// a card signed with another registered issuer's key is refused as
// key_issuer_mismatch rather than unknown_key (shc.KeyIssuers). It scans
// the SHC issuers (a handful) and is called only when a lookup failed.
func (k ShcKeys) IssuersOf(kid string) []string { return k.F.ShcIssuersOf(kid) }

// ShcIssuersOf returns the SHC issuer URLs that registered kid, sorted.
func (f *FSM) ShcIssuersOf(kid string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for _, u := range sortedKeys(f.st.shc) {
		if _, ok := f.st.shc[u].keys[kid]; ok {
			out = append(out, u)
		}
	}
	return out
}

// Revoked reports a revoked rid.
func (k ShcKeys) Revoked(issuer, kid, rid string, _ time.Time) bool {
	return k.F.ShcRevoked(issuer, kid, rid)
}
