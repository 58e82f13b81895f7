package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Scheme and trust domain of node URI SANs.
const (
	trustDomain = "roam"
	scheme      = "spiffe"
)

// ErrNoIdentity means the peer presented no verified roam node certificate.
var ErrNoIdentity = errors.New("no verified node identity")

// ID is a node identity carried in a certificate.
type ID struct {
	Jurisdiction string
	NodeID       string
}

// URI is the identity's SAN: spiffe://roam/jurisdiction/<J>/node/<id>.
func (id ID) URI() *url.URL {
	return &url.URL{Scheme: scheme, Host: trustDomain, Path: "/jurisdiction/" + id.Jurisdiction + "/node/" + id.NodeID}
}

func (id ID) String() string { return id.URI().String() }

// FromCert reads the node identity from a certificate's URI SANs.
func FromCert(c *x509.Certificate) (ID, error) {
	for _, u := range c.URIs {
		if u.Scheme != scheme || u.Host != trustDomain {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) == 4 && parts[0] == "jurisdiction" && parts[2] == "node" && parts[1] != "" && parts[3] != "" {
			return ID{Jurisdiction: parts[1], NodeID: parts[3]}, nil
		}
	}
	return ID{}, fmt.Errorf("%w: certificate %q has no spiffe://roam/jurisdiction/…/node/… SAN", ErrNoIdentity, c.Subject.CommonName)
}

// Peer returns the verified node identity of a gRPC caller, or
// ErrNoIdentity when the call came without a verified client certificate.
func Peer(ctx context.Context) (ID, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ID{}, ErrNoIdentity
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return ID{}, ErrNoIdentity
	}
	return FromCert(ti.State.VerifiedChains[0][0])
}

// CA is a certificate authority for one federation.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte
}

// NewCA makes a self-signed ECDSA P-256 CA valid for validity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"roam"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// Issue makes a certificate (PEM) and private key (PEM) for a node id, for
// both server and client use, with hosts (IPs or DNS names) as SANs. An
// empty id.NodeID issues a client certificate without a node identity
// (operators' roamctl).
func (ca *CA) Issue(id ID, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cn := "roamctl"
	if id.NodeID != "" {
		cn = id.NodeID
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"roam"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if id.NodeID != "" {
		tmpl.URIs = []*url.URL{id.URI()}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

// Files names a node's PEM files.
type Files struct {
	CA   string `yaml:"ca"`   // the federation's CA certificate
	Cert string `yaml:"cert"` // this node's certificate
	Key  string `yaml:"key"`  // this node's private key
}

// WriteFiles writes ca, cert and key PEMs into dir as ca.pem, <name>.pem and
// <name>-key.pem (key 0600) and returns their paths.
func WriteFiles(dir, name string, ca, cert, key []byte) (Files, error) {
	f := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	for _, w := range []struct {
		path string
		b    []byte
		mode os.FileMode
	}{{f.CA, ca, 0o644}, {f.Cert, cert, 0o644}, {f.Key, key, 0o600}} {
		if err := os.WriteFile(w.path, w.b, w.mode); err != nil {
			return f, err
		}
	}
	return f, nil
}

// Load reads the files into a node certificate and a CA pool, and checks
// the certificate names id (a node may not start with another node's or
// jurisdiction's certificate).
func Load(f Files, id ID) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls.cert/tls.key: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", f.CA)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls.cert: %w", err)
	}
	if id.NodeID != "" {
		got, err := FromCert(leaf)
		if err != nil {
			return tls.Certificate{}, nil, fmt.Errorf("tls.cert: %w", err)
		}
		if got != id {
			return tls.Certificate{}, nil, fmt.Errorf("tls.cert: certificate is for %s, but this node is %s", got, id)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls.cert is not signed by tls.ca: %w", err)
	}
	return cert, pool, nil
}

// ServerConfig is the gRPC server side: it presents cert and verifies
// client certificates against pool when given. Node-to-node calls present
// one (the Peering handlers require it); operators' roamctl may call the
// other services without one.
func ServerConfig(cert tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS13}
}

// ClientConfig dials servers verified against pool, presenting cert when
// non-nil.
func ClientConfig(cert *tls.Certificate, pool *x509.CertPool) *tls.Config {
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// MutualConfig is Raft's: both sides present node certificates and verify
// each other's against pool; then allow (when not nil) decides whether that
// node may speak Raft with us at all — being signed by the CA is not
// enough, the node must be a member.
func MutualConfig(cert tls.Certificate, pool *x509.CertPool, allow func(ID) error) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) == 0 || len(chains[0]) == 0 {
				return ErrNoIdentity
			}
			id, err := FromCert(chains[0][0])
			if err != nil {
				return err
			}
			if allow != nil {
				return allow(id)
			}
			return nil
		},
	}
}

// KeyPEM is the CA's private key, PEM (keep it offline).
func (ca *CA) KeyPEM() ([]byte, error) {
	b, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b}), nil
}

// LoadCA reads a CA certificate and key written by roamctl tls ca.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(kblock.Bytes)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	return &CA{Cert: cert, Key: key, PEM: cb}, nil
}
