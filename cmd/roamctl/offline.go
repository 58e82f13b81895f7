package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/dcc"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/shc"
	"github.com/roam-federation/roam/federation/reason"
)

// offlineTrust is what a checkpoint without a node trusts (issue 4 §6):
// DSC certificates for EU DCCs, and JWKS files for roam codes and SMART
// Health Cards, each optionally bound to one issuer.
type offlineTrust struct {
	certs []*x509.Certificate
	roam  map[string][]*roamjws.PublicKey // issuer jurisdiction ("" = any) -> keys
	shc   *shc.TrustStore
}

func loadOfflineTrust(certFiles, jwksSpecs []string) (*offlineTrust, error) {
	t := &offlineTrust{roam: map[string][]*roamjws.PublicKey{}, shc: &shc.TrustStore{}}
	for _, f := range certFiles {
		c, err := readCert(f)
		if err != nil {
			return nil, fmt.Errorf("--trust-cert %s: %w", f, err)
		}
		t.certs = append(t.certs, c)
	}
	for _, spec := range jwksSpecs {
		issuer, file := "", spec
		if i := strings.Index(spec, "="); i > 0 && !strings.HasPrefix(spec, "/") && !strings.HasPrefix(spec, ".") {
			issuer, file = spec[:i], spec[i+1:]
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--trust-jwks %s: %w", spec, err)
		}
		switch {
		case strings.Contains(issuer, "://"):
			if err := t.shc.AddJWKS(issuer, b); err != nil {
				return nil, fmt.Errorf("--trust-jwks %s: %w", spec, err)
			}
		case issuer != "":
			keys, err := roamKeys(b, issuer)
			if err != nil {
				return nil, fmt.Errorf("--trust-jwks %s: %w", spec, err)
			}
			t.roam[issuer] = append(t.roam[issuer], keys...)
		default: // any issuer: roam keys, SHC keys, or both
			shcErr := t.shc.AddJWKS(shc.AnyIssuer, b)
			keys, err := roamKeys(b, "")
			if err != nil && shcErr != nil {
				return nil, fmt.Errorf("--trust-jwks %s: not a usable JWKS: %v", spec, err)
			}
			t.roam[""] = append(t.roam[""], keys...)
		}
	}
	return t, nil
}

// readCert reads a certificate as PEM, DER or base64 DER.
func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if p, _ := pem.Decode(b); p != nil {
		b = p.Bytes
	} else if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err == nil {
		b = d
	}
	return x509.ParseCertificate(b)
}

// roamKeys reads a JWK or JWKS of roam issuer keys (ES256 or EdDSA).
func roamKeys(b []byte, issuer string) ([]*roamjws.PublicKey, error) {
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, err
	}
	var out []*roamjws.PublicKey
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		pub, err := roamjws.PublicJWK(k)
		if err != nil {
			return nil, err
		}
		for _, alg := range []string{roamjws.ES256, roamjws.EdDSA} {
			if kid, raw, err := roamjws.ParsePublicJWK(pub, alg); err == nil {
				out = append(out, &roamjws.PublicKey{Kid: kid, Jurisdiction: issuer, Alg: alg, Raw: raw})
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ES256 or EdDSA key")
	}
	return out, nil
}

// DSCs implements dcc.TrustList.
func (t *offlineTrust) DSCs(kid []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range t.certs {
		if bytes.Equal(dcc.Kid(c), kid) {
			out = append(out, c)
		}
	}
	return out
}

// roamResolver binds the loaded roam keys for one claimed issuer: keys
// given with ISSUER= count only for it; keys given without one count for
// any issuer, so rule 4 (kid registered to iss) still holds.
type roamResolver struct {
	t   *offlineTrust
	iss string
}

func (r roamResolver) Key(kid string) (*roamjws.Key, bool) {
	for _, j := range []string{r.iss, ""} {
		for _, k := range r.t.roam[j] {
			if k.Kid == kid {
				pk := *k
				if j == "" {
					pk.Jurisdiction = r.iss
				}
				return &roamjws.Key{PublicKey: pk, State: roamjws.KeyActive, NotBefore: 1}, true
			}
		}
	}
	return nil, false
}

