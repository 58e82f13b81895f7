package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/dcc"
	"github.com/roam-federation/roam/adapters/roamjws"
)

// runOut runs roamctl with args and returns stdout and the error text.
func runOut(t *testing.T, args ...string) (string, string) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		return out.String(), err.Error()
	}
	return out.String(), ""
}

// TestVerifyOffline: a checkpoint without a node checks signatures and
// times of roam codes, EU DCCs and SMART Health Cards (issue 4 §6); keys
// given for one issuer do not count for another.
func TestVerifyOffline(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A roam code of 330000.
	key, err := roamjws.GenerateKey(roamjws.ES256)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := roamjws.NewSigner(key)
	pub, _ := roamjws.PublicJWK(key)
	jwks := write("zj.jwks", []byte(`{"keys":[`+string(pub)+`]}`))
	now := time.Date(2020, 3, 2, 9, 0, 0, 0, time.UTC)
	jti, _ := roamjws.NewCodeID()
	tok, err := s.Sign(&adapters.Claims{Issuer: "330000", CodeID: jti, Subject: "s", Display: "张*", Color: adapters.Green, System: "zj",
		Version: 1, IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(time.Hour).Unix()}, roamjws.TypCode)
	if err != nil {
		t.Fatal(err)
	}
	code := roamjws.Prefix + tok
	at := now.Add(time.Minute).Format(time.RFC3339)

	shcDir := filepath.Join("..", "..", "adapters", "shc", "testdata", "vectors")
	dccCase := filepath.Join("..", "..", "adapters", "dcc", "testdata", "vectors", "AT-1.json")
	var c struct {
		Prefix  string `json:"PREFIX"`
		TestCtx struct {
			Cert  string `json:"CERTIFICATE"`
			Clock string `json:"VALIDATIONCLOCK"`
		} `json:"TESTCTX"`
	}
	b, err := os.ReadFile(dccCase)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	cert := write("at.b64", []byte(c.TestCtx.Cert))
	dccFile := write("at.txt", []byte(c.Prefix))

	// An Austrian DSC signing a certificate that claims Germany.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	july := time.Date(2021, 7, 1, 0, 0, 0, 0, time.UTC)
	atIs, err := dcc.NewCertIssuer("AT", ecKey, july.AddDate(0, -1, 0), july.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	atCert := write("at-dsc.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: atIs.DSC.Raw}))
	claimsDE, err := (&dcc.CertIssuer{Key: ecKey, DSC: atIs.DSC, Country: "DE"}).Vaccination(july, july.AddDate(1, 0, 0), 2, 2, july.AddDate(0, 0, -30))
	if err != nil {
		t.Fatal(err)
	}
	deFile := write("de.txt", []byte(claimsDE))
	garbage := write("garbage.json", []byte(`{"keys":"no"}`))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"DCC signed by another country's DSC", []string{"verify", "--offline", "--trust-cert", atCert, "--at", july.AddDate(0, 0, 5).Format(time.RFC3339), "--file", deFile}, "key_issuer_mismatch"},
		{"unusable trust file is an error", []string{"verify", "--offline", "--trust-jwks", garbage, "--at", at, code}, "not a usable JWKS"},
		{"unusable SHC trust file is an error", []string{"verify", "--offline", "--trust-jwks", "https://x.example=" + garbage, "--at", at, code}, "--trust-jwks"},
		{"roam code, key bound to its issuer", []string{"verify", "--offline", "--trust-jwks", "330000=" + jwks, "--at", at, code}, "VALID"},
		{"roam code, key for any issuer", []string{"verify", "--offline", "--trust-jwks", jwks, "--at", at, code}, "VALID"},
		{"roam code, key bound to another issuer", []string{"verify", "--offline", "--trust-jwks", "110000=" + jwks, "--at", at, code}, "unknown_key"},
		{"roam code, expired", []string{"verify", "--offline", "--trust-jwks", jwks, "--at", now.Add(2 * time.Hour).Format(time.RFC3339), code}, "expired"},
		{"EU DCC sample", []string{"verify", "--offline", "--trust-cert", cert, "--at", c.TestCtx.Clock, "--file", dccFile}, "VALID"},
		{"EU DCC without its DSC", []string{"verify", "--offline", "--at", c.TestCtx.Clock, "--file", dccFile}, "unknown_key"},
		{"SMART Health Card file", []string{"verify", "--offline", "--trust-jwks", "https://spec.smarthealth.cards/examples/issuer=" + filepath.Join(shcDir, "issuer-jwks.json"), "--at", "2021-09-01", "--file", filepath.Join(shcDir, "valid-example-00.jws")}, "VALID"},
		{"SMART Health Card, key for another issuer", []string{"verify", "--offline", "--trust-jwks", "https://other.example=" + filepath.Join(shcDir, "issuer-jwks.json"), "--at", "2021-09-01", "--file", filepath.Join(shcDir, "valid-example-00.jws")}, "REJECT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errText := runOut(t, tt.args...)
			if !strings.Contains(out+errText, tt.want) {
				t.Fatalf("output %q %q lacks %q", out, errText, tt.want)
			}
			if errText == "" && !strings.Contains(out, "offline") {
				t.Fatalf("output %q does not say it was offline", out)
			}
		})
	}
}
