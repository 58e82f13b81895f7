package recognition

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/png"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/beijing"
	"github.com/roam-federation/roam/adapters/dcc"
	"github.com/roam-federation/roam/adapters/qrimage"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/shc"
	"github.com/roam-federation/roam/adapters/zhejiang"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Foreign issuers of the hostile world (issue 4): Austria's EU DCC document
// signer and a US SMART Health Cards issuer, both recognised by Beijing
// from 2021-07-01.
const (
	austria = "XX-AT"
	usa     = "XX-US"
	shcURL  = "https://shc.example.org/hostile"
	shcURL2 = "https://shc.example.org/another"
)

var (
	july1   = time.Date(2021, 7, 1, 0, 0, 0, 0, time.UTC)
	foreign = july1.AddDate(0, 0, 19) // when foreign certificates are checked
)

// hostile is a world (real registry, real keys) with the foreign formats
// registered and the pipeline's adapters as a node builds them
// (federation/node): roam, DCC, SHC, then the native formats.
type hostile struct {
	*world
	zj          *forger // a second registered 330000 key whose private half signs by hand
	at          *dcc.CertIssuer
	us, us2     *shc.CardIssuer
	valid       []byte           // a valid green 330000 code, version 1
	validClaims *adapters.Claims // its claims
}

// newHostile builds the world; agree adds 410000 ← 330000 from henanFrom.
func newHostile(t *testing.T, agree bool) *hostile {
	t.Helper()
	w := newWorld(t)
	h := &hostile{world: w}
	h.zj = newForger(t, roamjws.ES256)
	w.apply(&roamv1.AddKey{Key: &roamv1.IssuerKey{
		Kid: h.zj.kid, Jurisdiction: zhejiangJ, Alg: roamjws.ES256, Jwk: h.zj.pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: keysFrom.Unix(),
	}})
	if agree {
		w.agree(henan, zhejiangJ, fromHenan, nil)
	}

	dk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if h.at, err = dcc.NewCertIssuer("AT", dk, july1.AddDate(0, -1, 0), july1.AddDate(1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	sk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h.us = &shc.CardIssuer{Key: sk, URL: shcURL}
	jwks, err := h.us.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: austria, Name: "Austria", CodeSystem: "eu-dcc"}})
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: usa, Name: "United States", CodeSystem: "smart-health-card"}})
	w.apply(&roamv1.AddDocumentSigner{Jurisdiction: austria, Der: h.at.DSC.Raw})
	w.apply(&roamv1.SetShcIssuer{Jurisdiction: usa, Url: shcURL, Jwks: jwks})
	sk2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h.us2 = &shc.CardIssuer{Key: sk2, URL: shcURL2}
	jwks2, err := h.us2.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	w.apply(&roamv1.SetShcIssuer{Jurisdiction: usa, Url: shcURL2, Jwks: jwks2})
	w.apply(&roamv1.ImposeAgreement{Host: beijingJ, Issuer: austria, EffectiveFrom: july1.Unix()})
	w.apply(&roamv1.ImposeAgreement{Host: beijingJ, Issuer: usa, EffectiveFrom: july1.Unix()})

	w.p.Adapters = []adapters.Adapter{
		roamjws.Adapter{V: &roamjws.Verifier{Keys: w.fsm}},
		dcc.Adapter{Registry: w.fsm},
		shc.Adapter{V: &shc.Verifier{Keys: registry.ShcKeys{F: w.fsm}}, JurisdictionOf: w.fsm.ShcIssuerJurisdiction},
		&zhejiang.Adapter{}, &beijing.Adapter{},
	}
	h.valid, h.validClaims = w.code()
	return h
}

// forger is an issuer key whose private half the test holds, to sign any
// header and payload bytes with a real signature.
type forger struct {
	alg, kid string
	priv     crypto.Signer // *ecdsa.PrivateKey or ed25519.PrivateKey
	pub      []byte        // registrable public JWK
}

func newForger(t *testing.T, alg string) *forger {
	t.Helper()
	k, err := roamjws.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := roamjws.PublicJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	f := &forger{alg: alg, kid: s.Kid(), pub: pub}
	switch p := raw.(type) {
	case *ecdsa.PrivateKey:
		f.priv = p
	case ed25519.PrivateKey:
		f.priv = p
	default:
		t.Fatalf("unexpected private key %T", raw)
	}
	return f
}

// sig is the JWS signature of input: raw r‖s (RFC 7518 §3.4) or Ed25519.
func (f *forger) sig(t *testing.T, input string) []byte {
	t.Helper()
	switch p := f.priv.(type) {
	case *ecdsa.PrivateKey:
		return rawES256(t, p, []byte(input))
	case ed25519.PrivateKey:
		return ed25519.Sign(p, []byte(input))
	}
	t.Fatalf("unexpected key %T", f.priv)
	return nil
}

// header is the header the roam signer writes, plus raw extra members.
func (f *forger) header(extra ...string) string {
	return jsonObj(append([]string{"alg", q(f.alg), "kid", q(f.kid), "typ", q(roamjws.TypCode)}, extra...)...)
}

// forge signs header and payload text as a roam code (QR form).
func (f *forger) forge(t *testing.T, header, payload string) []byte {
	t.Helper()
	in := b64(header) + "." + b64(payload)
	return []byte(roamjws.Prefix + in + "." + enc(f.sig(t, in)))
}

// forgeSig is forge with the signature bytes passed through mut.
func (f *forger) forgeSig(t *testing.T, header, payload string, mut func(in string, sig []byte) []byte) []byte {
	t.Helper()
	in := b64(header) + "." + b64(payload)
	return []byte(roamjws.Prefix + in + "." + enc(mut(in, f.sig(t, in))))
}

func rawES256(t *testing.T, k *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func derES256(t *testing.T, k *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha256.Sum256(msg)
	der, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
func b64(s string) string { return enc([]byte(s)) }

// q JSON-quotes s.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonObj writes an object from name/raw-value pairs in order, so rows can
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

// claimsText is c as the roam signer marshals it.
func claimsText(t *testing.T, c *adapters.Claims) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old with new exactly once, so a mutation never silently
// becomes a no-op.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("edit: %q occurs %d times in %s", old, strings.Count(s, old), s)
	}
	return strings.Replace(s, old, new, 1)
}

// signText signs payload text with jurisdiction j's registered signer.
func (h *hostile) signText(t *testing.T, j, payload, typ string) []byte {
	t.Helper()
	tok, err := h.keys[j].signer.SignPayload([]byte(payload), typ)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(roamjws.Prefix + tok)
}

// jwsParts splits a signed code (QR form) into header, payload, signature.
func jwsParts(t *testing.T, code []byte) (string, string, string) {
	t.Helper()
	p := strings.Split(strings.TrimPrefix(string(code), roamjws.Prefix), ".")
	if len(p) != 3 {
		t.Fatalf("not a compact JWS: %q", code)
	}
	return p[0], p[1], p[2]
}

