package peering

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/grpc"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/reason"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

const (
	statusSeedDir = "testdata/fuzz/FuzzQueryStatus"
	fuzzIssuer    = "330000"
	fuzzJTI       = "AAECAwQFBgcICQoLDA0ODw"
)

var fuzzNow = time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST)

// fuzzSigner is 330000's issuer key, fixed so that assertions signed in
// one process (the committed seeds) verify in another.
func fuzzSigner(tb testing.TB) (*roamjws.Signer, keys) {
	tb.Helper()
	d := sha256.Sum256([]byte("roam-fuzz-peering"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	k, err := jwk.FromRaw(priv)
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, jwa.ES256); err != nil {
		tb.Fatal(err)
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		tb.Fatal(err)
	}
	return s, keys{s.Kid(): {PublicKey: roamjws.PublicKey{Kid: s.Kid(), Jurisdiction: fuzzIssuer, Alg: roamjws.ES256, Raw: &priv.PublicKey},
		State: roamjws.KeyActive, NotBefore: fuzzNow.Add(-time.Hour).Unix()}}
}

// statusSeeds are the committed corpus of FuzzQueryStatus: a real
// assertion and ones QueryStatus must refuse.
func statusSeeds(tb testing.TB) map[string]string {
	tb.Helper()
	s, _ := fuzzSigner(tb)
	sign := func(iss, jti, typ string, c adapters.Color) string {
		tok, err := s.Sign(&adapters.Claims{Issuer: iss, CodeID: jti, Color: c, Version: 2,
			IssuedAt: fuzzNow.Unix(), NotBefore: fuzzNow.Unix(), Expires: fuzzNow.Add(time.Minute).Unix()}, typ)
		if err != nil {
			tb.Fatal(err)
		}
		return tok
	}
	valid := sign(fuzzIssuer, fuzzJTI, roamjws.TypStatus, adapters.Red)
	return map[string]string{
		"valid-red":       valid,
		"valid-green":     sign(fuzzIssuer, fuzzJTI, roamjws.TypStatus, adapters.Green),
		"other-code":      sign(fuzzIssuer, "AAAAAAAAAAAAAAAAAAAAAA", roamjws.TypStatus, adapters.Red),
		"other-issuer":    sign("410000", fuzzJTI, roamjws.TypStatus, adapters.Red),
		"code-not-status": sign(fuzzIssuer, fuzzJTI, roamjws.TypCode, adapters.Red),
		"valid-prefixed":  roamjws.Prefix + valid,
		"truncated":       valid[:len(valid)-4],
		"garbage":         "not-a-jws",
		"empty":           "",
		"invalid-utf8":    "\xff\xfe" + valid,
	}
}

// fuzzIssuerServer answers every QueryStatus with the current input.
type fuzzIssuerServer struct {
	roamv1.UnimplementedPeeringServiceServer
	mu        sync.Mutex
	assertion string
}

func (s *fuzzIssuerServer) QueryStatus(context.Context, *roamv1.QueryStatusRequest) (*roamv1.QueryStatusResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &roamv1.QueryStatusResponse{Assertion: s.assertion}, nil
}

func (s *fuzzIssuerServer) set(a string) {
	s.mu.Lock()
	s.assertion = a
	s.mu.Unlock()
}

// newFuzzStatusClient serves srv on loopback and returns a client of it
// holding 330000's fixed key.
func newFuzzStatusClient(tb testing.TB, srv *fuzzIssuerServer) *StatusClient {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := grpc.NewServer()
	roamv1.RegisterPeeringServiceServer(g, srv)
	go g.Serve(lis)
	pool := NewPool()
	tb.Cleanup(func() { _ = pool.Close(); g.Stop() })
	_, ks := fuzzSigner(tb)
	return &StatusClient{
		Pool:     pool,
		Members:  members{fuzzIssuer: {{NodeId: "n1", Jurisdiction: fuzzIssuer, GrpcAddress: lis.Addr().String()}}},
		Verifier: &roamjws.Verifier{Keys: ks}, Clock: clock.NewSim(fuzzNow), Timeout: 2 * time.Second,
	}
}

// FuzzQueryStatus: the status assertion an issuer node sends back is
// untrusted bytes. Whatever it answers, QueryStatus must not panic, must
// fail with issuer_unreachable or status_invalid (a *reason.Error), and
// must accept only an assertion that verifies on its own and is for the
// issuer and code id asked.
func FuzzQueryStatus(f *testing.F) {
	srv := &fuzzIssuerServer{}
	c := newFuzzStatusClient(f, srv)
	f.Fuzz(func(t *testing.T, assertion string) {
		srv.set(assertion)
		got, err := c.QueryStatus(context.Background(), fuzzIssuer, fuzzJTI)
		if err != nil {
			var re *reason.Error
			if !errors.As(err, &re) || (re.Code != reason.StatusInvalid && re.Code != reason.IssuerUnreachable) {
				t.Fatalf("error %v (%T) is not status_invalid or issuer_unreachable", err, err)
			}
			if got != nil {
				t.Fatalf("error %v with claims", err)
			}
			return
		}
		if got.Issuer != fuzzIssuer || got.CodeID != fuzzJTI {
			t.Fatalf("accepted an assertion for %s/%s", got.Issuer, got.CodeID)
		}
		if _, err := adapters.ParseColor(string(got.Color)); err != nil {
			t.Fatalf("accepted colour %q", got.Color)
		}
		if _, err := c.Verifier.VerifyStatus([]byte(assertion), fuzzNow); err != nil {
			t.Fatalf("accepted an assertion VerifyStatus refuses: %v", err)
		}
	})
}

// TestQueryStatusSeeds checks the committed corpus of FuzzQueryStatus holds
// statusSeeds' names, its valid assertions accepted, the others not.
// ROAM_FUZZ_SEEDS=1 rewrites it.
func TestQueryStatusSeeds(t *testing.T) {
	seeds := statusSeeds(t)
	if os.Getenv("ROAM_FUZZ_SEEDS") == "1" {
		if err := os.MkdirAll(statusSeedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, a := range seeds {
			body := "go test fuzz v1\nstring(" + strconv.Quote(a) + ")\n"
			if err := os.WriteFile(filepath.Join(statusSeedDir, "seed-"+name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv := &fuzzIssuerServer{}
	c := newFuzzStatusClient(t, srv)
	for name := range seeds {
		body, err := os.ReadFile(filepath.Join(statusSeedDir, "seed-"+name))
		if err != nil {
			t.Fatalf("%v (ROAM_FUZZ_SEEDS=1 go test -run TestQueryStatusSeeds writes it)", err)
		}
		got, err := strconv.Unquote(string(body[len("go test fuzz v1\nstring(") : len(body)-2]))
		if err != nil {
			t.Fatal(err)
		}
		srv.set(got)
		_, err = c.QueryStatus(context.Background(), fuzzIssuer, fuzzJTI)
		if valid := name[:5] == "valid"; valid != (err == nil) {
			t.Errorf("seed-%s: %v", name, err)
		}
	}
}