func (roamResolver) CodeRevoked(string, string) bool { return false }

// verifyOffline checks one code's signature and times with no node, and
// prints the outcome (VALID or REJECT) and the stages, coloured by st, or
// one JSON object when asJSON; agreement and policy are skipped.
func verifyOffline(out io.Writer, st styler, t *offlineTrust, payload []byte, at time.Time, asJSON, isSHC bool) error {
	var stages []adapters.Stage
	var issuer string
	var verr error
	switch {
	case bytes.HasPrefix(payload, []byte(dcc.Prefix)):
		r, err := (&dcc.Verifier{Trust: t}).Verify(payload, at)
		stages, issuer, verr = r.Stages, r.Issuer, err
		// As on a node, the DSC must belong to the country the
		// certificate claims: its subject C= here.
		if err == nil {
			bound := countryTrust{t, strings.TrimPrefix(r.Issuer, "XX-")}
			if _, err := (&dcc.Verifier{Trust: bound}).Verify(payload, at); err != nil {
				verr = reason.New(reason.KeyIssuerMismatch, "no trusted DSC of %s signed this certificate", r.Issuer)
			}
		}
	case isSHC || bytes.HasPrefix(payload, []byte("shc:/")) || compressedJWS(payload):
		r, err := (&shc.Verifier{Keys: t.shc}).Verify(payload, at)
		stages, issuer, verr = r.Stages, r.Issuer, err
	default:
		iss := roamjws.ClaimedIssuer(payload)
		_, err := (&roamjws.Verifier{Keys: roamResolver{t, iss}}).Verify(payload, at)
		issuer, verr = iss, err
		stages = []adapters.Stage{{Name: "signature", OK: err == nil, Reason: reasonCode(err)}}
	}
	outcome := "VALID"
	if verr != nil {
		outcome = "REJECT"
	}
	if asJSON {
		return jsonOut(out, map[string]any{"offline": true, "outcome": outcome, "issuer": issuer, "reason": reasonCode(verr),
			"stages": stages, "skipped": []string{"agreement", "policy"}})
	}
	fmt.Fprintf(out, "%s (offline: signature and times only; agreement and policy skipped)  issuer %s\n", st.paint(sgrBold+";"+stateSGR(outcome), outcome), st.clean(dash(issuer)))
	if verr != nil {
		fmt.Fprintf(out, "  %s\n", st.clean(verr.Error()))
	}
	tb := st.table(out, "STAGE", "OK", "REASON").colorBy(stateSGR, 1)
	for _, s := range stages {
		tb.row(s.Name, s.OK, s.Reason)
	}
	return tb.flush()
}

func reasonCode(err error) string {
	if err == nil {
		return ""
	}
	return string(reason.Of(err))
}

// smartHealthCardFile returns the credentials of a .smart-health-card file
// ({"verifiableCredential": [...]}), or nil when b is not one.
func smartHealthCardFile(b []byte) [][]byte {
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return nil
	}
	creds, err := shc.ParseFile(b)
	if err != nil || len(creds) == 0 {
		return nil
	}
	out := make([][]byte, len(creds))
	for i, c := range creds {
		out[i] = []byte(c)
	}
	return out
}

// compressedJWS reports a bare compact JWS whose header says "zip": a SMART
// Health Card (roam codes never compress).
func compressedJWS(p []byte) bool {
	i := bytes.IndexByte(p, '.')
	if i <= 0 {
		return false
	}
	h, err := base64.RawURLEncoding.DecodeString(string(p[:i]))
	return err == nil && bytes.Contains(h, []byte(`"zip"`))
}

// countryTrust narrows the trusted DSCs to one country (subject C=).
type countryTrust struct {
	t       *offlineTrust
	country string
}

func (c countryTrust) DSCs(kid []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, d := range c.t.DSCs(kid) {
		for _, cc := range d.Subject.Country {
			if strings.EqualFold(cc, c.country) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}
