package main

import (
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/node"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// authority holds the demo's admin keys: three national admins (any two
// act for the national platform) and one admin per province. In a real
// federation each key lives with its holder; the demo plays every role.
type authority struct {
	national    []*roamjws.Signer
	nationalJWK []jwk.Key
	quorum      uint32
	admins      map[string]*roamjws.Signer // jurisdiction -> its admin
	adminJWK    map[string]jwk.Key
}

func newAuthority(provinces []province) (*authority, error) {
	a := &authority{quorum: 2, admins: map[string]*roamjws.Signer{}, adminJWK: map[string]jwk.Key{}}
	for i := 0; i < 3; i++ {
		k, s, err := newAdminKey()
		if err != nil {
			return nil, err
		}
		a.national, a.nationalJWK = append(a.national, s), append(a.nationalJWK, k)
	}
	for _, p := range provinces {
		k, s, err := newAdminKey()
		if err != nil {
			return nil, err
		}
		a.admins[p.ID], a.adminJWK[p.ID] = s, k
	}
	return a, nil
}

func newAdminKey() (jwk.Key, *roamjws.Signer, error) {
	k, err := roamjws.GenerateKey(roamjws.ES256)
	if err != nil {
		return nil, nil, err
	}
	s, err := roamjws.NewSigner(k)
	return k, s, err
}

// sign signs msg as the given admins. Expiry is wall-clock time, because
// the leader checks it against its own append time, not the demo's 2020
// clock.
func (a *authority) sign(msg proto.Message, by ...*roamjws.Signer) (*roamv1.SignedCommand, error) {
	sc, _, err := registry.SignCommand(msg, time.Now(), registry.DefaultCommandTTL, by...)
	return sc, err
}

// nat is one national admin's signature; quorum acts use a.national[:2].
func (a *authority) nat() *roamjws.Signer { return a.national[0] }

// genesis is the bootstrap command: the three national keys, quorum 2,
// signed by two of them.
func (a *authority) genesis() (*roamv1.SignedCommand, error) {
	g := &roamv1.Genesis{Quorum: a.quorum}
	for i, k := range a.nationalJWK {
		ak, err := registry.AdminKeyOf(k, registry.National, fmt.Sprintf("national admin %d", i+1))
		if err != nil {
			return nil, err
		}
		g.NationalAdmins = append(g.NationalAdmins, ak)
	}
	return a.sign(g, a.national[:a.quorum]...)
}

// onboard returns the national platform's commands that onboard province p
// and its admin key.
func (a *authority) onboard(p province) ([]*roamv1.SignedCommand, error) {
	ak, err := registry.AdminKeyOf(a.adminJWK[p.ID], p.ID, p.Name+" health commission")
	if err != nil {
		return nil, err
	}
	var out []*roamv1.SignedCommand
	for _, m := range []proto.Message{
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: p.ID, Name: p.Name, CodeSystem: systemOf(p.ID)}},
		&roamv1.AddAdminKey{Key: ak},
	} {
		sc, err := a.sign(m, a.nat())
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// systemOf names a demo province's native code system.
func systemOf(id string) string { return node.SystemFor(id) }
