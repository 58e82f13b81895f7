package identity

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIssueAndLoad(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	zj := ID{Jurisdiction: "330000", NodeID: "330000"}
	certPEM, keyPEM, err := ca.Issue(zj, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	c, _ := x509.ParseCertificate(block.Bytes)
	if got, err := FromCert(c); err != nil || got != zj {
		t.Fatalf("FromCert = %v, %v", got, err)
	}
	dir := t.TempDir()
	f, err := WriteFiles(dir, "zj", ca.PEM, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(f, zj); err != nil {
		t.Fatalf("own certificate: %v", err)
	}
	// A node may not start with a certificate of another jurisdiction.
	if _, _, err := Load(f, ID{Jurisdiction: "410000", NodeID: "410000"}); err == nil || !strings.Contains(err.Error(), "certificate is for") {
		t.Fatalf("another jurisdiction's certificate: %v", err)
	}
	// Nor with one another CA signed.
	f2, err := WriteFiles(t.TempDir(), "zj", other.PEM, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(f2, zj); err == nil || !strings.Contains(err.Error(), "not signed by tls.ca") {
		t.Fatalf("foreign CA: %v", err)
	}
	// A certificate without a node SAN carries no identity.
	clientPEM, _, err := ca.Issue(ID{}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(clientPEM)
	c, _ = x509.ParseCertificate(block.Bytes)
	if _, err := FromCert(c); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("client cert: %v", err)
	}
}

// TestRaftStreamMutualTLS: two node certificates connect; a client without
// a certificate, or with one from another CA, cannot.
func TestRaftStreamMutualTLS(t *testing.T) {
	ca, _ := NewCA("test CA", time.Hour)
	other, _ := NewCA("rogue CA", time.Hour)
	load := func(a *CA, id ID) (tls.Certificate, *x509.CertPool) {
		c, k, err := a.Issue(id, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f, err := WriteFiles(t.TempDir(), "n", a.PEM, c, k)
		if err != nil {
			t.Fatal(err)
		}
		cert, pool, err := Load(f, id)
		if err != nil {
			t.Fatal(err)
		}
		return cert, pool
	}
	srvCert, pool := load(ca, ID{"330000", "330000"})
	accept := MutualConfig(srvCert, pool, func(id ID) error {
		if id.NodeID == "rogue" {
			return errors.New("not a member")
		}
		return nil
	})
	l, err := ListenTLS("127.0.0.1:0", nil, accept, accept)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_, _ = io.WriteString(c, "ok")
			c.Close()
		}
	}()
	dial := func(cfg *tls.Config) error {
		s := &StreamLayer{config: cfg}
		c, err := s.Dial(raft.ServerAddress("127.0.0.1:"+portOf(l.Addr())), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		b := make([]byte, 2)
		_, err = io.ReadFull(c, b)
		return err
	}
	hnCert, _ := load(ca, ID{"410000", "410000"})
	if err := dial(MutualConfig(hnCert, pool, nil)); err != nil {
		t.Fatalf("node to node: %v", err)
	}
	if err := dial(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}); err == nil {
		t.Fatal("a client without a certificate connected")
	}
	rogueCert, _ := load(other, ID{"410000", "410000"})
	if err := dial(MutualConfig(rogueCert, pool, nil)); err == nil {
		t.Fatal("a certificate from another CA connected")
	}
	// Signed by the CA but not a member: refused by allow.
	nonMember, _ := load(ca, ID{"120000", "rogue"})
	if err := dial(MutualConfig(nonMember, pool, nil)); err == nil {
		t.Fatal("a node that is not a member connected")
	}
	l.Close()
	<-done
}

func portOf(a net.Addr) string { _, p, _ := net.SplitHostPort(a.String()); return p }