// signedStatus answers a status query as an issuer node does: a status
// assertion signed with the issuer's registered key, which the host then
// verifies with the registry's keys, as peering.StatusClient does.
func (h *hostile) signedStatus(c adapters.Color, v int64, typ string) func(context.Context, string, string) (*adapters.Claims, error) {
	return func(_ context.Context, issuer, jti string) (*adapters.Claims, error) {
		n := h.clock.Now()
		tok, err := h.keys[issuer].signer.Sign(&adapters.Claims{
			Issuer: issuer, CodeID: jti, Color: c, Version: v, Subject: residentSub, System: "zhejiang-health-code",
			IssuedAt: n.Unix(), NotBefore: n.Unix(), Expires: n.Add(5 * time.Minute).Unix(),
		}, typ)
		if err != nil {
			return nil, err
		}
		got, err := (&roamjws.Verifier{Keys: h.fsm}).VerifyStatus([]byte(tok), n)
		if err != nil {
			return nil, reason.New(reason.StatusInvalid, "status assertion: %v", err)
		}
		return got, nil
	}
}

// --- EU DCC crafting (HCERT: COSE_Sign1 → zlib → base45 → "HC1:") ---

// base45 encodes b (RFC 9285 §4.1).
func base45(b []byte) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	var out []byte
	for i := 0; i+1 < len(b); i += 2 {
		v := int(b[i])<<8 | int(b[i+1])
		out = append(out, alphabet[v%45], alphabet[v/45%45], alphabet[v/2025])
	}
	if len(b)%2 == 1 {
		v := int(b[len(b)-1])
		out = append(out, alphabet[v%45], alphabet[v/45])
	}
	return string(out)
}

func zlibOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// hc1 wraps a COSE message as DCC QR text.
func hc1(t *testing.T, cose []byte) []byte { return []byte(dcc.Prefix + base45(zlibOf(t, cose))) }

