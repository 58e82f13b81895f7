package roamjws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// Jurisdictions used in tests (GB/T 2260).
const (
	zhejiang = "330000"
	beijing  = "110000"
)

// testAt is the verification time of every table row unless a row says
// otherwise: the demo's simulated clock (DESIGN.md §3 "Time").
var testAt = time.Date(2020, 2, 26, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// testJTI is a fixed 128-bit code id.
const testJTI = "AAECAwQFBgcICQoLDA0ODw"

// fakeResolver is an in-memory KeyResolver.
type fakeResolver struct {
	keys    map[string]*Key
	revoked map[string]bool // jurisdiction + "/" + jti
	lookups []string        // every kid asked for
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{keys: map[string]*Key{}, revoked: map[string]bool{}}
}

func (r *fakeResolver) Key(kid string) (*Key, bool) {
	r.lookups = append(r.lookups, kid)
	k, ok := r.keys[kid]
	return k, ok
}

func (r *fakeResolver) CodeRevoked(jurisdiction, jti string) bool {
	return r.revoked[jurisdiction+"/"+jti]
}

func (r *fakeResolver) add(k *Key) { r.keys[k.Kid] = k }

// testKey is one issuer key with both its private half (to forge tokens by
// hand) and its registered public half.
type testKey struct {
	alg    string
	iss    string
	kid    string
	jwk    jwk.Key
	signer *Signer
	priv   crypto.Signer // *ecdsa.PrivateKey or ed25519.PrivateKey
}

func newTestKey(tb testing.TB, alg, iss string) *testKey {
	tb.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		tb.Fatal(err)
	}
	return testKeyFromJWK(tb, k, iss)
}

func testKeyFromJWK(tb testing.TB, k jwk.Key, iss string) *testKey {
	tb.Helper()
	s, err := NewSigner(k)
	if err != nil {
		tb.Fatal(err)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		tb.Fatal(err)
	}
	var priv crypto.Signer
	switch p := raw.(type) {
	case *ecdsa.PrivateKey:
		priv = p
	case ed25519.PrivateKey:
		priv = p
	default:
		tb.Fatalf("unexpected private key %T", raw)
	}
	return &testKey{alg: s.Alg(), iss: iss, kid: s.Kid(), jwk: k, signer: s, priv: priv}
}

// registered returns the key as the registry would hold it after
// registration through ParsePublicJWK: active since 30 days before testAt.
func (k *testKey) registered(tb testing.TB) *Key {
	tb.Helper()
	pub, err := PublicJWK(k.jwk)
	if err != nil {
		tb.Fatal(err)
	}
	kid, raw, err := ParsePublicJWK(pub, k.alg)
	if err != nil {
		tb.Fatal(err)
	}
	if kid != k.kid {
		tb.Fatalf("ParsePublicJWK kid %q, signer kid %q", kid, k.kid)
	}
	return &Key{
		PublicKey: PublicKey{Kid: kid, Jurisdiction: k.iss, Alg: k.alg, Raw: raw},
		State:     KeyActive,
		NotBefore: testAt.Add(-30 * 24 * time.Hour).Unix(),
	}
}

// rawSig signs input as JWS does: raw r‖s (RFC 7518 §3.4) for ES256,
// plain Ed25519 for EdDSA.
func (k *testKey) rawSig(tb testing.TB, input string) []byte {
	tb.Helper()
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, p, h[:])
		if err != nil {
			tb.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(p, []byte(input))
	}
	tb.Fatalf("unexpected key %T", k.priv)
	return nil
}

// derSig is an ASN.1 DER ECDSA signature of the JWS signing input.
func (k *testKey) derSig(tb testing.TB, input string) []byte {
	tb.Helper()
	h := sha256.Sum256([]byte(input))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv.(*ecdsa.PrivateKey), h[:])
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signingInput is BASE64URL(header) "." BASE64URL(payload).
func signingInput(header, payload string) string {
	return enc([]byte(header)) + "." + enc([]byte(payload))
}

// forge builds a compact JWS from raw header and payload JSON and signs it
// correctly with k, bypassing Signer so any header or payload can carry a
// valid signature.
func (k *testKey) forge(tb testing.TB, header, payload string) string {
	tb.Helper()
	in := signingInput(header, payload)
	return in + "." + enc(k.rawSig(tb, in))
}

// header returns the header Signer would write, plus extra raw members
// ("name": value pairs, value already JSON).
func (k *testKey) header(typ string, extra ...string) string {
	return jsonObj(append([]string{"alg", q(k.alg), "kid", q(k.kid), "typ", q(typ)}, extra...)...)
}

