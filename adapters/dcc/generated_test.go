package dcc

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/roam-federation/roam/federation/reason"
)

// Test clock and CWT window for generated cases.
var (
	genIat = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	genExp = genIat.Add(365 * 24 * time.Hour)
	genAt  = genIat.Add(48 * time.Hour)
)

// EKU OIDs (HCERT §3.3.1) for generated DSCs.
var (
	oidTest    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 1}
	oidVacc    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 2}
	oidRecov   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 3}
	oidVaccAlt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 0, 1847, 2021, 1, 2}
)

// testKey is a signing key and its self-signed DSC.
type testKey struct {
	signer crypto.Signer
	alg    cose.Algorithm
	dsc    *x509.Certificate
}

func newDSC(t testing.TB, signer crypto.Signer, alg cose.Algorithm, ekus ...asn1.ObjectIdentifier) *testKey {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{Country: []string{"AT"}, CommonName: "roam test DSC"},
		NotBefore:          genIat.Add(-30 * 24 * time.Hour),
		NotAfter:           genExp.Add(30 * 24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: ekus,
	}
	if _, ok := signer.(*rsa.PrivateKey); ok {
		tmpl.SignatureAlgorithm = x509.SHA256WithRSAPSS
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{signer: signer, alg: alg, dsc: c}
}

// Keys are generated once per test binary: RSA generation is slow under -race.
var (
	keysOnce            sync.Once
	ecKey, ecKey2       *ecdsa.PrivateKey
	rsaKey              *rsa.PrivateKey
	ecKeyErr, rsaKeyErr error
)

func keys(t testing.TB) (*ecdsa.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		ecKey, ecKeyErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if ecKeyErr == nil {
			ecKey2, ecKeyErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		rsaKey, rsaKeyErr = rsa.GenerateKey(rand.Reader, 2048)
	})
	if ecKeyErr != nil || rsaKeyErr != nil {
		t.Fatal(ecKeyErr, rsaKeyErr)
	}
	return ecKey, ecKey2, rsaKey
}

func vaccDGC() map[string]any {
	return map[string]any{
		"ver": "1.3.0",
		"nam": map[string]any{"fn": "Musterfrau", "fnt": "MUSTERFRAU", "gn": "Gabriele", "gnt": "GABRIELE"},
		"dob": "1998-02-26",
		"v": []any{map[string]any{
			"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
			"dn": 2, "sd": 2, "dt": "2026-01-10", "co": "AT", "is": "Ministry of Health, Austria",
			"ci": "URN:UVCI:01:AT:ROAMTEST0001#X",
		}},
	}
}

func testDGC() map[string]any {
	return map[string]any{
		"ver": "1.3.0",
		"nam": map[string]any{"fn": "Musterfrau", "fnt": "MUSTERFRAU"},
		"dob": "1998",
		"t": []any{map[string]any{
			"tg": "840539006", "tt": "LP6464-4", "nm": "Roche LightCycler qPCR",
			"sc": "2026-03-02T10:30:00+01:00", "tr": "260415000", "tc": "Testing centre Vienna",
			"co": "AT", "is": "Ministry of Health, Austria", "ci": "URN:UVCI:01:AT:ROAMTEST0002#Y",
		}},
	}
}

func recoveryDGC() map[string]any {
	return map[string]any{
		"ver": "1.3.0",
		"nam": map[string]any{"fnt": "MUSTERFRAU"},
		"dob": "1998-02",
		"r": []any{map[string]any{
			"tg": "840539006", "fr": "2026-01-20", "co": "AT", "is": "Ministry of Health, Austria",
			"df": "2026-01-31", "du": "2026-07-19", "ci": "URN:UVCI:01:AT:ROAMTEST0003#Z",
		}},
	}
}

// cwt describes a generated certificate.
type cwt struct {
	key         *testKey
	alg         cose.Algorithm // 0: key.alg
	protKid     []byte         // nil: none; use kidOf for the DSC's
	unprotKid   []byte
	untagged    bool
	claims      map[int64]any // nil: iss AT, iat, exp, hcert
	dgc         map[string]any
	rawCOSE     func([]byte) []byte // post-process the COSE bytes
	rawCompress func([]byte) []byte // replaces zlib
}