// dccClaims is a CWT claims set for a vaccinated Austrian traveller.
func (h *hostile) dccClaims(t *testing.T) []byte {
	t.Helper()
	dgc := map[string]any{
		"ver": "1.3.0",
		"nam": map[string]any{"fn": "Reisende", "fnt": "REISENDE", "gn": "Anna", "gnt": "ANNA"},
		"dob": "1985-04-12",
		"v": []any{map[string]any{
			"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
			"dn": 2, "sd": 2, "dt": foreign.AddDate(0, 0, -30).Format("2006-01-02"), "co": "AT", "is": "Ministry of Health",
			"ci": "URN:UVCI:01:AT:HOSTILE1#X",
		}},
	}
	b, err := cbor.Marshal(map[int64]any{1: "AT", 6: july1.Unix(), 4: july1.AddDate(1, 0, 0).Unix(), -260: map[int64]any{1: dgc}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// coseSign1 signs payload with Austria's DSC key (ES256, protected kid).
func (h *hostile) coseSign1(t *testing.T, payload []byte) *cose.Sign1Message {
	t.Helper()
	s, err := cose.NewSigner(cose.AlgorithmES256, h.at.Key)
	if err != nil {
		t.Fatal(err)
	}
	m := cose.NewSign1Message()
	m.Headers.Protected = cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: dcc.Kid(h.at.DSC)}
	m.Payload = payload
	if err := m.Sign(rand.Reader, nil, s); err != nil {
		t.Fatal(err)
	}
	return m
}

func marshalCOSE(t *testing.T, m *cose.Sign1Message) []byte {
	t.Helper()
	b, err := m.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// derCOSE re-signs m with an ASN.1 DER ECDSA signature over its real
// Sig_structure (RFC 9052 §4.4), checking that the same signature in raw
// r‖s form verifies: only the encoding is wrong.
func (h *hostile) derCOSE(t *testing.T, m *cose.Sign1Message) []byte {
	t.Helper()
	prot, err := m.Headers.MarshalProtected()
	if err != nil {
		t.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", cbor.RawMessage(prot), []byte{}, m.Payload})
	if err != nil {
		t.Fatal(err)
	}
	der := derES256(t, h.at.Key, tbs)
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &sig); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64)
	sig.R.FillBytes(raw[:32])
	sig.S.FillBytes(raw[32:])
	v, err := cose.NewVerifier(cose.AlgorithmES256, &h.at.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(tbs, raw); err != nil {
		t.Fatalf("the r‖s form of the DER signature does not verify: %v", err)
	}
	m.Headers.RawProtected = prot
	m.Signature = der
	return marshalCOSE(t, m)
}

// hmacCOSE is a COSE_Sign1 over the valid claims under prot, its signature
// an HMAC-SHA256 of the real Sig_structure keyed with the DSC's public key:
// the alg-confusion forgery in COSE.
func (h *hostile) hmacCOSE(t *testing.T, prot cose.ProtectedHeader) []byte {
	t.Helper()
	m := cose.NewSign1Message()
	m.Headers.Protected = prot
	m.Payload = h.dccClaims(t)
	rawProt, err := m.Headers.MarshalProtected()
	if err != nil {
		t.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", cbor.RawMessage(rawProt), []byte{}, m.Payload})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := h.at.Key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, pub)
	mac.Write(tbs)
	m.Headers.RawProtected = rawProt
	m.Signature = mac.Sum(nil)
	return marshalCOSE(t, m)
}

// --- SMART Health Card crafting ---

// shcCompact signs raw claims bytes (DEFLATE-compressed by Sign) as the US
// issuer and returns the numeric QR form.
func (h *hostile) shcCard(t *testing.T, claims []byte) []byte {
	t.Helper()
	tok, err := h.us.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(shc.JWSToNumeric(tok))
}

// shcWithHeader re-signs a valid card's payload under another header, with
// the US issuer's key and sig to encode the signature.
func (h *hostile) shcWithHeader(t *testing.T, header string, sig func(in string) []byte) []byte {
	t.Helper()
	valid, err := shc.NumericToJWS(string(h.shcValid(t)))
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Split(valid, ".")[1]
	in := b64(header) + "." + payload
	return []byte(shc.JWSToNumeric(in + "." + enc(sig(in))))
}

func (h *hostile) shcValid(t *testing.T) []byte {
	t.Helper()
	card, err := h.us.VaccinationCard(foreign.AddDate(0, 0, -10), "207", foreign.AddDate(0, 0, -60), foreign.AddDate(0, 0, -30))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(card)
}

func (h *hostile) shcKid(t *testing.T) string {
	t.Helper()
	kid, err := shc.Thumbprint(&h.us.Key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// --- images ---

func qrPNG(t *testing.T, text []byte) []byte {
	t.Helper()
	b, err := qrimage.PNG(string(text), 512)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pngOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeaderOnly is a well-formed PNG signature and IHDR chunk (valid CRC)
// claiming w×h pixels, followed by IEND and no image data: a pixel bomb
// that costs nothing to send.
func pngHeaderOnly(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit greyscale
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	return append(out, chunk("IEND", nil)...)
}

// hostileRow is one crafted input. payload or image gives the input; an
// image goes through qrimage.Decode (roamctl verify --image) and, if that
// reads a code, the code through the pipeline.
type hostileRow struct {
	category   string
	name       string
	setup      func(t *testing.T, h *hostile) // registry changes before the payload is made
	payload    func(t *testing.T, h *hostile) []byte
	image      func(t *testing.T, h *hostile) []byte
	host       string    // default 410000
	checkpoint string    // default intercity (410000 asks for a live status there)
	at         time.Time // default now
	status     func(h *hostile) func(context.Context, string, string) (*adapters.Claims, error)
	want       string   // outcome
	reasons    []string // exact reason codes in order; reasons[0] is the primary one
	calls      int      // live status queries expected
	// noAgreement leaves out the world's 410000 ← 330000 agreement.
	noAgreement bool
}

// TestHostileInputs sends crafted inputs in every format through the full
// recognition pipeline (issue 5 §4) and checks the exact outcome and reason
// codes. Categories (rows):
//
//	control        4  valid roam, DCC, SHC and QR image: the fixtures work
//	alg            6  none ×2, HS256 keyed with the public JWK, header alg ≠ key alg ×2, ES384
//	kid            7  another jurisdiction's key ×2, missing, empty, 10 KB, 2 KB, unregistered
//	header         6  jku, x5u, embedded jwk, crit, b64+crit, zip
//	serialisation  5  JSON flattened, flattened+unprotected, general with 2 signatures, roam:+JSON, compact with 2 signatures
//	signature      6  DER, 63 bytes, 65 bytes, EdDSA 65 bytes, bit flip, claims edited after signing
//	encoding       8  BOM before, BOM after roam:, trailing space, trailing newline, '+', '/', '=', double prefix
//	json           8  duplicate header alg/kid, duplicate payload color/iss, unknown colour ×2, lone surrogate, deep nesting
//	time           7  iat/nbf/exp in milliseconds, exp = nbf, exp < nbf, iat before the key, not yet valid
//	size           6  roam over 4 KiB (signed), DCC zlib bomb, SHC DEFLATE bomb, DCC over 8 KiB, SHC over 8 KiB, garbage
//	revocation     4  revoked key, revoked code id, retired key signing after retirement, status assertion as a code
//	agreement      5  suspended, before from, after until, terminated, none for the host
//	replay         5  old green after newer red, same under green-only terms, rolled-back status ver, code as status, disowned jti
//	dcc           14  bad base45 ×3, bad zlib ×2, not CBOR, bad COSE, COSE payload not CBOR, DER signature,
//	                  HMAC alg, no alg, unknown DSC, wrong prefix, trailing newline
//	shc           11  another registered issuer's key, odd digits, pair > 77, multi-chunk, bad JWS, alg none, jku, DER, 65-byte signature, unknown signer, wrong prefix
//	native         3  Zhejiang and Beijing native codes, native prefix over the cap
//	image          8  not an image, truncated PNG, blank, huge dimensions, file over 20 MB, 1-pixel-high strip, QR of alg none, QR of bad HC1
//
// 113 rows, 109 of them hostile.
func TestHostileInputs(t *testing.T) {
	green1 := func(h *hostile) func(context.Context, string, string) (*adapters.Claims, error) {
		return h.signedStatus(adapters.Green, 1, roamjws.TypStatus)
	}
	rej := func(codes ...reason.Code) []string {
		out := make([]string, len(codes))
		for i, c := range codes {
			out[i] = string(c)
		}
		return out
	}
	// zj signs claims with 330000's registered signer.
	zj := func(opts ...codeOpt) func(t *testing.T, h *hostile) []byte {
		return func(t *testing.T, h *hostile) []byte {
			p, _ := h.world.code(opts...)
			return p
		}
	}
	// claimsEdit signs 330000's valid claims text after edit with the
	// registered signer: a real signature over hostile claims.
	claimsEdit := func(f func(t *testing.T, s string) string) func(t *testing.T, h *hostile) []byte {
		return func(t *testing.T, h *hostile) []byte {
			return h.signText(t, zhejiangJ, f(t, claimsText(t, mkClaims(t))), roamjws.TypCode)
		}
	}
	// header signs valid claims under a hand-written header with the
	// forger key registered to 330000.
	header := func(hdr func(h *hostile) string) func(t *testing.T, h *hostile) []byte {
		return func(t *testing.T, h *hostile) []byte {
			return h.zj.forge(t, hdr(h), claimsText(t, mkClaims(t)))
		}
	}
	// sigEdit re-signs valid claims with the forger, then edits the signature.
	sigEdit := func(mut func(t *testing.T, h *hostile, in string, sig []byte) []byte) func(t *testing.T, h *hostile) []byte {
		return func(t *testing.T, h *hostile) []byte {
			return h.zj.forgeSig(t, h.zj.header(), claimsText(t, mkClaims(t)), func(in string, sig []byte) []byte { return mut(t, h, in, sig) })
		}
	}
	// tokEdit edits the valid code's text.
	tokEdit := func(f func(t *testing.T, tok []byte) []byte) func(t *testing.T, h *hostile) []byte {
		return func(t *testing.T, h *hostile) []byte { return f(t, bytes.Clone(h.valid)) }
	}
	// dccCOSE wraps hand-made COSE bytes as a DCC.
	dccCOSE := func(f func(t *testing.T, h *hostile) []byte) func(t *testing.T, h *hostile) []byte {
		return func(t *testing.T, h *hostile) []byte { return hc1(t, f(t, h)) }
	}
	text := func(s string) func(*testing.T, *hostile) []byte {
		return func(*testing.T, *hostile) []byte { return []byte(s) }
	}
	shcHeader := func(hdr func(h *hostile, kid string) string) func(t *testing.T, h *hostile) []byte {
		return func(t *testing.T, h *hostile) []byte {
			return h.shcWithHeader(t, hdr(h, h.shcKid(t)), func(in string) []byte { return rawES256(t, h.us.Key, []byte(in)) })
		}
	}
	// agreement replaces the world's 410000 ← 330000 with one in win.
	agreement := func(win window) func(t *testing.T, h *hostile) {
		return func(t *testing.T, h *hostile) { h.agree(henan, zhejiangJ, win, nil) }
	}
	fgn := func(r hostileRow) hostileRow { // a foreign certificate at Beijing in July 2021
		r.host, r.at = beijingJ, foreign
		return r
	}
	imageRow := func(r hostileRow) hostileRow { r.category = "image"; return r }

	rows := []hostileRow{
		// control: the fixtures produce codes that pass.
		{category: "control", name: "valid roam code", payload: func(t *testing.T, h *hostile) []byte { return h.valid },
			status: green1, want: "PASS", reasons: []string{rConfirmed, rPolicy}, calls: 1},
		fgn(hostileRow{category: "control", name: "valid DCC", payload: func(t *testing.T, h *hostile) []byte { return hc1(t, marshalCOSE(t, h.coseSign1(t, h.dccClaims(t)))) },
			want: "PASS", reasons: []string{rPolicy}}),
		fgn(hostileRow{category: "control", name: "valid SHC", payload: func(t *testing.T, h *hostile) []byte { return h.shcValid(t) },
			want: "PASS", reasons: []string{rPolicy}}),
		{category: "control", name: "valid roam code in a QR image", image: func(t *testing.T, h *hostile) []byte { return qrPNG(t, h.valid) },
			status: green1, want: "PASS", reasons: []string{rConfirmed, rPolicy}, calls: 1},

		// alg (rule 3).
		{category: "alg", name: "alg none, empty signature", payload: func(t *testing.T, h *hostile) []byte {
			return []byte(roamjws.Prefix + b64(jsonObj("alg", q("none"), "kid", q(h.zj.kid), "typ", q(roamjws.TypCode))) + "." + b64(claimsText(t, mkClaims(t))) + ".")
		}, want: "REJECT", reasons: rej(reason.AlgNotAllowed)},
		{category: "alg", name: "alg none over a real ES256 signature", payload: header(func(h *hostile) string {
			return jsonObj("alg", q("none"), "kid", q(h.zj.kid), "typ", q(roamjws.TypCode))
		}), want: "REJECT", reasons: rej(reason.AlgNotAllowed)},
		{category: "alg", name: "HS256 keyed with the issuer's public JWK", payload: func(t *testing.T, h *hostile) []byte {
			in := b64(jsonObj("alg", q("HS256"), "kid", q(h.zj.kid), "typ", q(roamjws.TypCode))) + "." + b64(claimsText(t, mkClaims(t)))
			m := hmac.New(sha256.New, h.zj.pub)
			m.Write([]byte(in))
			return []byte(roamjws.Prefix + in + "." + enc(m.Sum(nil)))
		}, want: "REJECT", reasons: rej(reason.AlgNotAllowed)},
		{category: "alg", name: "EdDSA header on the registered ES256 key, Ed25519 signature", payload: func(t *testing.T, h *hostile) []byte {
			ed := newForger(t, roamjws.EdDSA)
			return ed.forge(t, jsonObj("alg", q(roamjws.EdDSA), "kid", q(h.zj.kid), "typ", q(roamjws.TypCode)), claimsText(t, mkClaims(t)))
		}, want: "REJECT", reasons: rej(reason.AlgMismatch)},
		{category: "alg", name: "ES256 header on 110000's EdDSA key", payload: func(t *testing.T, h *hostile) []byte {
			return h.zj.forge(t, jsonObj("alg", q(roamjws.ES256), "kid", q(h.keys[beijingJ].signer.Kid()), "typ", q(roamjws.TypCode)), claimsText(t, mkClaims(t, iss(beijingJ))))
		}, want: "REJECT", reasons: rej(reason.AlgMismatch)},
		{category: "alg", name: "ES384", payload: header(func(h *hostile) string {
			return jsonObj("alg", q("ES384"), "kid", q(h.zj.kid), "typ", q(roamjws.TypCode))
		}), want: "REJECT", reasons: rej(reason.AlgNotAllowed)},

		// kid (rule 4).
		{category: "kid", name: "110000's key signs a 330000 code", payload: func(t *testing.T, h *hostile) []byte {
			return sign(t, h.keys[beijingJ].signer, mkClaims(t))
		}, want: "REJECT", reasons: rej(reason.KeyIssuerMismatch)},
		{category: "kid", name: "330000's key claims iss 410000 at a 410000 checkpoint", payload: func(t *testing.T, h *hostile) []byte {
			return sign(t, h.keys[zhejiangJ].signer, mkClaims(t, iss(henan)))
		}, want: "REJECT", reasons: rej(reason.KeyIssuerMismatch)},
		{category: "kid", name: "kid missing", payload: header(func(h *hostile) string {
			return jsonObj("alg", q(roamjws.ES256), "typ", q(roamjws.TypCode))
		}), want: "REJECT", reasons: rej(reason.KidMissing)},
		{category: "kid", name: "kid empty", payload: header(func(h *hostile) string {
			return jsonObj("alg", q(roamjws.ES256), "kid", q(""), "typ", q(roamjws.TypCode))
		}), want: "REJECT", reasons: rej(reason.KidMissing)},
		{category: "kid", name: "10 KB kid is over the input cap", payload: header(func(h *hostile) string {
			return jsonObj("alg", q(roamjws.ES256), "kid", q(strings.Repeat("A", 10<<10)), "typ", q(roamjws.TypCode))
		}), want: "REJECT", reasons: rej(reason.InputTooLarge)},
		{category: "kid", name: "2 KB kid under the input cap", payload: header(func(h *hostile) string {
			return jsonObj("alg", q(roamjws.ES256), "kid", q(strings.Repeat("A", 2<<10)), "typ", q(roamjws.TypCode))
		}), want: "REJECT", reasons: rej(reason.UnknownKey)},
		{category: "kid", name: "key no registry knows", payload: func(t *testing.T, h *hostile) []byte {
			return sign(t, h.rogue, mkClaims(t))
		}, want: "REJECT", reasons: rej(reason.UnknownKey)},

		// header (rule 5): never followed, always rejected.
		{category: "header", name: "jku", payload: header(func(h *hostile) string { return h.zj.header("jku", q("https://evil.example/jwks.json")) }),
			want: "REJECT", reasons: rej(reason.HeaderForbidden)},
		{category: "header", name: "x5u", payload: header(func(h *hostile) string { return h.zj.header("x5u", q("https://evil.example/cert.pem")) }),
			want: "REJECT", reasons: rej(reason.HeaderForbidden)},
		{category: "header", name: "embedded jwk of the signing key", payload: func(t *testing.T, h *hostile) []byte {
			evil := newForger(t, roamjws.ES256)
			return evil.forge(t, evil.header("jwk", string(evil.pub)), claimsText(t, mkClaims(t)))
		}, want: "REJECT", reasons: rej(reason.HeaderForbidden)},
		{category: "header", name: "crit", payload: header(func(h *hostile) string { return h.zj.header("crit", `["exp"]`) }),
			want: "REJECT", reasons: rej(reason.HeaderForbidden)},
		{category: "header", name: "b64 false with crit", payload: header(func(h *hostile) string { return h.zj.header("b64", "false", "crit", `["b64"]`) }),
			want: "REJECT", reasons: rej(reason.HeaderForbidden)},
		{category: "header", name: "zip", payload: header(func(h *hostile) string { return h.zj.header("zip", q("DEF")) }),
			want: "REJECT", reasons: rej(reason.HeaderForbidden)},

		// serialisation (rule 2).
		{category: "serialisation", name: "JSON flattened", payload: func(t *testing.T, h *hostile) []byte {
			hd, p, s := jwsParts(t, h.valid)
			return []byte(jsonObj("payload", q(p), "protected", q(hd), "signature", q(s)))
		}, want: "REJECT", reasons: rej(reason.SerializationNotCompact)},
		{category: "serialisation", name: "JSON flattened with an unprotected header", payload: func(t *testing.T, h *hostile) []byte {
			hd, p, s := jwsParts(t, h.valid)
			return []byte(jsonObj("payload", q(p), "protected", q(hd), "header", jsonObj("kid", q(h.zj.kid)), "signature", q(s)))
		}, want: "REJECT", reasons: rej(reason.SerializationNotCompact)},
		{category: "serialisation", name: "JSON general with two signatures", payload: func(t *testing.T, h *hostile) []byte {
			c := claimsText(t, mkClaims(t))
			h1, p, s1 := jwsParts(t, h.signText(t, zhejiangJ, c, roamjws.TypCode))
			h2, _, s2 := jwsParts(t, h.signText(t, beijingJ, c, roamjws.TypCode))
			return []byte("\n " + jsonObj("payload", q(p), "signatures", "["+jsonObj("protected", q(h2), "signature", q(s2))+","+jsonObj("protected", q(h1), "signature", q(s1))+"]"))
		}, want: "REJECT", reasons: rej(reason.SerializationNotCompact)},
		{category: "serialisation", name: "roam: + JSON flattened", payload: func(t *testing.T, h *hostile) []byte {
			hd, p, s := jwsParts(t, h.valid)
			return []byte(roamjws.Prefix + jsonObj("protected", q(hd), "payload", q(p), "signature", q(s)))
		}, want: "REJECT", reasons: rej(reason.SerializationNotCompact)},
		{category: "serialisation", name: "compact with a second signature appended", payload: func(t *testing.T, h *hostile) []byte {
			_, _, s2 := jwsParts(t, h.signText(t, beijingJ, claimsText(t, h.validClaims), roamjws.TypCode))
			return append(bytes.Clone(h.valid), "."+s2...)
		}, want: "REJECT", reasons: rej(reason.SerializationNotCompact)},

		// signature (rule 6).
		{category: "signature", name: "DER-encoded ECDSA", payload: sigEdit(func(t *testing.T, h *hostile, in string, _ []byte) []byte {
			return derES256(t, h.zj.priv.(*ecdsa.PrivateKey), []byte(in))
		}), want: "REJECT", reasons: rej(reason.SignatureFormat)},
		{category: "signature", name: "ECDSA 63 bytes", payload: sigEdit(func(_ *testing.T, _ *hostile, _ string, s []byte) []byte { return s[:63] }),
			want: "REJECT", reasons: rej(reason.SignatureFormat)},
		{category: "signature", name: "ECDSA 65 bytes", payload: sigEdit(func(_ *testing.T, _ *hostile, _ string, s []byte) []byte { return append(s, 0) }),
			want: "REJECT", reasons: rej(reason.SignatureFormat)},
		{category: "signature", name: "EdDSA 65 bytes", payload: func(t *testing.T, h *hostile) []byte {
			tok := sign(t, h.keys[beijingJ].signer, mkClaims(t, iss(beijingJ)))
			hd, p, s := jwsParts(t, tok)
			return []byte(roamjws.Prefix + hd + "." + p + "." + s + "AA")
		}, want: "REJECT", reasons: rej(reason.SignatureFormat)},
		{category: "signature", name: "one signature bit flipped", payload: sigEdit(func(_ *testing.T, _ *hostile, _ string, s []byte) []byte { s[10] ^= 1; return s }),
			want: "REJECT", reasons: rej(reason.SignatureInvalid)},
		{category: "signature", name: "red edited to green after signing", payload: func(t *testing.T, h *hostile) []byte {
			p, c := h.world.code(color(adapters.Red))
			c.Color = adapters.Green
			return tamper(t, p, c)
		}, want: "REJECT", reasons: rej(reason.SignatureInvalid)},

		// encoding (rule 1): rejected, never trimmed.
		{category: "encoding", name: "UTF-8 BOM before roam:", payload: tokEdit(func(_ *testing.T, p []byte) []byte { return append([]byte("\xef\xbb\xbf"), p...) }),
			want: "REJECT", reasons: rej(reason.UnsupportedFormat)},
		{category: "encoding", name: "UTF-8 BOM after roam:", payload: tokEdit(func(_ *testing.T, p []byte) []byte {
			return append([]byte(roamjws.Prefix+"\xef\xbb\xbf"), p[len(roamjws.Prefix):]...)
		}), want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "encoding", name: "trailing space", payload: tokEdit(func(_ *testing.T, p []byte) []byte { return append(p, ' ') }),
			want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "encoding", name: "trailing CRLF", payload: tokEdit(func(_ *testing.T, p []byte) []byte { return append(p, '\r', '\n') }),
			want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "encoding", name: "standard base64 '+' in the signature", payload: tokEdit(func(_ *testing.T, p []byte) []byte {
			p[len(p)-3] = '+'
			return p
		}), want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "encoding", name: "standard base64 '/' in the payload", payload: tokEdit(func(_ *testing.T, p []byte) []byte {
			p[bytes.IndexByte(p, '.')+2] = '/'
			return p
		}), want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "encoding", name: "'=' padding on the signature", payload: tokEdit(func(_ *testing.T, p []byte) []byte { return append(p, "=="...) }),
			want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "encoding", name: "roam:roam: double prefix", payload: tokEdit(func(_ *testing.T, p []byte) []byte { return append([]byte(roamjws.Prefix), p...) }),
			want: "REJECT", reasons: rej(reason.Malformed)},

		// json (rule 9): strict JSON, known colours.
		{category: "json", name: "duplicate alg in header, none second", payload: header(func(h *hostile) string { return h.zj.header("alg", q("none")) }),
			want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "json", name: "duplicate kid in header", payload: header(func(h *hostile) string { return h.zj.header("kid", q(h.keys[beijingJ].signer.Kid())) }),
			want: "REJECT", reasons: rej(reason.Malformed)},
		{category: "json", name: "duplicate color in payload, red then green", payload: claimsEdit(func(t *testing.T, s string) string {
			return edit(t, s, `"color":"green"`, `"color":"red","color":"green"`)
		}), want: "REJECT", reasons: rej(reason.ClaimsInvalid)},
		{category: "json", name: "duplicate iss in payload", payload: claimsEdit(func(t *testing.T, s string) string {
			return edit(t, s, `"iss":"330000"`, `"iss":"330000","iss":"410000"`)
		}), want: "REJECT", reasons: rej(reason.ClaimsInvalid)},
		{category: "json", name: "unknown colour purple", payload: zj(color("purple")), want: "REJECT", reasons: rej(reason.ColorUnknown)},
		{category: "json", name: "colour GREEN in capitals", payload: zj(color("GREEN")), want: "REJECT", reasons: rej(reason.ColorUnknown)},
		{category: "json", name: "lone surrogate in disp", payload: claimsEdit(func(t *testing.T, s string) string {
			return edit(t, s, `"disp":"张*三"`, `"disp":"\ud800"`)
		}), want: "REJECT", reasons: rej(reason.ClaimsInvalid)},
		{category: "json", name: "claims nested 40 deep", payload: claimsEdit(func(t *testing.T, s string) string {
			return edit(t, s, `"ver":1`, `"ver":`+strings.Repeat("[", 40)+strings.Repeat("]", 40))
		}), want: "REJECT", reasons: rej(reason.ClaimsInvalid)},

		// time (rule 7).
		{category: "time", name: "iat in milliseconds", payload: zj(func(c *adapters.Claims) { c.IssuedAt *= 1000 }),
			want: "REJECT", reasons: rej(reason.TimestampsInvalid)},
		{category: "time", name: "nbf in milliseconds", payload: zj(func(c *adapters.Claims) { c.NotBefore *= 1000 }),
			want: "REJECT", reasons: rej(reason.TimestampsInvalid)},
		{category: "time", name: "iat, nbf and exp in milliseconds", payload: zj(func(c *adapters.Claims) {
			c.IssuedAt, c.NotBefore, c.Expires = c.IssuedAt*1000, c.NotBefore*1000, c.Expires*1000
		}),
			want: "REJECT", reasons: rej(reason.TimestampsInvalid)},
		{category: "time", name: "exp equals nbf", payload: zj(func(c *adapters.Claims) { c.NotBefore = c.Expires }),
			want: "REJECT", reasons: rej(reason.TimestampsInvalid)},
		{category: "time", name: "exp before nbf", payload: zj(func(c *adapters.Claims) { c.NotBefore, c.Expires = c.Expires, c.NotBefore }),
			want: "REJECT", reasons: rej(reason.TimestampsInvalid)},
		{category: "time", name: "backdated before the key was valid", payload: zj(func(c *adapters.Claims) {
			c.IssuedAt, c.NotBefore = keysFrom.Add(-time.Hour).Unix(), keysFrom.Add(-time.Hour).Unix()
		}), want: "REJECT", reasons: rej(reason.KeyNotValidAtIat)},
		{category: "time", name: "nbf beyond the skew", payload: zj(func(c *adapters.Claims) { c.NotBefore = now.Add(2 * time.Minute).Unix() }),
			want: "REJECT", reasons: rej(reason.NotYetValid)},

		// size (rules 1 and 10).
		{category: "size", name: "roam code over 4 KiB, validly signed", payload: zj(func(c *adapters.Claims) { c.Display = strings.Repeat("x", 3100) }),
			want: "REJECT", reasons: rej(reason.InputTooLarge)},
		fgn(hostileRow{category: "size", name: "DCC zlib bomb (5 MiB)", payload: func(t *testing.T, h *hostile) []byte {
			p := hc1(t, make([]byte, 5<<20))
			if len(p) > dcc.DefaultMaxInput {
				t.Fatalf("bomb is %d bytes, over the input cap", len(p))
			}
			return p
		}, want: "REJECT", reasons: rej(reason.DecompressLimit)}),
		fgn(hostileRow{category: "size", name: "SHC DEFLATE bomb (2 MiB), validly signed", payload: func(t *testing.T, h *hostile) []byte {
			p := h.shcCard(t, bytes.Repeat([]byte(" "), 2<<20))
			if len(p) > shc.DefaultMaxInput {
				t.Fatalf("bomb is %d bytes, over the input cap", len(p))
			}
			return p
		}, want: "REJECT", reasons: rej(reason.DecompressLimit)}),
		fgn(hostileRow{category: "size", name: "DCC over 8 KiB", payload: func(t *testing.T, h *hostile) []byte {
			junk := make([]byte, 6000)
			_, _ = rand.Read(junk)
			return []byte(dcc.Prefix + base45(junk))
		}, want: "REJECT", reasons: rej(reason.InputTooLarge)}),
		fgn(hostileRow{category: "size", name: "SHC over 8 KiB", payload: text(shc.Prefix + strings.Repeat("56", 4200)),
			want: "REJECT", reasons: rej(reason.InputTooLarge)}),
		{category: "size", name: "1 MiB of '{'", payload: text(strings.Repeat("{", 1<<20)), want: "REJECT", reasons: rej(reason.InputTooLarge)},

		// revocation (rule 8).
		{category: "revocation", name: "revoked key", setup: func(t *testing.T, h *hostile) {
			h.apply(&roamv1.SetKeyState{Kid: h.keys[zhejiangJ].signer.Kid(), State: roamv1.KeyState_KEY_STATE_REVOKED, At: now.Add(-time.Minute).Unix()})
		}, payload: func(t *testing.T, h *hostile) []byte { return h.valid }, want: "REJECT", reasons: rej(reason.KeyRevoked)},
		{category: "revocation", name: "revoked code id", setup: func(t *testing.T, h *hostile) {
			h.apply(&roamv1.RevokeCode{Jurisdiction: zhejiangJ, CodeId: h.validClaims.CodeID, At: now.Add(-time.Minute).Unix()})
		}, payload: func(t *testing.T, h *hostile) []byte { return h.valid }, want: "REJECT", reasons: rej(reason.CodeRevoked)},
		{category: "revocation", name: "retired key signs after retirement", setup: func(t *testing.T, h *hostile) {
			h.apply(&roamv1.SetKeyState{Kid: h.keys[zhejiangJ].signer.Kid(), State: roamv1.KeyState_KEY_STATE_RETIRED, At: now.Add(-2 * time.Hour).Unix()})
		}, payload: zj(), want: "REJECT", reasons: rej(reason.KeyNotValidAtIat)},
		{category: "revocation", name: "issuer's status assertion presented as a code", payload: func(t *testing.T, h *hostile) []byte {
			return []byte(roamjws.Prefix + must(h.keys[zhejiangJ].signer.Sign(h.validClaims, roamjws.TypStatus))(t))
		}, want: "REJECT", reasons: rej(reason.TypeInvalid)},

		// agreement: the code verifies, the agreement does not hold.
		{category: "agreement", name: "suspended", setup: func(t *testing.T, h *hostile) {
			h.apply(&roamv1.SuspendAgreement{Id: registry.AgreementID(henan, zhejiangJ), By: henan, Reason: "outbreak", At: now.Add(-time.Hour).Unix()})
		}, payload: func(t *testing.T, h *hostile) []byte { return h.valid }, want: "REJECT", reasons: []string{rSuspended}},
		{category: "agreement", name: "before effective_from", noAgreement: true, setup: agreement(window{from: now.Add(time.Hour)}),
			payload: func(t *testing.T, h *hostile) []byte { return h.valid }, want: "REJECT", reasons: []string{rNoAgr, rNotInForce}},
		{category: "agreement", name: "after effective_until", noAgreement: true, setup: agreement(window{henanFrom, now.Add(-time.Minute)}),
			payload: func(t *testing.T, h *hostile) []byte { return h.valid }, want: "REJECT", reasons: []string{rNoAgr, rNotInForce}},
		{category: "agreement", name: "terminated", setup: func(t *testing.T, h *hostile) {
			h.apply(&roamv1.TerminateAgreement{Id: registry.AgreementID(henan, zhejiangJ), By: zhejiangJ, Reason: "ended", At: now.Add(-time.Hour).Unix()})
		},
			payload: func(t *testing.T, h *hostile) []byte { return h.valid }, want: "REJECT", reasons: []string{rNoAgr}},
		{category: "agreement", name: "330000 code at 310000, which has no agreement", host: shanghai,
			payload: func(t *testing.T, h *hostile) []byte { return h.valid }, want: "REJECT", reasons: []string{rNoAgr}},

		// replay: the code verifies, the issuer's live status says otherwise.
		{category: "replay", name: "old green code after the issuer's newer red status",
			payload: func(t *testing.T, h *hostile) []byte { return h.valid },
			status: func(h *hostile) func(context.Context, string, string) (*adapters.Claims, error) {
				return h.signedStatus(adapters.Red, 2, roamjws.TypStatus)
			},
			want: "QUARANTINE_14D", reasons: []string{rChanged, rPolicy}, calls: 1},
		{category: "replay", name: "old green code, newer red, green-only agreement", setup: func(t *testing.T, h *hostile) {
			h.agree(shanghai, zhejiangJ, fromHenan, &roamv1.AgreementTerms{Colors: []string{"green"}, RequireLiveStatus: true})
		}, host: shanghai, checkpoint: "metro", payload: func(t *testing.T, h *hostile) []byte { return h.valid },
			status: func(h *hostile) func(context.Context, string, string) (*adapters.Claims, error) {
				return h.signedStatus(adapters.Red, 2, roamjws.TypStatus)
			},
			want: "REJECT", reasons: []string{rChanged, string(reason.ColorNotRecognised)}, calls: 1},
		{category: "replay", name: "status ver rolled back below the code's", payload: zj(ver(3)),
			status: func(h *hostile) func(context.Context, string, string) (*adapters.Claims, error) {
				return h.signedStatus(adapters.Green, 2, roamjws.TypStatus)
			},
			want: "UNDECIDED", reasons: []string{rInvalid, rPolicy}, calls: 1},
		{category: "replay", name: "a code replayed as the status assertion", payload: func(t *testing.T, h *hostile) []byte { return h.valid },
			status: func(h *hostile) func(context.Context, string, string) (*adapters.Claims, error) {
				return h.signedStatus(adapters.Green, 2, roamjws.TypCode)
			},
			want: "UNDECIDED", reasons: []string{rInvalid, rPolicy}, calls: 1},
		{category: "replay", name: "issuer disowns the code id", payload: func(t *testing.T, h *hostile) []byte { return h.valid },
			status: func(*hostile) func(context.Context, string, string) (*adapters.Claims, error) {
				return failing(reason.New(reason.CodeUnknown, "issuer 330000 has no record of this code id"))
			},
			want: "REJECT", reasons: rej(reason.CodeUnknown), calls: 1},

		// dcc: malformed HC1: at every layer.
		fgn(hostileRow{category: "dcc", name: "base45 lower case", payload: text("HC1:6bfor94r"), want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "base45 length 3n+1", payload: text("HC1:6BFOR94R7"), want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "base45 group over 65535", payload: text("HC1:::::::"), want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "not zlib", payload: func(t *testing.T, h *hostile) []byte {
			return []byte(dcc.Prefix + base45([]byte("this is not a zlib stream at all")))
		}, want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "zlib with trailing bytes", payload: func(t *testing.T, h *hostile) []byte {
			return []byte(dcc.Prefix + base45(append(zlibOf(t, marshalCOSE(t, h.coseSign1(t, h.dccClaims(t)))), "tail"...)))
		}, want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "not CBOR", payload: dccCOSE(func(*testing.T, *hostile) []byte { return []byte("hello, checkpoint") }),
			want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "CBOR array(4) that is not a COSE_Sign1", payload: dccCOSE(func(t *testing.T, _ *hostile) []byte {
			b, err := cbor.Marshal([]any{1, 2, 3, 4})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}), want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "signed COSE whose payload is not CBOR", payload: dccCOSE(func(t *testing.T, h *hostile) []byte {
			return marshalCOSE(t, h.coseSign1(t, []byte("{\"iss\":\"AT\"}")))
		}), want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "dcc", name: "DER-encoded ECDSA signature", payload: dccCOSE(func(t *testing.T, h *hostile) []byte {
			return h.derCOSE(t, h.coseSign1(t, h.dccClaims(t)))
		}), want: "REJECT", reasons: rej(reason.SignatureFormat)}),
		fgn(hostileRow{category: "dcc", name: "HMAC alg keyed with the DSC's public key", payload: dccCOSE(func(t *testing.T, h *hostile) []byte {
			return h.hmacCOSE(t, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.Algorithm(5), cose.HeaderLabelKeyID: dcc.Kid(h.at.DSC)})
		}), want: "REJECT", reasons: rej(reason.AlgNotAllowed)}),
		fgn(hostileRow{category: "dcc", name: "no alg in the protected header", payload: dccCOSE(func(t *testing.T, h *hostile) []byte {
			return h.hmacCOSE(t, cose.ProtectedHeader{cose.HeaderLabelKeyID: dcc.Kid(h.at.DSC)})
		}), want: "REJECT", reasons: rej(reason.AlgNotAllowed)}),
		fgn(hostileRow{category: "dcc", name: "signed by a DSC no registry knows", payload: func(t *testing.T, h *hostile) []byte {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			rogue, err := dcc.NewCertIssuer("AT", k, july1.AddDate(0, -1, 0), july1.AddDate(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			return []byte(must(rogue.Vaccination(july1, july1.AddDate(1, 0, 0), 2, 2, foreign.AddDate(0, 0, -30)))(t))
		}, want: "REJECT", reasons: rej(reason.UnknownKey)}),
		fgn(hostileRow{category: "dcc", name: "HC2: prefix", payload: text("HC2:6BFOR94R"), want: "REJECT", reasons: rej(reason.UnsupportedFormat)}),
		fgn(hostileRow{category: "dcc", name: "valid DCC with a trailing newline", payload: func(t *testing.T, h *hostile) []byte {
			return append(hc1(t, marshalCOSE(t, h.coseSign1(t, h.dccClaims(t)))), '\n')
		}, want: "REJECT", reasons: rej(reason.Malformed)}),

		// shc: malformed shc:/ at every layer.
		fgn(hostileRow{category: "shc", name: "odd digit count", payload: func(t *testing.T, h *hostile) []byte { p := h.shcValid(t); return p[:len(p)-1] },
			want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "shc", name: "digit pair 78", payload: text(shc.Prefix + "5678"), want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "shc", name: "multi-chunk", payload: text(shc.Prefix + "1/2/5678"), want: "REJECT", reasons: rej(reason.UnsupportedFormat)}),
		fgn(hostileRow{category: "shc", name: "JWS inside is not a JWS", payload: text(shc.JWSToNumeric("not.a.jws")), want: "REJECT", reasons: rej(reason.Malformed)}),
		fgn(hostileRow{category: "shc", name: "alg none inside", payload: shcHeader(func(_ *hostile, kid string) string {
			return jsonObj("zip", q("DEF"), "alg", q("none"), "kid", q(kid))
		}), want: "REJECT", reasons: rej(reason.AlgNotAllowed)}),
		fgn(hostileRow{category: "shc", name: "jku inside", payload: shcHeader(func(_ *hostile, kid string) string {
			return jsonObj("zip", q("DEF"), "alg", q("ES256"), "kid", q(kid), "jku", q("https://evil.example/jwks.json"))
		}), want: "REJECT", reasons: rej(reason.HeaderForbidden)}),
		fgn(hostileRow{category: "shc", name: "DER-encoded ECDSA signature", payload: func(t *testing.T, h *hostile) []byte {
			return h.shcWithHeader(t, jsonObj("zip", q("DEF"), "alg", q("ES256"), "kid", q(h.shcKid(t))), func(in string) []byte { return derES256(t, h.us.Key, []byte(in)) })
		}, want: "REJECT", reasons: rej(reason.SignatureFormat)}),
		fgn(hostileRow{category: "shc", name: "65-byte signature", payload: func(t *testing.T, h *hostile) []byte {
			return h.shcWithHeader(t, jsonObj("zip", q("DEF"), "alg", q("ES256"), "kid", q(h.shcKid(t))), func(in string) []byte { return append(rawES256(t, h.us.Key, []byte(in)), 0) })
		}, want: "REJECT", reasons: rej(reason.SignatureFormat)}),
		fgn(hostileRow{category: "shc", name: "signed by an unregistered key under the registered iss", payload: func(t *testing.T, h *hostile) []byte {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			card, err := (&shc.CardIssuer{Key: k, URL: shcURL}).VaccinationCard(foreign.AddDate(0, 0, -10), "207", foreign.AddDate(0, 0, -60), foreign.AddDate(0, 0, -30))
			if err != nil {
				t.Fatal(err)
			}
			return []byte(card)
		}, want: "REJECT", reasons: rej(reason.UnknownKey)}),
		fgn(hostileRow{category: "shc", name: "signed with another registered issuer's key", payload: func(t *testing.T, h *hostile) []byte {
			card, err := (&shc.CardIssuer{Key: h.us2.Key, URL: shcURL}).VaccinationCard(foreign.AddDate(0, 0, -10), "207", foreign.AddDate(0, 0, -60), foreign.AddDate(0, 0, -30))
			if err != nil {
				t.Fatal(err)
			}
			return []byte(card)
		}, want: "REJECT", reasons: rej(reason.KeyIssuerMismatch)}),
		fgn(hostileRow{category: "shc", name: "SHC:/ upper-case header", payload: func(t *testing.T, h *hostile) []byte {
			return append([]byte("SHC:/"), h.shcValid(t)[len(shc.Prefix):]...)
		}, want: "REJECT", reasons: rej(reason.UnsupportedFormat)}),

		// native: provincial codes are not portable.
		{category: "native", name: "Zhejiang native code", payload: text(zhejiang.FormatPayload("ZJ2020022800000001abcd")), want: "REJECT", reasons: rej(reason.UnsupportedFormat)},
		{category: "native", name: "Beijing native code", payload: text(beijing.FormatPayload("BJ2020030100000001abcd")), want: "REJECT", reasons: rej(reason.UnsupportedFormat)},
		{category: "native", name: "native prefix over the cap", payload: text(zhejiang.PayloadPrefix + strings.Repeat("a", 8192)), want: "REJECT", reasons: rej(reason.InputTooLarge)},

		// image: roamctl verify --image reads the QR (qrimage.Decode), then
		// the pipeline decides on the text.
		imageRow(hostileRow{name: "not an image", image: text("roam:not a picture"), want: "REJECT", reasons: rej(reason.Malformed)}),
		imageRow(hostileRow{name: "truncated PNG", image: func(t *testing.T, h *hostile) []byte { p := qrPNG(t, h.valid); return p[:len(p)/2] },
			want: "REJECT", reasons: rej(reason.Malformed)}),
		imageRow(hostileRow{name: "blank image", image: func(t *testing.T, _ *hostile) []byte { return pngOf(t, image.NewGray(image.Rect(0, 0, 300, 300))) },
			want: "REJECT", reasons: rej(reason.Malformed)}),
		imageRow(hostileRow{name: "huge dimensions (100000×100000)", image: func(*testing.T, *hostile) []byte { return pngHeaderOnly(100000, 100000) },
			want: "REJECT", reasons: rej(reason.InputTooLarge)}),
		imageRow(hostileRow{name: "file over 20 MB", image: func(t *testing.T, h *hostile) []byte {
			return append(qrPNG(t, h.valid), make([]byte, qrimage.MaxFileBytes)...)
		}, want: "REJECT", reasons: rej(reason.InputTooLarge)}),
		imageRow(hostileRow{name: "16000×1 strip", image: func(t *testing.T, _ *hostile) []byte { return pngOf(t, image.NewGray(image.Rect(0, 0, 16000, 1))) },
			want: "REJECT", reasons: rej(reason.Malformed)}),
		imageRow(hostileRow{name: "QR of an alg none code", image: func(t *testing.T, h *hostile) []byte {
			_, p, _ := jwsParts(t, h.valid)
			return qrPNG(t, []byte(roamjws.Prefix+b64(jsonObj("alg", q("none"), "kid", q(h.zj.kid), "typ", q(roamjws.TypCode)))+"."+p+"."))
		}, want: "REJECT", reasons: rej(reason.AlgNotAllowed)}),
		imageRow(fgn(hostileRow{name: "QR of an HC1: with bad zlib", image: func(t *testing.T, _ *hostile) []byte {
			return qrPNG(t, []byte(dcc.Prefix+base45([]byte("not zlib"))))
		}, want: "REJECT", reasons: rej(reason.Malformed)})),
	}

	if len(rows) < 45 {
		t.Fatalf("the hostile table has %d rows, want at least 45", len(rows))
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.category+"/"+r.name] {
			t.Fatalf("duplicate row %s/%s", r.category, r.name)
		}
		seen[r.category+"/"+r.name] = true
		if (r.payload == nil) == (r.image == nil) || len(r.reasons) == 0 || r.category == "" {
			t.Fatalf("row %q: give exactly one of payload and image, a category and reasons", r.name)
		}
	}

	for _, r := range rows {
		t.Run(r.category+"/"+r.name, func(t *testing.T) {
			h := newHostile(t, !r.noAgreement)
			if r.setup != nil {
				r.setup(t, h)
			}
			st := green1
			if r.status != nil {
				st = r.status
			}
			h.status.set(st(h))
			host, checkpoint, at := r.host, r.checkpoint, r.at
			if host == "" {
				host = henan
			}
			if checkpoint == "" {
				checkpoint = "intercity"
			}
			if at.IsZero() {
				at = now
			}
			var payload []byte
			if r.image != nil {
				text, err := qrimage.Decode(bytes.NewReader(r.image(t, h)))
				if err != nil {
					if got := []string{string(reason.Of(err))}; !slices.Equal(got, r.reasons) || r.want != "REJECT" {
						t.Fatalf("qrimage.Decode: %v (reason %v), want %s %v", err, got, r.want, r.reasons)
					}
					return
				}
				payload = []byte(text)
			} else {
				payload = r.payload(t, h)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			d, _, err := h.p.Verify(ctx, Request{Payload: payload, Host: host, Checkpoint: checkpoint, At: at})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			check(t, d, r.want, r.reasons...)
			if n := h.status.numCalls(); n != r.calls {
				t.Errorf("status queried %d times, want %d", n, r.calls)
			}
			for _, re := range d.GetReasons() {
				if re.GetMessage() == "" {
					t.Errorf("reason %s has no message", re.GetCode())
				}
			}
		})
	}
}

// must returns v, failing the test on err: must(f())(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
