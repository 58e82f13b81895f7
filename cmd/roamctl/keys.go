package main

import (
	"encoding/json"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/roam-federation/roam/adapters/roamjws"
)

func jsonMarshalKey(k jwk.Key) ([]byte, error) { return json.MarshalIndent(k, "", "  ") }

// parsePrivateToPublic accepts a private JWK file and returns its public JWK.
func parsePrivateToPublic(b []byte) ([]byte, error) {
	k, err := jwk.ParseKey(b)
	if err != nil {
		return nil, err
	}
	return roamjws.PublicJWK(k)
}

// parseAnyKey parses a public or private JWK.
func parseAnyKey(b []byte) (jwk.Key, error) { return jwk.ParseKey(b) }
