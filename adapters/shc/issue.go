package shc

import (
	"bytes"
	"compress/flate"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// CardIssuer signs SMART Health Cards with one ES256 key. Issuing cards is
// the foreign issuers' business; roam uses this only in its demo and tests
// to make cards with test keys.
type CardIssuer struct {
	Key *ecdsa.PrivateKey // P-256
	URL string            // the iss, https://…
}

// JWKS is the issuer's public JWK set (kid = RFC 7638 thumbprint), as it
// would publish it at URL + "/.well-known/jwks.json".
func (c *CardIssuer) JWKS() ([]byte, error) {
	kid, err := Thumbprint(&c.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	pt, err := c.Key.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding.EncodeToString
	return fmt.Appendf(nil, `{"keys":[{"kty":"EC","kid":%q,"use":"sig","alg":"ES256","crv":"P-256","x":%q,"y":%q}]}`,
		kid, enc(pt[1:33]), enc(pt[33:])), nil
}

// VaccinationCard issues a card for a completed vaccination series: one
// Immunization per dose date (CVX product code), issued at nbf. It returns
// the numeric QR form ("shc:/…").
func (c *CardIssuer) VaccinationCard(nbf time.Time, cvx string, doses ...time.Time) (string, error) {
	var entries []string
	entries = append(entries, `{"fullUrl":"resource:0","resource":{"resourceType":"Patient","name":[{"family":"Traveller"}],"birthDate":"1980-01-01"}}`)
	for i, d := range doses {
		entries = append(entries, fmt.Sprintf(`{"fullUrl":"resource:%d","resource":{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":%q}]},"patient":{"reference":"resource:0"},"occurrenceDateTime":%q}}`,
			i+1, cvx, d.Format("2006-01-02")))
	}
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`
	claims := fmt.Sprintf(`{"iss":%q,"nbf":%d,"vc":{"type":["https://smarthealth.cards#health-card","https://smarthealth.cards#immunization"],"credentialSubject":{"fhirVersion":"4.0.1","fhirBundle":%s}}}`,
		c.URL, nbf.Unix(), bundle)
	jws, err := c.Sign([]byte(claims))
	if err != nil {
		return "", err
	}
	return JWSToNumeric(jws), nil
}

// Sign compresses claims (raw DEFLATE) and signs them as a compact JWS with
// the SMART Health Cards header {"zip":"DEF","alg":"ES256","kid":…}.
func (c *CardIssuer) Sign(claims []byte) (string, error) {
	kid, err := Thumbprint(&c.Key.PublicKey)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(claims); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString
	in := enc([]byte(`{"zip":"DEF","alg":"ES256","kid":"`+kid+`"}`)) + "." + enc(buf.Bytes())
	h := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, c.Key, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + enc(sig), nil
}
