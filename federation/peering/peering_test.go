package peering

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/reason"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// issuerServer is the other side of the wire: a PeeringService that answers
// with a given assertion after a delay. Faking the remote node is fine here;
// the client, transport and verification are real.
type issuerServer struct {
	roamv1.UnimplementedPeeringServiceServer
	delay     time.Duration
	assertion func() string
}

func (s *issuerServer) QueryStatus(ctx context.Context, _ *roamv1.QueryStatusRequest) (*roamv1.QueryStatusResponse, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &roamv1.QueryStatusResponse{Assertion: s.assertion()}, nil
}

type members map[string][]*roamv1.Member

func (m members) MembersOf(j string) []*roamv1.Member { return m[j] }

type keys map[string]*roamjws.Key

func (k keys) Key(kid string) (*roamjws.Key, bool) { v, ok := k[kid]; return v, ok }
func (keys) CodeRevoked(string, string) bool       { return false }

func serve(t *testing.T, srv roamv1.PeeringServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	roamv1.RegisterPeeringServiceServer(g, srv)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func TestQueryStatus(t *testing.T) {
	now := time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST)
	clk := clock.NewSim(now)
	key, err := roamjws.GenerateKey(roamjws.ES256)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := roamjws.NewSigner(key)
	pub, _ := key.PublicKey()
	var raw any
	if err := pub.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	ks := keys{signer.Kid(): {PublicKey: roamjws.PublicKey{Kid: signer.Kid(), Jurisdiction: "330000", Alg: "ES256", Raw: raw}, State: roamjws.KeyActive, NotBefore: now.Add(-time.Hour).Unix()}}
	jti, _ := roamjws.NewCodeID()
	sign := func(iss, id string, typ string) func() string {
		return func() string {
			tok, err := signer.Sign(&adapters.Claims{Issuer: iss, CodeID: id, Color: adapters.Red, Version: 2, IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(time.Minute).Unix()}, typ)
			if err != nil {
				t.Error(err)
			}
			return tok
		}
	}
	tests := []struct {
		name      string
		srv       *issuerServer
		noMember  bool
		wantCode  reason.Code // "" = success
		wantColor adapters.Color
	}{
		{"fresh red assertion", &issuerServer{assertion: sign("330000", jti, roamjws.TypStatus)}, false, "", adapters.Red},
		{"issuer hangs past the deadline", &issuerServer{delay: 10 * time.Second, assertion: sign("330000", jti, roamjws.TypStatus)}, false, reason.IssuerUnreachable, ""},
		{"no node registered", nil, true, reason.IssuerUnreachable, ""},
		{"assertion for another code", &issuerServer{assertion: sign("330000", "AAAAAAAAAAAAAAAAAAAAAA", roamjws.TypStatus)}, false, reason.StatusInvalid, ""},
		{"a code instead of an assertion", &issuerServer{assertion: sign("330000", jti, roamjws.TypCode)}, false, reason.StatusInvalid, ""},
		{"garbage assertion", &issuerServer{assertion: func() string { return "not-a-jws" }}, false, reason.StatusInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := members{}
			if !tt.noMember {
				ms["330000"] = []*roamv1.Member{{NodeId: "330000", Jurisdiction: "330000", GrpcAddress: serve(t, tt.srv)}}
			}
			pool := NewPool()
			defer pool.Close()
			c := &StatusClient{Pool: pool, Members: ms, Verifier: &roamjws.Verifier{Keys: ks}, Clock: clk, Timeout: 200 * time.Millisecond}
			start := time.Now()
			got, err := c.QueryStatus(context.Background(), "330000", jti)
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("QueryStatus took %s with a 200ms deadline", el)
			}
			if tt.wantCode != "" {
				if reason.Of(err) != tt.wantCode {
					t.Fatalf("err = %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil || got.Color != tt.wantColor || got.Version != 2 {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

// TestQueryStatusRequiresIssuerIdentity: with RequireIdentity, an answer
// (a status or a NotFound) counts only from a node whose TLS certificate
// names the member asked and its issuer — not from whoever holds the
// member's address. The option once existed unused, and no test noticed.
func TestQueryStatusRequiresIssuerIdentity(t *testing.T) {
	now := time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST)
	key, _ := roamjws.GenerateKey(roamjws.ES256)
	signer, _ := roamjws.NewSigner(key)
	pub, _ := key.PublicKey()
	var raw any
	if err := pub.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	ks := keys{signer.Kid(): {PublicKey: roamjws.PublicKey{Kid: signer.Kid(), Jurisdiction: "330000", Alg: "ES256", Raw: raw}, State: roamjws.KeyActive, NotBefore: now.Add(-time.Hour).Unix()}}
	jti, _ := roamjws.NewCodeID()
	assertion := func() string {
		tok, _ := signer.Sign(&adapters.Claims{Issuer: "330000", CodeID: jti, Color: adapters.Green, Version: 1, IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(time.Minute).Unix()}, roamjws.TypStatus)
		return tok
	}
	ca, err := identity.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	tlsServe := func(id identity.ID) string {
		certPEM, keyPEM, err := ca.Issue(id, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g := grpc.NewServer(grpc.Creds(credentials.NewTLS(identity.ServerConfig(cert, pool))))
		roamv1.RegisterPeeringServiceServer(g, &issuerServer{assertion: assertion})
		go g.Serve(lis)
		t.Cleanup(g.Stop)
		return lis.Addr().String()
	}
	for _, tc := range []struct {
		name string
		id   identity.ID
		want reason.Code
	}{
		{"the member itself", identity.ID{Jurisdiction: "330000", NodeID: "330000"}, ""},
		{"a node of another jurisdiction at the member's address", identity.ID{Jurisdiction: "510000", NodeID: "330000"}, reason.StatusInvalid},
		{"another node of the same jurisdiction", identity.ID{Jurisdiction: "330000", NodeID: "330000-b"}, reason.StatusInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := members{"330000": {{NodeId: "330000", Jurisdiction: "330000", GrpcAddress: tlsServe(tc.id)}}}
			p := NewPool(grpc.WithTransportCredentials(credentials.NewTLS(identity.ClientConfig(nil, pool))))
			defer p.Close()
			c := &StatusClient{Pool: p, Members: ms, Verifier: &roamjws.Verifier{Keys: ks}, Clock: clock.NewSim(now), Timeout: 2 * time.Second, RequireIdentity: true}
			_, err := c.QueryStatus(context.Background(), "330000", jti)
			if tc.want == "" && err != nil {
				t.Fatalf("the member's own answer: %v", err)
			}
			if tc.want != "" && reason.Of(err) != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

// TestPoolMessageSizeCaps: the pool caps what it sends and what it accepts
// at MaxMessageBytes; either way the call fails at once with
// ResourceExhausted instead of hanging.
func TestPoolMessageSizeCaps(t *testing.T) {
	big := string(make([]byte, MaxMessageBytes+1))
	addr := serve(t, &issuerServer{assertion: func() string { return big }})
	p := NewPool()
	defer p.Close()
	conn, err := p.Conn(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  *roamv1.QueryStatusRequest
	}{
		{"request over the cap", &roamv1.QueryStatusRequest{Issuer: "330000", CodeId: big}},
		{"response over the cap", &roamv1.QueryStatusRequest{Issuer: "330000", CodeId: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, err := roamv1.NewPeeringServiceClient(conn).QueryStatus(ctx, tc.req)
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("err = %v, want ResourceExhausted", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}