// q JSON-quotes s.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonObj writes an object from name/raw-value pairs, in order, so tests can
// write duplicate or odd members.
func jsonObj(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(q(kv[i]))
		b.WriteByte(':')
		b.WriteString(kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// baseClaims are valid at testAt for a key registered by testKey.registered.
func baseClaims(iss string) adapters.Claims {
	iat := testAt.Add(-time.Hour).Unix()
	return adapters.Claims{
		Issuer:    iss,
		CodeID:    testJTI,
		Subject:   "k7Jq2mUfV0b4sXWc1Hn8pA",
		Display:   "张*三",
		Color:     adapters.Green,
		System:    "zhejiang-health-code",
		Version:   1,
		IssuedAt:  iat,
		NotBefore: iat,
		Expires:   testAt.Add(23 * time.Hour).Unix(),
	}
}

// claimsJSON marshals c the way Signer does; tests edit the text.
func claimsJSON(tb testing.TB, c adapters.Claims) string {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// edit replaces old with new in s exactly once, failing if old is absent so
// a mutation can never silently become a no-op.
func edit(tb testing.TB, s, old, new string) string {
	tb.Helper()
	if strings.Count(s, old) != 1 {
		tb.Fatalf("edit: %q occurs %d times in %s", old, strings.Count(s, old), s)
	}
	return strings.Replace(s, old, new, 1)
}

// addMember appends raw members before the closing brace of a JSON object.
func addMember(tb testing.TB, obj string, kv ...string) string {
	tb.Helper()
	extra := jsonObj(kv...)
	return obj[:len(obj)-1] + "," + extra[1:]
}

// env is one test's world: three keys, a resolver holding all of them and a
// Verifier with default limits.
type env struct {
	es    *testKey // ES256, Zhejiang
	ed    *testKey // EdDSA, Zhejiang
	other *testKey // ES256, Beijing
	res   *fakeResolver
	v     *Verifier
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{
		es:    newTestKey(tb, ES256, zhejiang),
		ed:    newTestKey(tb, EdDSA, zhejiang),
		other: newTestKey(tb, ES256, beijing),
		res:   newFakeResolver(),
	}
	for _, k := range []*testKey{e.es, e.ed, e.other} {
		e.res.add(k.registered(tb))
	}
	e.v = &Verifier{Keys: e.res}
	return e
}

// code signs claims (base claims edited by mut) with Signer as a roam code.
func (e *env) code(tb testing.TB, k *testKey, mut func(*adapters.Claims)) string {
	tb.Helper()
	c := baseClaims(k.iss)
	if mut != nil {
		mut(&c)
	}
	tok, err := k.signer.Sign(&c, TypCode)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// payload is the base claims JSON for k's jurisdiction, edited by mut.
func (e *env) payload(tb testing.TB, k *testKey, mut func(*adapters.Claims)) string {
	tb.Helper()
	c := baseClaims(k.iss)
	if mut != nil {
		mut(&c)
	}
	return claimsJSON(tb, c)
}

// row is one case of a rule table. want "" means the token is accepted.
type row struct {
	name   string
	tok    func(t *testing.T, e *env) string
	setup  func(t *testing.T, e *env) // resolver or verifier changes
	at     time.Time                  // zero: testAt
	status bool                       // VerifyStatus instead of Verify
	want   reason.Code
	after  func(t *testing.T, e *env) // extra checks after Verify
}

// runRows runs every row twice: with no cache, and with a verified-code
// cache scanning the token twice, so a cache hit must give exactly what a
// first scan gives (issue 6 §2).
func runRows(t *testing.T, rows []row) {
	t.Helper()
	for _, r := range rows {
		for _, cached := range []bool{false, true} {
			name := r.name
			if cached {
				name += "/cached"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t)
				if cached {
					e.v.Cache = NewCache(8)
				}
				if r.setup != nil {
					r.setup(t, e)
				}
				tok := r.tok(t, e)
				at := r.at
				if at.IsZero() {
					at = testAt
				}
				verify := e.v.Verify
				if r.status {
					verify = e.v.VerifyStatus
				}
				c, err := verify([]byte(tok), at)
				checkResult(t, c, err, r.want)
				if !cached {
					if r.after != nil {
						r.after(t, e)
					}
					return
				}
				c, err = verify([]byte(tok), at)
				checkResult(t, c, err, r.want)
				st := e.v.Cache.Stats()
				if wantHit := r.want == "" && !r.status; (st.Hits == 1) != wantHit {
					t.Errorf("cache stats %+v after two scans; want a hit: %v", st, wantHit)
				}
			})
		}
	}
}

func checkResult(t *testing.T, c *adapters.Claims, err error, want reason.Code) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("rejected with %v; want accepted", err)
		}
		if c == nil {
			t.Fatal("accepted with nil claims")
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted (%+v); want %s", *c, want)
	}
	if c != nil {
		t.Errorf("rejection returned claims %+v", *c)
	}
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
	}
	if got := reason.Of(err); got != want {
		t.Fatalf("reason %s (%v); want %s", got, err, want)
	}
}
