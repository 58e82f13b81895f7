package dcc

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// CertIssuer issues EU DCCs with one ES256 document signer. Issuing
// certificates is the member states' business; roam uses this only in its
// demo and tests, with test keys.
type CertIssuer struct {
	Key     *ecdsa.PrivateKey // P-256
	DSC     *x509.Certificate
	Country string // ISO 3166 alpha-2, e.g. "AT"
}

// EKU OIDs for the three certificate types (DCC trust framework).
var (
	ekuTest        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 1}
	ekuVaccination = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 2}
	ekuRecovery    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 1847, 2021, 1, 3}
)

// NewCertIssuer makes a self-signed test DSC for country with key, valid
// between from and until, allowed to sign all three certificate types.
func NewCertIssuer(country string, key *ecdsa.PrivateKey, from, until time.Time) (*CertIssuer, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(from.Unix()),
		Subject:      pkix.Name{Country: []string{country}, CommonName: "roam demo DSC " + country},
		NotBefore:    from, NotAfter: until,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{ekuTest, ekuVaccination, ekuRecovery},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CertIssuer{Key: key, DSC: c, Country: country}, nil
}

// Vaccination issues a vaccination certificate (dose dn of sd, given on
// date) valid from iat to exp, and returns its QR text ("HC1:…").
func (c *CertIssuer) Vaccination(iat, exp time.Time, dn, sd int, date time.Time) (string, error) {
	dgc := map[string]any{
		"ver": "1.3.0",
		"nam": map[string]any{"fn": "Reisende", "fnt": "REISENDE", "gn": "Anna", "gnt": "ANNA"},
		"dob": "1985-04-12",
		"v": []any{map[string]any{
			"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
			"dn": dn, "sd": sd, "dt": date.Format("2006-01-02"), "co": c.Country, "is": "Ministry of Health",
			"ci": fmt.Sprintf("URN:UVCI:01:%s:ROAMDEMO%d#X", c.Country, iat.Unix()),
		}},
	}
	claims := map[int64]any{claimIss: c.Country, claimIat: iat.Unix(), claimExp: exp.Unix(), claimHcert: map[int64]any{1: dgc}}
	payload, err := cbor.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, c.Key)
	if err != nil {
		return "", err
	}
	h := cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelKeyID: Kid(c.DSC)}}
	msg, err := cose.Sign1(rand.Reader, signer, h, payload, nil)
	if err != nil {
		return "", err
	}
	var z bytes.Buffer
	w, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(msg); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return Prefix + string(encodeBase45(z.Bytes())), nil
}