func (c cwt) cose(t testing.TB) []byte {
	t.Helper()
	claims := c.claims
	if claims == nil {
		claims = map[int64]any{claimIss: "AT", claimIat: genIat.Unix(), claimExp: genExp.Unix()}
	}
	if _, ok := claims[claimHcert]; !ok && c.dgc != nil {
		claims[claimHcert] = map[int64]any{1: c.dgc}
	}
	payload, err := cbor.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	alg := c.alg
	if alg == 0 {
		alg = c.key.alg
	}
	signer, err := cose.NewSigner(alg, c.key.signer)
	if err != nil {
		t.Fatal(err)
	}
	h := cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: alg}, Unprotected: cose.UnprotectedHeader{}}
	if c.protKid != nil {
		h.Protected[cose.HeaderLabelKeyID] = c.protKid
	}
	if c.unprotKid != nil {
		h.Unprotected[cose.HeaderLabelKeyID] = c.unprotKid
	}
	var out []byte
	if c.untagged {
		out, err = cose.Sign1Untagged(rand.Reader, signer, h, payload, nil)
	} else {
		out, err = cose.Sign1(rand.Reader, signer, h, payload, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.rawCOSE != nil {
		out = c.rawCOSE(out)
	}
	return out
}

// qr returns the "HC1:" text for c.
func (c cwt) qr(t testing.TB) []byte {
	t.Helper()
	raw := c.cose(t)
	var z []byte
	if c.rawCompress != nil {
		z = c.rawCompress(raw)
	} else {
		z = zlibBytes(t, raw)
	}
	return append([]byte(Prefix), encodeBase45(z)...)
}

func zlibBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fixture is the trust used by the generated cases.
type fixture struct {
	es, es2, ps, esTestOnly, esVaccAlt *testKey
	trust                              trustMap
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ec, ec2, rk := keys(t)
	f := &fixture{
		es:         newDSC(t, ec, cose.AlgorithmES256, oidTest, oidVacc, oidRecov),
		es2:        newDSC(t, ec2, cose.AlgorithmES256),
		ps:         newDSC(t, rk, cose.AlgorithmPS256, oidTest, oidVacc, oidRecov),
		esTestOnly: newDSC(t, ec2, cose.AlgorithmES256, oidTest),
		esVaccAlt:  newDSC(t, ec2, cose.AlgorithmES256, oidVaccAlt),
	}
	f.trust = trustMap{}.add(f.es.dsc).add(f.ps.dsc).add(f.esTestOnly.dsc).add(f.esVaccAlt.dsc)
	return f
}

func TestGeneratedValid(t *testing.T) {
	f := newFixture(t)
	v := &Verifier{Trust: f.trust}

	t.Run("vaccination ES256", func(t *testing.T) {
		res, err := v.Verify(cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: vaccDGC()}.qr(t), genAt)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || len(res.Stages) != 8 {
			t.Fatalf("stages %+v", res.Stages)
		}
		if res.Issuer != "XX-AT" || !bytes.Equal(res.Kid, Kid(f.es.dsc)) || !res.IssuedAt.Equal(genIat) || !res.Expires.Equal(genExp) {
			t.Fatalf("result %+v", res)
		}
		want := Vaccination{DoseNumber: 2, TotalDoses: 2, Complete: true, Date: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), Product: "EU/1/20/1528"}
		if res.Facts.Kind != KindVaccination || res.Facts.Vaccination == nil || *res.Facts.Vaccination != want || res.Facts.Test != nil || res.Facts.Recovery != nil {
			t.Fatalf("facts %+v", res.Facts)
		}
	})
	t.Run("incomplete vaccination", func(t *testing.T) {
		d := vaccDGC()
		d["v"].([]any)[0].(map[string]any)["dn"] = 1
		res, err := v.Verify(cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: d}.qr(t), genAt)
		if err != nil || res.Facts.Vaccination.Complete {
			t.Fatalf("err %v facts %+v", err, res.Facts.Vaccination)
		}
	})
	t.Run("test PS256 untagged", func(t *testing.T) {
		res, err := v.Verify(cwt{key: f.ps, protKid: Kid(f.ps.dsc), dgc: testDGC(), untagged: true}.qr(t), genAt)
		if err != nil {
			t.Fatal(err)
		}
		want := Test{Type: "pcr", Result: "negative", SampleTime: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)}
		if res.Facts.Kind != KindTest || res.Facts.Test == nil || *res.Facts.Test != want {
			t.Fatalf("facts %+v", res.Facts.Test)
		}
	})
	t.Run("recovery in CWT tag 61", func(t *testing.T) {
		wrap := func(b []byte) []byte { return append([]byte{0xd8, 0x3d}, b...) }
		res, err := v.Verify(cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: recoveryDGC(), rawCOSE: wrap}.qr(t), genAt)
		if err != nil {
			t.Fatal(err)
		}
		want := Recovery{ValidFrom: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), ValidUntil: time.Date(2026, 7, 19, 0, 0, 0, 0, time.UTC)}
		if res.Facts.Kind != KindRecovery || *res.Facts.Recovery != want {
			t.Fatalf("facts %+v", res.Facts)
		}
	})
	t.Run("kid only in unprotected header", func(t *testing.T) {
		res, err := v.Verify(cwt{key: f.es, unprotKid: Kid(f.es.dsc), dgc: vaccDGC()}.qr(t), genAt)
		if err != nil || !bytes.Equal(res.Kid, Kid(f.es.dsc)) {
			t.Fatalf("err %v kid %x", err, res.Kid)
		}
	})
	t.Run("protected kid wins over unprotected", func(t *testing.T) {
		// The unprotected kid names another registered DSC; the protected
		// (right) one must be used.
		res, err := v.Verify(cwt{key: f.es, protKid: Kid(f.es.dsc), unprotKid: Kid(f.ps.dsc), dgc: vaccDGC()}.qr(t), genAt)
		if err != nil || !bytes.Equal(res.Kid, Kid(f.es.dsc)) {
			t.Fatalf("err %v kid %x", err, res.Kid)
		}
		// Reversed: a wrong protected kid is not rescued by a right
		// unprotected one.
		res, err = v.Verify(cwt{key: f.es, protKid: Kid(f.ps.dsc), unprotKid: Kid(f.es.dsc), dgc: vaccDGC()}.qr(t), genAt)
		wantCode(t, err, reason.SignatureInvalid)
		if !bytes.Equal(res.Kid, Kid(f.ps.dsc)) {
			t.Fatalf("kid %x, want the protected one", res.Kid)
		}
	})
	t.Run("kid collision tries every DSC", func(t *testing.T) {
		kid := Kid(f.es.dsc)
		for name, trust := range map[string]trustMap{
			"wrong first": trustMap{}.addAs(kid, f.es2.dsc).addAs(kid, f.ps.dsc).add(f.es.dsc),
			"wrong last":  trustMap{}.add(f.es.dsc).addAs(kid, f.es2.dsc),
		} {
			res, err := (&Verifier{Trust: trust}).Verify(cwt{key: f.es, protKid: kid, dgc: vaccDGC()}.qr(t), genAt)
			if err != nil || !res.OK() {
				t.Fatalf("%s: %v", name, err)
			}
		}
		_, err := (&Verifier{Trust: trustMap{}.addAs(kid, f.es2.dsc)}).Verify(cwt{key: f.es, protKid: kid, dgc: vaccDGC()}.qr(t), genAt)
		wantCode(t, err, reason.SignatureInvalid)
	})
	t.Run("EKU variant 1.3.6.1.4.1.0.1847 allows vaccination", func(t *testing.T) {
		if _, err := v.Verify(cwt{key: f.esVaccAlt, protKid: Kid(f.esVaccAlt.dsc), dgc: vaccDGC()}.qr(t), genAt); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DSC without DCC EKUs allows every type", func(t *testing.T) {
		tr := trustMap{}.add(f.es2.dsc)
		for _, d := range []map[string]any{vaccDGC(), testDGC(), recoveryDGC()} {
			if _, err := (&Verifier{Trust: tr}).Verify(cwt{key: f.es2, protKid: Kid(f.es2.dsc), dgc: d}.qr(t), genAt); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("boundaries iat and exp inclusive", func(t *testing.T) {
		q := cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: vaccDGC()}.qr(t)
		for _, at := range []time.Time{genIat, genExp} {
			if _, err := v.Verify(q, at); err != nil {
				t.Fatalf("at %s: %v", at, err)
			}
		}
	})
}

func TestGeneratedRejections(t *testing.T) {
	f := newFixture(t)
	v := &Verifier{Trust: f.trust}
	good := cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: vaccDGC()}

	bomb := func(t testing.TB) []byte {
		z := zlibBytes(t, make([]byte, 1<<20))
		if len(z) > 2048 {
			t.Fatalf("bomb compresses to %d bytes", len(z))
		}
		return append([]byte(Prefix), encodeBase45(z)...)
	}
	with := func(c cwt, mod func(*cwt)) cwt { mod(&c); return c }
	noDob := vaccDGC()
	delete(noDob, "dob")
	twoDoses := vaccDGC()
	twoDoses["v"] = append(twoDoses["v"].([]any), twoDoses["v"].([]any)[0])
	badDate := vaccDGC()
	badDate["v"].([]any)[0].(map[string]any)["dt"] = "2026-13-45"
	bothGroups := vaccDGC()
	bothGroups["t"] = testDGC()["t"]
	bytesField := vaccDGC()
	bytesField["nam"] = []byte("not json")

	cases := []struct {
		name  string
		qr    func(t testing.TB) []byte
		at    time.Time
		stage string
		code  reason.Code
	}{
		{"oversized input", func(testing.TB) []byte { return append([]byte(Prefix), bytes.Repeat([]byte("A"), DefaultMaxInput)...) }, genAt, StageUnprefix, reason.InputTooLarge},
		{"empty", func(testing.TB) []byte { return nil }, genAt, StageUnprefix, reason.Malformed},
		{"HC2 prefix", func(t testing.TB) []byte { return append([]byte("HC2:"), good.qr(t)[4:]...) }, genAt, StageUnprefix, reason.UnsupportedFormat},
		{"no prefix", func(t testing.TB) []byte { return good.qr(t)[4:] }, genAt, StageUnprefix, reason.UnsupportedFormat},
		{"lower-case prefix", func(t testing.TB) []byte { return append([]byte("hc1:"), good.qr(t)[4:]...) }, genAt, StageUnprefix, reason.UnsupportedFormat},
		{"garbage base45 char", func(testing.TB) []byte { return []byte("HC1:abc") }, genAt, StageBase45, reason.Malformed},
		{"base45 trailing newline", func(t testing.TB) []byte { return append(good.qr(t), '\n') }, genAt, StageBase45, reason.Malformed},
		{"base45 overflow", func(testing.TB) []byte { return []byte("HC1::::") }, genAt, StageBase45, reason.Malformed},
		{"base45 bad length", func(testing.TB) []byte { return []byte("HC1:ABCD") }, genAt, StageBase45, reason.Malformed},
		{"empty body", func(testing.TB) []byte { return []byte("HC1:") }, genAt, StageBase45, reason.Malformed},
		{"not zlib", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.rawCompress = func(b []byte) []byte { return b } }).qr(t)
		}, genAt, StageDecompress, reason.Malformed},
		{"zlib bad checksum", func(t testing.TB) []byte {
			return with(good, func(c *cwt) {
				c.rawCompress = func(b []byte) []byte { z := zlibBytes(t, b); z[len(z)-1] ^= 1; return z }
			}).qr(t)
		}, genAt, StageDecompress, reason.Malformed},
		{"zlib trailing bytes", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.rawCompress = func(b []byte) []byte { return append(zlibBytes(t, b), 0) } }).qr(t)
		}, genAt, StageDecompress, reason.Malformed},
		{"bomb", bomb, genAt, StageDecompress, reason.DecompressLimit},
		{"truncated COSE", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.rawCOSE = func(b []byte) []byte { return b[:len(b)-10] } }).qr(t)
		}, genAt, StageDecode, reason.Malformed},
		{"COSE trailing bytes", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.rawCOSE = func(b []byte) []byte { return append(b, 0) } }).qr(t)
		}, genAt, StageDecode, reason.Malformed},
		{"not COSE", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.rawCOSE = func([]byte) []byte { return []byte{0xa0} } }).qr(t)
		}, genAt, StageDecode, reason.Malformed},
		{"no hcert claim", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.dgc = nil }).qr(t)
		}, genAt, StageDecode, reason.Malformed},
		{"iss missing", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.claims = map[int64]any{claimIat: genIat.Unix(), claimExp: genExp.Unix()} }).qr(t)
		}, genAt, StageDecode, reason.ClaimsInvalid},
		{"iss not alpha-2", func(t testing.TB) []byte {
			return with(good, func(c *cwt) {
				c.claims = map[int64]any{claimIss: "AUT", claimIat: genIat.Unix(), claimExp: genExp.Unix()}
			}).qr(t)
		}, genAt, StageDecode, reason.ClaimsInvalid},
		{"exp not a number", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.claims = map[int64]any{claimIss: "AT", claimIat: genIat.Unix(), claimExp: "soon"} }).qr(t)
		}, genAt, StageDecode, reason.ClaimsInvalid},
		{"unknown kid", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.protKid = []byte("8 bytes!") }).qr(t)
		}, genAt, StageSignature, reason.UnknownKey},
		{"no kid", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.protKid = nil }).qr(t)
		}, genAt, StageSignature, reason.UnknownKey},
		{"signed by another key", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.key = f.es2 }).qr(t)
		}, genAt, StageSignature, reason.SignatureInvalid},
		{"alg ES384 not allowed", func(t testing.TB) []byte {
			k384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return with(good, func(c *cwt) { c.key = &testKey{signer: k384, alg: cose.AlgorithmES384} }).qr(t)
		}, genAt, StageSignature, reason.AlgNotAllowed},
		{"PS256 header on an EC DSC", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.key = f.ps; c.protKid = Kid(f.es.dsc) }).qr(t)
		}, genAt, StageSignature, reason.SignatureInvalid},
		{"expired", func(t testing.TB) []byte { return good.qr(t) }, genExp.Add(time.Second), StageExpiry, reason.Expired},
		{"not yet valid", func(t testing.TB) []byte { return good.qr(t) }, genIat.Add(-time.Second), StageExpiry, reason.NotYetValid},
		{"exp missing", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.claims = map[int64]any{claimIss: "AT", claimIat: genIat.Unix()} }).qr(t)
		}, genAt, StageExpiry, reason.ClaimsInvalid},
		{"exp before iat", func(t testing.TB) []byte {
			return with(good, func(c *cwt) {
				c.claims = map[int64]any{claimIss: "AT", claimIat: genExp.Unix(), claimExp: genIat.Unix()}
			}).qr(t)
		}, genAt, StageExpiry, reason.ClaimsInvalid},
		{"EKU forbids vaccination", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.key = f.esTestOnly; c.protKid = Kid(f.esTestOnly.dsc) }).qr(t)
		}, genAt, StageKeyUsage, reason.KeyUsage},
		{"EKU-restricted DSC, v and t", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.key = f.esTestOnly; c.protKid = Kid(f.esTestOnly.dsc); c.dgc = bothGroups }).qr(t)
		}, genAt, StageKeyUsage, reason.KeyUsage},
		{"schema: dob missing", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.dgc = noDob }).qr(t)
		}, genAt, StageSchema, reason.Schema},
		{"schema: two v entries", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.dgc = twoDoses }).qr(t)
		}, genAt, StageSchema, reason.Schema},
		{"schema: bad date format", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.dgc = badDate }).qr(t)
		}, genAt, StageSchema, reason.Schema},
		{"schema: v and t", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.dgc = bothGroups }).qr(t)
		}, genAt, StageSchema, reason.Schema},
		{"schema: byte string", func(t testing.TB) []byte {
			return with(good, func(c *cwt) { c.dgc = bytesField }).qr(t)
		}, genAt, StageSchema, reason.Schema},
	}
	order := map[string]int{}
	for i, s := range allStages {
		order[s] = i
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(tc.qr(t), tc.at)
			wantCode(t, err, tc.code)
			if res == nil {
				t.Fatal("nil Result on error")
			}
			if len(res.Stages) != order[tc.stage]+1 {
				t.Fatalf("stages %+v, want failure at %s", res.Stages, tc.stage)
			}
			for i, st := range res.Stages {
				last := i == len(res.Stages)-1
				if st.Name != allStages[i] || st.OK == last || (last && st.Reason != string(tc.code)) || (!last && st.Reason != "") {
					t.Fatalf("stages %+v, want failure at %s with %s", res.Stages, tc.stage, tc.code)
				}
			}
			if !strings.HasPrefix(err.Error(), string(tc.code)+": "+tc.stage+": ") {
				t.Fatalf("error %q does not name code and stage", err)
			}
		})
	}
}

