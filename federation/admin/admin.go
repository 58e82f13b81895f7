package admin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// LoadSigner reads a private admin JWK (ES256 or EdDSA) from path.
func LoadSigner(path string) (*roamjws.Signer, jwk.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("admin key: %w", err)
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		return nil, nil, fmt.Errorf("admin key %s: %v", path, err)
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		return nil, nil, fmt.Errorf("admin key %s: %w (it must be a private ES256 or EdDSA JWK)", path, err)
	}
	return s, k, nil
}

// Sign signs msg as the given admins; the command expires ttl after now
// (wall-clock time: the leader checks expiry against its append time).
func Sign(msg proto.Message, ttl time.Duration, by ...*roamjws.Signer) (*roamv1.SignedCommand, error) {
	sc, _, err := registry.SignCommand(msg, time.Now(), ttl, by...)
	return sc, err
}

// Keyring holds the keys of every role: N national admins with quorum M,
// and one admin per jurisdiction.
type Keyring struct {
	National    []*roamjws.Signer
	nationalJWK []jwk.Key
	Quorum      uint32
	admins      map[string]*roamjws.Signer
	adminJWK    map[string]jwk.Key
}

// NewKeyring generates n national admin keys (quorum m) and one admin key
// for each jurisdiction.
func NewKeyring(n int, m uint32, jurisdictions ...string) (*Keyring, error) {
	if n < 1 || m < 1 || int(m) > n {
		return nil, fmt.Errorf("quorum %d of %d national admins is impossible", m, n)
	}
	kr := &Keyring{Quorum: m, admins: map[string]*roamjws.Signer{}, adminJWK: map[string]jwk.Key{}}
	for i := 0; i < n; i++ {
		k, s, err := newKey()
		if err != nil {
			return nil, err
		}
		kr.National, kr.nationalJWK = append(kr.National, s), append(kr.nationalJWK, k)
	}
	for _, j := range jurisdictions {
		if err := kr.AddJurisdiction(j); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

// AddJurisdiction generates an admin key for jurisdiction j.
func (kr *Keyring) AddJurisdiction(j string) error {
	k, s, err := newKey()
	if err != nil {
		return err
	}
	kr.admins[j], kr.adminJWK[j] = s, k
	return nil
}

func newKey() (jwk.Key, *roamjws.Signer, error) {
	k, err := roamjws.GenerateKey(roamjws.ES256)
	if err != nil {
		return nil, nil, err
	}
	s, err := roamjws.NewSigner(k)
	return k, s, err
}

// Admin is jurisdiction j's admin signer (nil if none).
func (kr *Keyring) Admin(j string) *roamjws.Signer { return kr.admins[j] }

// Nat is one national admin's signer.
func (kr *Keyring) Nat() *roamjws.Signer { return kr.National[0] }

// QuorumSigners are the first M national admins.
func (kr *Keyring) QuorumSigners() []*roamjws.Signer { return kr.National[:kr.Quorum] }

// Sign signs msg as by, valid for registry.DefaultCommandTTL.
func (kr *Keyring) Sign(msg proto.Message, by ...*roamjws.Signer) (*roamv1.SignedCommand, error) {
	return Sign(msg, registry.DefaultCommandTTL, by...)
}

// Genesis is the bootstrap command: the national keys and quorum, signed
// by a quorum of them.
func (kr *Keyring) Genesis() (*roamv1.SignedCommand, error) {
	g := &roamv1.Genesis{Quorum: kr.Quorum}
	for i, k := range kr.nationalJWK {
		ak, err := registry.AdminKeyOf(k, registry.National, fmt.Sprintf("national admin %d", i+1))
		if err != nil {
			return nil, err
		}
		g.NationalAdmins = append(g.NationalAdmins, ak)
	}
	return kr.Sign(g, kr.QuorumSigners()...)
}

// Onboard returns the national platform's commands that register
// jurisdiction j and its admin key.
func (kr *Keyring) Onboard(j, name, codeSystem string) ([]*roamv1.SignedCommand, error) {
	k, ok := kr.adminJWK[j]
	if !ok {
		return nil, fmt.Errorf("no admin key for %s in the keyring", j)
	}
	ak, err := registry.AdminKeyOf(k, j, name+" health commission")
	if err != nil {
		return nil, err
	}
	var out []*roamv1.SignedCommand
	for _, m := range []proto.Message{
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: j, Name: name, CodeSystem: codeSystem}},
		&roamv1.AddAdminKey{Key: ak},
	} {
		sc, err := kr.Sign(m, kr.Nat())
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// Export writes every private key of the keyring into dir (0700), one JWK
// file (0600) per role: national-1.jwk … and <jurisdiction>.jwk. The demo
// uses it so roamctl can act as any admin while the demo runs.
func (kr *Keyring) Export(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	write := func(name string, k jwk.Key) error {
		b, err := json.MarshalIndent(k, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	for i, k := range kr.nationalJWK {
		if err := write(fmt.Sprintf("national-%d.jwk", i+1), k); err != nil {
			return err
		}
	}
	for j, k := range kr.adminJWK {
		if err := write(j+".jwk", k); err != nil {
			return err
		}
	}
	return nil
}