func TestCapsConfigurable(t *testing.T) {
	f := newFixture(t)
	q := cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: vaccDGC()}.qr(t)
	_, err := (&Verifier{Trust: f.trust, MaxInput: len(q) - 1}).Verify(q, genAt)
	wantCode(t, err, reason.InputTooLarge)
	if _, err := (&Verifier{Trust: f.trust, MaxInput: len(q)}).Verify(q, genAt); err != nil {
		t.Fatal(err)
	}
	_, err = (&Verifier{Trust: f.trust, MaxInflate: 64}).Verify(q, genAt)
	wantCode(t, err, reason.DecompressLimit)
	_, err = (&Verifier{}).Verify(q, genAt)
	wantCode(t, err, reason.UnknownKey)
}

func TestEmbeddedSchemaCompiles(t *testing.T) {
	if _, err := compiledSchema(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentVerify(t *testing.T) {
	f := newFixture(t)
	v := &Verifier{Trust: f.trust}
	qs := [][]byte{
		cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: vaccDGC()}.qr(t),
		cwt{key: f.ps, protKid: Kid(f.ps.dsc), dgc: testDGC()}.qr(t),
		cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: recoveryDGC()}.qr(t),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(qs[i%len(qs)], genAt); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestIssuerBinding: with Jurisdiction set, the DSC that verifies must be
// registered to the country the certificate claims (DESIGN.md §4 rule 4);
// a second DSC under the same kid that is registered to it still counts.
func TestIssuerBinding(t *testing.T) {
	f := newFixture(t)
	ec, _, _ := keys(t)
	deTwin := newDSC(t, ec, cose.AlgorithmES256, oidTest, oidVacc, oidRecov) // same key as f.es, another certificate
	owner := map[string]string{string(f.es.dsc.Raw): "XX-AT", string(deTwin.dsc.Raw): "XX-DE"}
	jurisdiction := func(der []byte) (string, bool) { j, ok := owner[string(der)]; return j, ok }
	kid := Kid(f.es.dsc)
	for _, tc := range []struct {
		name  string
		trust trustMap
		owner map[string]string
		want  reason.Code // "" means it verifies
	}{
		{"DSC registered to the claimed country", trustMap{}.add(f.es.dsc), nil, ""},
		{"DSC registered to another country", trustMap{}.add(f.es.dsc), map[string]string{string(f.es.dsc.Raw): "XX-DE"}, reason.KeyIssuerMismatch},
		{"DSC registered to no country", trustMap{}.add(f.es.dsc), map[string]string{}, reason.KeyIssuerMismatch},
		{"another country's twin first, the claimed country's second", trustMap{}.addAs(kid, deTwin.dsc).addAs(kid, f.es.dsc), nil, ""},
		{"only another country's twin", trustMap{}.addAs(kid, deTwin.dsc), nil, reason.KeyIssuerMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := jurisdiction
			if tc.owner != nil {
				j = func(der []byte) (string, bool) { o, ok := tc.owner[string(der)]; return o, ok }
			}
			v := &Verifier{Trust: tc.trust, Jurisdiction: j}
			res, err := v.Verify(cwt{key: f.es, protKid: kid, dgc: vaccDGC()}.qr(t), genAt)
			if tc.want == "" {
				if err != nil || !res.OK() {
					t.Fatalf("err %v stages %+v", err, res.Stages)
				}
				return
			}
			if reason.Of(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			last := res.Stages[len(res.Stages)-1]
			if last.Name != StageSignature || last.OK || last.Reason != string(tc.want) {
				t.Fatalf("last stage %+v, want signature failing with %s", last, tc.want)
			}
		})
	}
	// Without Jurisdiction (a bare trust list), any trusted DSC signs for any country.
	v := &Verifier{Trust: trustMap{}.addAs(kid, deTwin.dsc)}
	if _, err := v.Verify(cwt{key: f.es, protKid: kid, dgc: vaccDGC()}.qr(t), genAt); err != nil {
		t.Fatalf("bare trust list: %v", err)
	}
}

// BenchmarkAdapterDecode is the hot path a node runs for every EU DCC a
// checkpoint presents: base45, inflate, CBOR, COSE ES256 verify, issuer
// binding, expiry, key usage, schema.
func BenchmarkAdapterDecode(b *testing.B) {
	f := newFixture(b)
	qr := cwt{key: f.es, protKid: Kid(f.es.dsc), dgc: vaccDGC()}.qr(b)
	a := Adapter{Registry: registryOf{f.trust, func([]byte) (string, bool) { return "XX-AT", true }}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := a.DecodeStages(context.Background(), qr, genAt); err != nil {
			b.Fatal(err)
		}
	}
}

// registryOf is a Registry from a trust list and an owner function.
type registryOf struct {
	trustMap
	owner func([]byte) (string, bool)
}

func (r registryOf) DSCJurisdiction(der []byte) (string, bool) { return r.owner(der) }
